"""Report a training job's throughput so the platform can compute scaling efficiency.

The platform's recording rule ``mpijob:scaling_efficiency:ratio`` divides what
the job processes by what its workers would process alone (see
docs/observability.md). The job reports three gauges, labelled
``mpijob="<job name>"``:

- ``mpijob_training_samples_per_second``: samples per second the whole job processes now;
- ``mpijob_training_workers``: the workers (GPUs or ranks) it runs on;
- ``mpijob_training_baseline_samples_per_second``: what one worker processes alone.

Use it from the training script; only MPI rank 0 serves (other ranks' calls
do nothing), so the same code runs on every rank::

    from openshift_ai_sdk.training.metrics import ThroughputReporter

    with ThroughputReporter(baseline_samples_per_second=1200) as reporter:
        for batch in loader:
            train_step(batch)
            reporter.record(len(batch) * world_size)

The gauges are served in Prometheus' text format over HTTP at
``http://<address>:<port>/metrics`` (by default port 9464, on every interface
of the pod inside Kubernetes and on 127.0.0.1 elsewhere; ``MPIJOB_METRICS_ADDRESS``
or ``address=``/``port=`` change it), and/or written to a text file
(``textfile=``) for a node-exporter textfile collector or a sidecar. No
dependency: the format is written here.
"""

from __future__ import annotations

import collections
import math
import os
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Deque, Dict, Mapping, Optional, Tuple

SAMPLES_PER_SECOND = "mpijob_training_samples_per_second"
WORKERS = "mpijob_training_workers"
BASELINE_SAMPLES_PER_SECOND = "mpijob_training_baseline_samples_per_second"

DEFAULT_PORT = 9464
ADDRESS_ENV = "MPIJOB_METRICS_ADDRESS"
JOB_NAME_ENV = "MPIJOB_NAME"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_HELP = {
    SAMPLES_PER_SECOND: "Samples per second the whole MPIJob processes now.",
    WORKERS: "Workers (GPUs or ranks) the MPIJob runs on.",
    BASELINE_SAMPLES_PER_SECOND: "Samples per second one worker processes alone (a one-worker run of the same model and batch size).",
}

_RANK_ENV = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "RANK")
_SIZE_ENV = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "WORLD_SIZE")
_HOST = re.compile(r"^(?P<job>[a-z0-9]([-a-z0-9]*[a-z0-9])?)-(?:launcher(?:-[a-z0-9]+)?|worker-\d+)$")


def mpi_rank(environ: Optional[Mapping[str, str]] = None) -> Optional[int]:
    """This process's MPI rank from Open MPI, Intel MPI, MPICH or torchrun's
    environment, or ``None`` outside MPI."""
    env = os.environ if environ is None else environ
    for name in _RANK_ENV:
        if env.get(name, "").strip().isdigit():
            return int(env[name])
    return None


def world_size(environ: Optional[Mapping[str, str]] = None) -> Optional[int]:
    """The number of MPI ranks, or ``None`` outside MPI."""
    env = os.environ if environ is None else environ
    for name in _SIZE_ENV:
        if env.get(name, "").strip().isdigit():
            return int(env[name])
    return None


def job_name_from_host(hostname: str) -> Optional[str]:
    """The MPIJob's name from a launcher or worker pod's hostname
    (``bert-launcher``, ``bert-worker-3`` -> ``bert``)."""
    m = _HOST.match(hostname.split(".")[0])
    return m.group("job") if m else None


def default_address(
    environ: Optional[Mapping[str, str]] = None, hostname: Optional[str] = None
) -> Tuple[str, int]:
    """Where the metrics endpoint listens unless told: ``MPIJOB_METRICS_ADDRESS``
    (``host:port``, ``host`` or ``:port``), else every interface of the pod
    inside Kubernetes (so Prometheus can scrape it) and 127.0.0.1 elsewhere,
    on port 9464.

    Inside Kubernetes means ``KUBERNETES_SERVICE_HOST`` is set, or the host
    name is an MPIJob pod's (``<job>-worker-N``, ``<job>-launcher``): ranks
    that ``mpirun`` starts on workers through SSH inherit sshd's environment,
    not the container's, so the variable is missing exactly where rank 0 runs
    (found by running the training example for real)."""
    env = os.environ if environ is None else environ
    in_pod = bool(env.get("KUBERNETES_SERVICE_HOST")) or (
        hostname is not None and job_name_from_host(hostname) is not None
    )
    host = "0.0.0.0" if in_pod else "127.0.0.1"
    port = DEFAULT_PORT
    value = env.get(ADDRESS_ENV, "").strip()
    if value:
        h, sep, p = value.rpartition(":")
        if sep and p.isdigit():
            host, port = (h.strip("[]") or host), int(p)
        else:
            host = value
    return host, port


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def render(mpijob: str, samples_per_second: float, workers: Optional[int] = None, baseline: Optional[float] = None) -> str:
    """The gauges in Prometheus' text exposition format (version 0.0.4)."""
    label = f'{{mpijob="{_escape(mpijob)}"}}'
    out = []
    values: Dict[str, Optional[float]] = {
        SAMPLES_PER_SECOND: samples_per_second,
        WORKERS: None if workers is None else float(workers),
        BASELINE_SAMPLES_PER_SECOND: baseline,
    }
    for name, v in values.items():
        if v is None:
            continue
        out.append(f"# HELP {name} {_HELP[name]}\n# TYPE {name} gauge\n{name}{label} {_number(v)}\n")
    return "".join(out)


