"""The MPIJob class: build, submit, watch, read logs, clean up."""

from __future__ import annotations

import copy
import os
import time
import warnings
from typing import Any, Callable, Dict, Iterator, List, Literal, Mapping, Optional, Sequence, Union, overload

import yaml

from .client import TrainingClient, core_path, default_client, list_items, mpijobs_path
from .errors import (
    AdmissionWarning,
    AlreadyExistsError,
    APIError,
    ClusterUnreachableError,
    JobFailedError,
    LogsUnavailableError,
    NotFoundError,
    TrainingError,
    ValidationError,
    WaitTimeoutError,
)
from .logs import LogStream, ResponseStream, follow_logs, read_logs
from .spec import (
    JobParams,
    ResourceRequirements,
    Toleration,
    Volume,
    build_manifest,
    check_manifest,
)
from .status import (
    JOB_NAME_LABEL,
    JOB_ROLE_LABEL,
    QUEUE_LABEL,
    REPLICA_INDEX_LABEL,
    JobStatus,
    WorkerStatus,
    sort_pods,
)

WorkerSelector = Union[int, Literal["all"], None]


class MPIJob:
    """A distributed MPI job (kubeflow.org/v2beta1 MPIJob): one launcher that
    runs ``mpirun`` and ``workers`` worker pods it reaches over SSH.

    Building one makes no request; :meth:`create` submits it. Mistakes the API
    server would refuse raise :class:`ValidationError` here, with the field path.

    Args:
        name: the job's name: lower-case letters, digits and ``-``, at most 50 characters.
        image: the container image of the launcher and the workers.
        command: the launcher's command, e.g. ``["mpirun", "-n", "8", "python", "train.py"]``
            or the same as one string (split like a shell would).
        workers: the number of worker pods.
        resources: what each worker asks for (``ResourceRequirements(gpu=1, cpu=8, memory="64Gi")``).
        slots_per_worker: MPI processes per worker; default: its GPUs, or 1.
        env: environment variables of the launcher and workers (``{"NCCL_DEBUG": "INFO"}``),
            or a list of Kubernetes ``EnvVar`` dicts/objects for ``valueFrom``.
        volumes: volumes mounted in the launcher and workers, e.g.
            ``[Volume.pvc("checkpoints", "/mnt/ckpt"), Volume.shared_memory()]``.
        node_selector: node labels the pods must run on.
        tolerations: taints the pods tolerate (``Toleration("nvidia.com/gpu", effect="NoSchedule")``,
            dicts or Kubernetes ``V1Toleration`` objects).
        affinity: a Kubernetes affinity (dict, camelCase, or ``V1Affinity``).
        queue: the Kueue LocalQueue to submit to (label ``kueue.x-k8s.io/queue-name``).
        mpi_implementation: ``"OpenMPI"`` (default), ``"Intel"`` or ``"MPICH"``.
        namespace: default: the namespace of the client (see :class:`TrainingClient`).
        worker_command: the workers' command; default: the image's (usually sshd).
        launcher_resources: what the launcher asks for; default: nothing.
        labels, annotations: of the MPIJob itself.
        pod_labels, pod_annotations: of every launcher and worker pod.
        clean_pod_policy: which pods are deleted when the job ends: ``"Running"``
            (default: workers still running), ``"All"`` or ``"None"``.
        backoff_limit: launcher retries before the job fails.
        active_deadline_seconds: the longest the job may run.
        ttl_seconds_after_finished: delete the job this long after it ended.
        run_launcher_as_worker: the launcher is a rank too (and gets no resources of its own).
        ssh_auth_mount_path: where SSH keys are mounted (``/home/mpiuser/.ssh`` for non-root images).
        service_account: the pods' service account.
        image_pull_secrets: names of Secrets to pull the image with.
        metrics_port: a container port named ``train-metrics`` for
            :class:`~openshift_ai_sdk.training.metrics.ThroughputReporter`.
        client: the cluster connection; default: :func:`default_client`.

    Attributes:
        warnings: what the API server warned about when the job was created
            (e.g. that it will queue until its ClusterQueue has room).
    """

    def __init__(
        self,
        name: str,
        image: str,
        command: Union[str, Sequence[str]],
        workers: int = 1,
        resources: Optional[ResourceRequirements] = None,
        slots_per_worker: Optional[int] = None,
        env: Union[Mapping[str, Any], Sequence[Any], None] = None,
        volumes: Sequence[Volume] = (),
        node_selector: Optional[Mapping[str, str]] = None,
        tolerations: Sequence[Union[Toleration, Mapping[str, Any], Any]] = (),
        affinity: Any = None,
        queue: Optional[str] = None,
        mpi_implementation: str = "OpenMPI",
        namespace: Optional[str] = None,
        *,
        worker_command: Union[str, Sequence[str], None] = None,
        launcher_resources: Optional[ResourceRequirements] = None,
        labels: Optional[Mapping[str, str]] = None,
        annotations: Optional[Mapping[str, str]] = None,
        pod_labels: Optional[Mapping[str, str]] = None,
        pod_annotations: Optional[Mapping[str, str]] = None,
        clean_pod_policy: str = "Running",
        backoff_limit: Optional[int] = None,
        active_deadline_seconds: Optional[int] = None,
        ttl_seconds_after_finished: Optional[int] = None,
        run_launcher_as_worker: bool = False,
        ssh_auth_mount_path: Optional[str] = None,
        service_account: Optional[str] = None,
        image_pull_secrets: Sequence[str] = (),
        metrics_port: Optional[int] = None,
        client: Optional[TrainingClient] = None,
    ) -> None:
        params = JobParams(
            name=name, image=image, command=command, workers=workers, resources=resources,
            slots_per_worker=slots_per_worker, env=env, volumes=volumes, node_selector=node_selector,
            tolerations=tolerations, affinity=affinity, queue=queue, mpi_implementation=mpi_implementation,
            namespace=namespace, worker_command=worker_command, launcher_resources=launcher_resources,
            labels=labels, annotations=annotations, pod_labels=pod_labels, pod_annotations=pod_annotations,
            clean_pod_policy=clean_pod_policy, backoff_limit=backoff_limit,
            active_deadline_seconds=active_deadline_seconds, ttl_seconds_after_finished=ttl_seconds_after_finished,
            run_launcher_as_worker=run_launcher_as_worker, ssh_auth_mount_path=ssh_auth_mount_path,
            service_account=service_account, image_pull_secrets=image_pull_secrets, metrics_port=metrics_port,
        )
        self._init(build_manifest(params), client)

    def _init(self, manifest: Dict[str, Any], client: Optional[TrainingClient], server: Optional[Dict[str, Any]] = None) -> None:
        self._manifest = manifest
        self._client = client
        self._server: Optional[Dict[str, Any]] = server
        self.warnings: List[str] = []

    # -- construction from existing objects

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any], *, client: Optional[TrainingClient] = None) -> "MPIJob":
        """A job from an MPIJob object (the parsed YAML/JSON of a manifest).
        Only apiVersion, kind, name, namespace, labels, annotations and spec are kept."""
        job = cls.__new__(cls)
        job._init(check_manifest(obj), client)
        return job

    @classmethod
    def from_yaml(cls, path: Union[str, "os.PathLike[str]"], *, client: Optional[TrainingClient] = None) -> "MPIJob":
        """A job from a YAML file holding one MPIJob (e.g. an upstream mpi-operator example)."""
        with open(path, encoding="utf-8") as f:
            try:
                docs = [d for d in yaml.safe_load_all(f) if d]
            except yaml.YAMLError as e:
                raise ValidationError(f"{os.fspath(path)}: not YAML: {e}") from e
        jobs = [d for d in docs if isinstance(d, Mapping) and d.get("kind") == "MPIJob"]
        if len(jobs) != 1:
            raise ValidationError(f"{os.fspath(path)}: expected exactly one MPIJob, found {len(jobs)} among {len(docs)} document(s)")
        return cls.from_dict(jobs[0], client=client)

    @classmethod
    def get(cls, name: str, namespace: Optional[str] = None, *, client: Optional[TrainingClient] = None) -> "MPIJob":
        """The job ``name`` as it is on the cluster.

        Raises:
            NotFoundError: no such job.
        """
        c = client or default_client()
        ns = namespace or c.namespace
        obj = c.json(f"reading mpijob {ns}/{name}", "GET", mpijobs_path(ns, name))
        job = cls.__new__(cls)
        job._init(check_manifest(obj), client, obj)
        return job

    @classmethod
    def list(
        cls,
        namespace: Optional[str] = None,
        *,
        all_namespaces: bool = False,
        label_selector: Optional[str] = None,
        client: Optional[TrainingClient] = None,
    ) -> List["MPIJob"]:
        """The jobs of a namespace (default: the client's), or of every namespace,
        oldest first. Each one's :attr:`status` is filled from the same answer."""
        c = client or default_client()
        ns = None if all_namespaces else (namespace or c.namespace)
        where = "all namespaces" if ns is None else f"namespace {ns}"
        obj = c.json(f"listing mpijobs in {where}", "GET", mpijobs_path(ns), query={"labelSelector": label_selector})
        out = []
        for item in list_items(obj):
            job = cls.__new__(cls)
            job._init(check_manifest({"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", **item}), client, item)
            out.append(job)
        out.sort(key=lambda j: (str(((j._server or {}).get("metadata") or {}).get("creationTimestamp") or ""), j.namespace, j.name))
        return out

    # -- what it is

    @property
    def client(self) -> TrainingClient:
        """The cluster connection this job uses."""
        if self._client is None:
            self._client = default_client()
        return self._client

    @property
    def name(self) -> str:
        """The job's name."""
        return str(self._manifest["metadata"]["name"])

    @property
    def namespace(self) -> str:
        """The job's namespace: given, or the client's default."""
        ns = self._manifest["metadata"].get("namespace")
        return str(ns) if ns else self.client.namespace

    @property
    def workers(self) -> int:
        """The number of worker pods."""
        w = ((self._manifest["spec"].get("mpiReplicaSpecs") or {}).get("Worker")) or {}
        return int(w.get("replicas") or 0)

    @property
    def queue(self) -> Optional[str]:
        """The Kueue LocalQueue, or None."""
        q = (self._manifest["metadata"].get("labels") or {}).get(QUEUE_LABEL)
        return str(q) if q else None

    @property
    def uid(self) -> Optional[str]:
        """The server's UID once created or read, else None."""
        uid = ((self._server or {}).get("metadata") or {}).get("uid")
        return str(uid) if uid else None

    @property
    def status(self) -> Optional[JobStatus]:
        """The status as of the last answer of the server (create, get, list,
        get_status, wait), without a request; None before any."""
        return JobStatus.from_dict(self._server) if self._server else None

    def to_dict(self) -> Dict[str, Any]:
        """The MPIJob to submit, JSON-ready (camelCase, plain types)."""
        return copy.deepcopy(self._manifest)

    def to_yaml(self) -> str:
        """The MPIJob to submit, as YAML that ``kubectl apply -f`` accepts."""
        return str(yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False))

    def __repr__(self) -> str:
        ns = self._manifest["metadata"].get("namespace")
        return f"MPIJob(name={self.name!r}, namespace={ns!r}, workers={self.workers})"

    # -- life cycle

    def create(self) -> "MPIJob":
        """Submit the job. Returns ``self``.

        Warnings of the admission webhook (e.g. the job will queue) are issued as
        :class:`AdmissionWarning` and kept in :attr:`warnings`.

        Raises:
            ValidationError: the server refused the job as invalid (field path in ``field_path``).
            QuotaExceededError: the job can never fit its quota; no pod was created.
            AlreadyExistsError: a job of that name exists.
            ForbiddenError: no permission to create MPIJobs in the namespace.
        """
        ns = self.namespace
        body = self.to_dict()
        body["metadata"]["namespace"] = ns
        retried = False

        def on_retry(attempt: int, err: BaseException, delay: float) -> None:
            nonlocal retried
            retried = True

        what = f"creating mpijob {ns}/{self.name}"
        try:
            resp = self.client.call(what, "POST", mpijobs_path(ns), body=body, on_retry=on_retry)
            obj = resp.json()
            self.warnings = list(resp.warnings())
        except AlreadyExistsError:
            # A retried create whose first attempt went through: the job
            # there is ours if it holds everything we sent.
            if not retried:
                raise
            obj = self.client.json(f"reading mpijob {ns}/{self.name}", "GET", mpijobs_path(ns, self.name))
            if not _contains(obj, body):
                raise
            self.warnings = []
        self._manifest["metadata"]["namespace"] = ns
        self._server = obj
        for w in self.warnings:
            warnings.warn(f"mpijob {ns}/{self.name}: {w}", AdmissionWarning, stacklevel=2)
        return self

    def _read(self) -> Dict[str, Any]:
        ns = self.namespace
        obj = self.client.json(f"reading mpijob {ns}/{self.name}", "GET", mpijobs_path(ns, self.name))
        self._server = obj
        return obj

    def get_status(self) -> JobStatus:
        """Read the job's status from the cluster.

        Raises:
            NotFoundError: the job does not exist (any more).
        """
        return JobStatus.from_dict(self._read())

    def wait_for_completion(
        self,
        timeout: Optional[float] = 600,
        poll_interval: float = 2.0,
        *,
        callback: Optional[Callable[[JobStatus], None]] = None,
    ) -> JobStatus:
        """Wait until the job succeeds and return its final status.

        Args:
            timeout: seconds to wait; ``None`` waits for ever.
            poll_interval: seconds between reads.
            callback: called with the status whenever the phase changes
                (e.g. ``lambda s: print(s.phase)``).

        Raises:
            JobFailedError: the job failed; it carries the controller's diagnosis
                (``reason``, ``diagnosis``, ``remediation``) and Warning events.
            WaitTimeoutError: ``timeout`` passed first; says whether the job is
                still queued, suspended or running.
            NotFoundError: the job was deleted while waiting.
        """
        if poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        deadline = None if timeout is None else time.monotonic() + timeout
        last: Optional[JobStatus] = None
        last_err: Optional[TrainingError] = None
        phase = ""
        while True:
            try:
                st = self.get_status()
            except NotFoundError as err:
                raise NotFoundError(f"{err} (deleted while waiting for it to finish)", reason=err.reason, status=err.status) from None
            except (APIError, ClusterUnreachableError) as err:
                last_err = err  # transient beyond the retries: keep waiting until the deadline
            else:
                last, last_err = st, None
                if callback is not None and st.phase != phase:
                    callback(st)
                phase = st.phase
                if st.succeeded:
                    return st
                if st.failed:
                    raise self._failed(st)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                if last is not None:
                    where = last.describe()
                elif last_err is not None:
                    where = f"it could not be read: {last_err}"
                else:
                    where = "it could not be read"
                raise WaitTimeoutError(
                    f"timed out after {timeout:g} s waiting for mpijob {self.namespace}/{self.name} to finish: {where}",
                    timeout=float(timeout or 0),
                    job_status=last,
                )
            time.sleep(poll_interval if remaining is None else min(poll_interval, remaining))

    def _failed(self, st: JobStatus) -> JobFailedError:
        cond = st.condition("Failed")
        return JobFailedError(
            self.name,
            self.namespace,
            cond.reason if cond else st.reason,
            cond.message if cond else st.message,
            events=self._warning_events(),
            job_status=st,
        )

    def _warning_events(self, limit: int = 10) -> List[str]:
        """The job's recent Warning events, oldest first; empty if unreadable."""
        ns = self.namespace
        try:
            obj = self.client.json(
                f"listing events of mpijob {ns}/{self.name}",
                "GET",
                core_path(ns, "events"),
                query={"fieldSelector": f"involvedObject.kind=MPIJob,involvedObject.name={self.name}"},
            )
        except TrainingError:
            return []
        evs = [e for e in list_items(obj) if e.get("type") == "Warning"]

        def when(e: Mapping[str, Any]) -> str:
            return str(e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp") or "")

        evs.sort(key=when)
        return [f"{e.get('reason', '')}: {e.get('message', '')}".strip() for e in evs[-limit:]]

    def delete(self, *, wait: bool = False, timeout: float = 60.0, missing_ok: bool = False) -> None:
        """Delete the job; its pods and other children go with it (garbage collection).

        Args:
            wait: return only once the job is gone.
            timeout: seconds to wait for that.
            missing_ok: do not raise if the job does not exist.

        Raises:
            NotFoundError: the job does not exist (unless ``missing_ok``).
            WaitTimeoutError: ``wait`` and the job is still there after ``timeout``.
        """
        ns = self.namespace
        try:
            self.client.call(
                f"deleting mpijob {ns}/{self.name}",
                "DELETE",
                mpijobs_path(ns, self.name),
                body={"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"},
            )
        except NotFoundError:
            if not missing_ok:
                raise
            return
        if not wait:
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._read()
            except NotFoundError:
                return
            if time.monotonic() >= deadline:
                raise WaitTimeoutError(
                    f"mpijob {ns}/{self.name} still exists {timeout:g} s after it was deleted: a finalizer may hold it "
                    f"(kubectl get mpijob {self.name} -n {ns} -o jsonpath='{{.metadata.finalizers}}')",
                    timeout=timeout,
                )
            time.sleep(0.5)

    # -- pods

    def _pods(self, role: Optional[str] = None) -> List[Dict[str, Any]]:
        ns = self.namespace
        selector = f"{JOB_NAME_LABEL}={self.name}" + (f",{JOB_ROLE_LABEL}={role}" if role else "")
        obj = self.client.json(
            f"listing the pods of mpijob {ns}/{self.name}", "GET", core_path(ns, "pods"), query={"labelSelector": selector}
        )
        return sort_pods(list_items(obj))

    def get_worker_statuses(self) -> List[WorkerStatus]:
        """The worker pods, by index: phase, readiness, node, restarts, and why
        one waits or ended (``ImagePullBackOff``, ``OOMKilled``, ``Unschedulable``...)."""
        return [WorkerStatus.from_pod(p) for p in self._pods("worker")]

    @overload
    def get_logs(
        self,
        launcher: bool = ...,
        worker: WorkerSelector = ...,
        follow: Literal[False] = ...,
        *,
        container: Optional[str] = ...,
        tail_lines: Optional[int] = ...,
        since_seconds: Optional[int] = ...,
        poll_interval: float = ...,
    ) -> str: ...

    @overload
    def get_logs(
        self,
        launcher: bool = ...,
        worker: WorkerSelector = ...,
        *,
        follow: Literal[True],
        container: Optional[str] = ...,
        tail_lines: Optional[int] = ...,
        since_seconds: Optional[int] = ...,
        poll_interval: float = ...,
    ) -> Iterator[str]: ...

    def get_logs(
        self,
        launcher: bool = True,
        worker: WorkerSelector = None,
        follow: bool = False,
        *,
        container: Optional[str] = None,
        tail_lines: Optional[int] = None,
        since_seconds: Optional[int] = None,
        poll_interval: float = 1.0,
    ) -> Union[str, Iterator[str]]:
        """The logs of the launcher (default), of worker ``N`` (``worker=N``), or of
        every pod (``worker="all"``, each line prefixed with ``[pod-name] ``;
        ``launcher=False`` leaves the launcher out).

        Without ``follow``, returns the log text as it is now. With ``follow=True``,
        returns an iterator of lines that waits for pods to start, picks up pods
        that appear later (a relaunched launcher, late workers) and ends once the
        job has finished and every log has ended (a log still open, such as that
        of a worker kept by ``clean_pod_policy="None"``, ends once it has been
        quiet for a few seconds after the job finished)::

            for line in job.get_logs(worker="all", follow=True):
                print(line)

        Stopping early (``break``) closes every open log.

        Raises:
            LogsUnavailableError: no pods (cleaned up, or still queued), a pod not
                started yet (without ``follow``), or a log the cluster cannot
                serve (its node is down or unreachable). ``partial`` holds what
                could be read. With ``follow``, raised after the last line.
            ValueError: nothing selected, or a worker index the job does not have.
        """
        if worker is None and not launcher:
            raise ValueError("nothing to read: pass launcher=True, worker=N or worker='all'")
        if worker is not None and worker != "all" and (not isinstance(worker, int) or isinstance(worker, bool) or worker < 0):
            raise ValueError(f"worker must be a replica index >= 0 or 'all', not {worker!r}")
        src = _ClusterLogs(self, launcher if worker in (None, "all") else False, worker, container, tail_lines, since_seconds)
        # Fail early, not at the first next(), when the job does not exist.
        obj = self._read()
        if isinstance(worker, int):
            replicas = (((obj.get("spec") or {}).get("mpiReplicaSpecs") or {}).get("Worker") or {}).get("replicas")
            n = int(replicas) if isinstance(replicas, int) and not isinstance(replicas, bool) else None
            if n is not None and worker >= n:
                ns = self.namespace
                takes = f"worker takes 0 to {n - 1}" if n > 0 else "it has no worker to read"
                raise ValueError(f"mpijob {ns}/{self.name} has {n} worker(s): {takes}, not {worker}")
        if follow:
            return follow_logs(src, prefix=worker == "all", poll_interval=poll_interval)
        return read_logs(src, prefix=worker == "all")


class _ClusterLogs:
    """The :class:`~openshift_ai_sdk.training.logs.LogSource` of a job on the cluster."""

    def __init__(
        self,
        job: MPIJob,
        launcher: bool,
        worker: WorkerSelector,
        container: Optional[str],
        tail_lines: Optional[int],
        since_seconds: Optional[int],
    ) -> None:
        self.job = job
        self.launcher = launcher
        self.worker = worker
        self.container = container
        self.tail_lines = tail_lines
        self.since_seconds = since_seconds

    def pods(self) -> List[Dict[str, Any]]:
        out = []
        for p in self.job._pods():
            labels = (p.get("metadata") or {}).get("labels") or {}
            role = labels.get(JOB_ROLE_LABEL)
            if role == "launcher" and self.launcher:
                out.append(p)
            elif role == "worker" and (self.worker == "all" or str(self.worker) == str(labels.get(REPLICA_INDEX_LABEL))):
                out.append(p)
        return out

    def open(self, pod: Mapping[str, Any], follow: bool) -> LogStream:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        name = str(meta.get("name"))
        container = self.container or ((spec.get("containers") or [{}])[0].get("name"))
        query: Dict[str, Any] = {"container": container, "tailLines": self.tail_lines, "sinceSeconds": self.since_seconds}
        if follow:
            query["follow"] = "true"
        try:
            resp = self.job.client.call(
                f"reading the log of pod {name}",
                "GET",
                core_path(self.job.namespace, "pods", name, "log"),
                query=query,
                stream=True,
                timeout=(10.0, None if follow else 60.0),
            )
        except APIError as err:
            if err.status == 500 and ("containerLogs" in err.message or "dial tcp" in err.message or "kubelet" in err.message):
                node = spec.get("nodeName") or "its node"
                detail = err.message.split(": ", 1)[1] if err.message.startswith("reading the log of pod ") else err.message
                raise LogsUnavailableError(
                    f"the API server cannot reach the kubelet of {node} to read the log ({detail}): the node may be down "
                    "or unreachable",
                    status=err.status,
                ) from None
            raise
        return ResponseStream(resp.stream)

    def finished(self) -> bool:
        try:
            st = self.job.get_status()
        except NotFoundError:
            return True
        return st.finished


def _contains(have: Any, want: Any) -> bool:
    """Whether ``have`` holds everything in ``want`` (maps by key, lists by position)."""
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(k in have and _contains(have[k], v) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(have) == len(want) and all(_contains(h, w) for h, w in zip(have, want))
    return bool(have == want)
