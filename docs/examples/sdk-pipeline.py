#!/usr/bin/env python3
"""Run an MPIJob from a CI/CD pipeline with the Python SDK, and turn its outcome
into an exit code.

    python sdk-pipeline.py --file job.yaml [--name NAME] [-n NAMESPACE] [--timeout 3600] [--delete-after]

Steps: load the manifest (any kubeflow.org/v2beta1 MPIJob, e.g. an upstream
mpi-operator example); replace a finished job of the same name (a rerun of
the pipeline), refuse to touch a running one; submit; follow the job's phase
until it ends; print the workers and the launcher's log; optionally delete it.

Exit codes, the same as `kubectl odh mpijob` (docs/cli.md):
  0 succeeded, 1 the job failed (the controller's diagnosis and what to do are
  printed), 2 the job is invalid or can never fit its quota, 3 timeout,
  4 not found or not allowed.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone

from openshift_ai_sdk.training import (
    ForbiddenError,
    JobFailedError,
    JobStatus,
    LogsUnavailableError,
    MPIJob,
    NotFoundError,
    QuotaExceededError,
    TrainingClient,
    TrainingError,
    ValidationError,
    WaitTimeoutError,
)


def log(msg: str) -> None:
    now = datetime.now(timezone.utc).strftime("%H:%M:%S")
    print(f"[{now}] {msg}", flush=True)


def replace_finished(job: MPIJob) -> None:
    """A rerun replaces the finished job of the same name; a running one is left alone."""
    try:
        old = MPIJob.get(job.name, job.namespace, client=job.client)
    except NotFoundError:
        return
    st = old.status
    if st is None or not st.finished:
        raise ValidationError(
            f"mpijob {job.namespace}/{job.name} is still {st.phase if st else 'there'}: wait for it or delete it first",
            field_path="metadata.name",
        )
    log(f"replacing the finished mpijob {job.namespace}/{job.name} ({st.phase})")
    old.delete(wait=True)


def run(args: argparse.Namespace) -> int:
    client = TrainingClient(namespace=args.namespace)
    manifest = MPIJob.from_yaml(args.file, client=client).to_dict()
    if args.name:
        manifest["metadata"]["name"] = args.name
    manifest["metadata"].pop("namespace", None)  # the pipeline's namespace wins
    job = MPIJob.from_dict(manifest, client=client)

    replace_finished(job)
    job.create()
    log(f"mpijob {job.namespace}/{job.name} created")
    for w in job.warnings:
        log(f"warning: {w}")

    def on_phase(st: JobStatus) -> None:
        # Say why a job cannot start (no room for its pods, an image that cannot be pulled).
        blocked = st.reason in ("Unschedulable", "ImagePullFailed")
        detail = f" ({st.reason}: {st.message})" if blocked else ""
        log(f"phase: {st.phase}{detail}")

    started = time.monotonic()
    st = job.wait_for_completion(timeout=args.timeout, poll_interval=2, callback=on_phase)
    log(f"mpijob {job.namespace}/{job.name} Succeeded in {time.monotonic() - started:.0f} s")
    for w in job.get_worker_statuses():
        log(f"  worker {w.index}: {w.phase} on {w.node or '-'} (restarts {w.restarts})")
    try:
        print(job.get_logs(tail_lines=args.tail), end="")
    except LogsUnavailableError as err:
        log(f"launcher log unavailable: {err}")
    if args.delete_after:
        job.delete(wait=True)
        log(f"mpijob {job.namespace}/{job.name} deleted")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-f", "--file", required=True, help="the MPIJob manifest (YAML)")
    p.add_argument("--name", help="override the job's name (e.g. suffix a pipeline run id)")
    p.add_argument("-n", "--namespace", help="default: the pod's or the kubeconfig context's namespace")
    p.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the job (default 3600)")
    p.add_argument("--tail", type=int, default=100, help="launcher log lines to print (default 100)")
    p.add_argument("--delete-after", action="store_true", help="delete the job once it succeeded")
    args = p.parse_args()
    try:
        return run(args)
    except JobFailedError as err:
        print(f"error: {err}", file=sys.stderr)
        print(f"what to do: {err.remediation}", file=sys.stderr)
        for event in err.events:
            print(f"  event: {event}", file=sys.stderr)
        return 1
    except (ValidationError, QuotaExceededError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except WaitTimeoutError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except (NotFoundError, ForbiddenError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 4
    except TrainingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
