"""Data-parallel training with MPI, small enough to run anywhere.

Every rank fits the same linear model to its own stream of synthetic samples
(numpy), and after each step the ranks average their gradients with one
``MPI_Allreduce`` (mpi4py): the pattern of Horovod and DeepSpeed, without a
model download or a GPU. Rank 0 reports the job's throughput through the SDK's
:class:`~openshift_ai_sdk.training.metrics.ThroughputReporter`, which the
platform's recording rules turn into scaling efficiency (docs/observability.md).

Run it in an MPIJob (see mpijob.yaml beside it)::

    mpirun -n 2 python3 /opt/mpi-training/train.py --seconds 120 --baseline 40000

``--baseline`` is what one worker processes alone: run the job once with one
worker and read ``mpijob_training_samples_per_second`` (or this script's last
line) to learn it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from mpi4py import MPI

from openshift_ai_sdk.training.metrics import ThroughputReporter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=2048, help="samples per rank and step")
    parser.add_argument("--features", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--seconds", type=float, default=30.0, help="train this long, then stop")
    parser.add_argument("--baseline", type=float, default=0.0, help="samples/s of one worker alone (0: unknown)")
    args = parser.parse_args()

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    truth = np.random.default_rng(0).normal(size=args.features)  # the same on every rank
    data = np.random.default_rng(1000 + rank)  # each rank its own shard
    weights = np.zeros(args.features)
    grad = np.empty_like(weights)

    reporter = ThroughputReporter(workers=size, baseline_samples_per_second=args.baseline or None, window_seconds=5)
    with reporter:
        start = last_print = time.monotonic()
        step = 0
        while time.monotonic() - start < args.seconds:
            x = data.normal(size=(args.batch_size, args.features))
            y = x @ truth + 0.01 * data.normal(size=args.batch_size)
            error = x @ weights - y
            np.matmul(x.T, error, out=grad)
            grad /= args.batch_size
            comm.Allreduce(MPI.IN_PLACE, grad, op=MPI.SUM)
            weights -= args.learning_rate * grad / size
            reporter.record(args.batch_size * size)
            step += 1
            if rank == 0 and time.monotonic() - last_print >= 5:
                last_print = time.monotonic()
                loss = float(np.mean(error**2))
                print(f"step {step} loss {loss:.6f} samples/s {reporter.samples_per_second:.0f}", flush=True)
        throughput = reporter.samples_per_second
    distance = float(np.linalg.norm(weights - truth))
    if rank == 0:
        print(f"done: {step} steps on {size} ranks, {throughput:.0f} samples/s, distance to the true weights {distance:.6f}", flush=True)


if __name__ == "__main__":
    main()