class ThroughputReporter:
    """Measures and exposes a training job's throughput (see the module docs).

    Args:
        mpijob: the MPIJob's name, the ``mpijob`` label; default: ``MPIJOB_NAME``,
            else read from the pod's hostname (``<job>-launcher``, ``<job>-worker-N``).
        workers: the workers the job runs on; default: the MPI world size.
        baseline_samples_per_second: what one worker processes alone, if known.
        address: the interface to listen on; default: see :func:`default_address`.
        port: the port; ``0`` picks a free one (see :attr:`url`).
        serve: serve over HTTP; ``False`` with ``textfile`` only writes the file.
        textfile: a path to (re)write with the gauges on every update, atomically.
        window_seconds: the span over which :meth:`record` computes the rate.
        all_ranks: serve on every rank, not only rank 0.
        clock: seconds, monotonic; tests pass a fake.
        environ: the environment to read (default: ``os.environ``).
        hostname: the pod's hostname (default: ``socket.gethostname()``).
    """

    def __init__(
        self,
        mpijob: Optional[str] = None,
        *,
        workers: Optional[int] = None,
        baseline_samples_per_second: Optional[float] = None,
        address: Optional[str] = None,
        port: Optional[int] = None,
        serve: bool = True,
        textfile: Optional[str] = None,
        window_seconds: float = 30.0,
        all_ranks: bool = False,
        clock: Callable[[], float] = time.monotonic,
        environ: Optional[Mapping[str, str]] = None,
        hostname: Optional[str] = None,
    ) -> None:
        env = os.environ if environ is None else environ
        name = mpijob or env.get(JOB_NAME_ENV) or job_name_from_host(hostname or socket.gethostname())
        if not name:
            raise ValueError(
                "mpijob: the job's name is needed for the mpijob label: pass mpijob=, or set MPIJOB_NAME "
                "(inside an MPIJob's pods it is read from the hostname)"
            )
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self.mpijob = name
        self.workers = workers if workers is not None else world_size(env)
        self.baseline = baseline_samples_per_second
        host, default_port = default_address(env, hostname or socket.gethostname())
        self.address = address or host
        self.port = default_port if port is None else port
        self.serve = serve
        self.textfile = textfile
        self.window = window_seconds
        rank = mpi_rank(env)
        self.active = all_ranks or rank is None or rank == 0
        self._clock = clock
        self._lock = threading.Lock()
        self._events: Deque[Tuple[float, float]] = collections.deque()
        self._explicit: Optional[float] = None
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # -- measuring

    def record(self, samples: float) -> None:
        """Count ``samples`` processed just now (e.g. a global batch). The rate is
        the samples recorded over the last ``window_seconds``."""
        if samples < 0:
            raise ValueError("samples must not be negative")
        now = self._clock()
        with self._lock:
            self._explicit = None
            self._events.append((now, float(samples)))
            self._trim(now)
        self._updated()

    def set_samples_per_second(self, value: float) -> None:
        """Set the throughput directly (when the script measures it itself)."""
        if value < 0:
            raise ValueError("samples per second must not be negative")
        with self._lock:
            self._explicit = float(value)
        self._updated()

    def set_workers(self, workers: int) -> None:
        """Set the number of workers (GPUs or ranks)."""
        self.workers = workers
        self._updated()

    def set_baseline(self, samples_per_second: float) -> None:
        """Set what one worker processes alone."""
        self.baseline = samples_per_second
        self._updated()

    def _trim(self, now: float) -> None:
        # Keep one event older than the window: it marks where the window's
        # first batch started.
        while len(self._events) > 1 and self._events[1][0] <= now - self.window:
            self._events.popleft()

    @property
    def samples_per_second(self) -> float:
        """The current throughput: set explicitly, or measured from :meth:`record`
        (0 until two records; it decays to 0 when records stop)."""
        now = self._clock()
        with self._lock:
            if self._explicit is not None:
                return self._explicit
            self._trim(now)
            if not self._events:
                return 0.0
            start = now - self.window
            if self._events[0][0] <= start:
                # Records span the whole window: what was recorded in it.
                return sum(n for t, n in self._events if t > start) / self.window
            if len(self._events) < 2:
                return 0.0
            # A younger run: from the first record (which ends a batch whose
            # start is unknown, so its samples are not counted) until now.
            span = now - self._events[0][0]
            return sum(n for _, n in list(self._events)[1:]) / span if span > 0 else 0.0

    # -- exposing

    def render(self) -> str:
        """The gauges in Prometheus' text format."""
        return render(self.mpijob, self.samples_per_second, self.workers, self.baseline)

    def _updated(self) -> None:
        if self.textfile and self.active:
            self.write_textfile()

    def write_textfile(self) -> None:
        """(Re)write ``textfile`` atomically with the current gauges."""
        if not self.textfile:
            raise ValueError("no textfile was configured")
        tmp = f"{self.textfile}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(self.render())
        os.replace(tmp, self.textfile)

    @property
    def url(self) -> Optional[str]:
        """The metrics URL once serving, else ``None``."""
        if self._server is None:
            return None
        host, port = self._server.server_address[:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else str(host)
        return f"http://{shown}:{port}/metrics"

    def start(self) -> "ThroughputReporter":
        """Start serving (rank 0 only, unless ``all_ranks``); returns ``self``."""
        if not self.active:
            return self
        if self.textfile:
            self.write_textfile()
        if not self.serve or self._server is not None:
            return self
        reporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                if self.path.split("?")[0] not in ("/metrics", "/metrics/"):
                    self.send_error(404, "only /metrics is served here")
                    return
                body = reporter.render().encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the http.server API
                return  # scrapes every few seconds would flood the training log

        server = ThreadingHTTPServer((self.address, self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="mpijob-metrics", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "ThroughputReporter":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
