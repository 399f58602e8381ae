"""Read-only views of an MPIJob's status and of its worker pods."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, List, Mapping, Optional, Tuple

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
JOB_NAME_LABEL = "training.kubeflow.org/job-name"
JOB_ROLE_LABEL = "training.kubeflow.org/job-role"
REPLICA_INDEX_LABEL = "training.kubeflow.org/replica-index"

PHASES = ("Succeeded", "Failed", "Queued", "Suspended", "Restarting", "Running", "Created", "Pending")
"""The one-word summaries :attr:`JobStatus.phase` takes, the same as ``kubectl odh mpijob get``."""


def parse_time(value: Any) -> Optional[datetime]:
    """Parse an RFC 3339 timestamp as the API server writes it; None if absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    v = value.strip()
    if v.endswith("Z"):
        v = v[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(v)
    except ValueError:
        return None


@dataclass(frozen=True)
class Condition:
    """One condition of the job (Created, Running, Restarting, Succeeded, Suspended, Failed).

    Attributes:
        type: the condition type.
        status: ``"True"``, ``"False"`` or ``"Unknown"``.
        reason: a CamelCase word (e.g. ``OOMKilled``).
        message: what happened and what to do, for humans.
        last_transition_time: when ``status`` last changed.
    """

    type: str
    status: str
    reason: str = ""
    message: str = ""
    last_transition_time: Optional[datetime] = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Condition":
        """Build from a status condition as the API returns it."""
        return cls(
            type=str(d.get("type", "")),
            status=str(d.get("status", "")),
            reason=str(d.get("reason") or ""),
            message=str(d.get("message") or ""),
            last_transition_time=parse_time(d.get("lastTransitionTime")),
        )


@dataclass(frozen=True)
class ReplicaStatus:
    """Pod counts of one role (``Launcher`` or ``Worker``)."""

    active: int = 0
    succeeded: int = 0
    failed: int = 0


@dataclass(frozen=True)
class JobStatus:
    """Where an MPIJob stands.

    Attributes:
        name, namespace: the job.
        phase: one of :data:`PHASES`: ``Succeeded``, ``Failed``, ``Queued``
            (suspended with a Kueue queue), ``Suspended``, ``Restarting``,
            ``Running``, ``Created`` or ``Pending``.
        reason, message: of the condition that decided the phase (for a failed
            job, the controller's diagnosis and remediation), or of a
            ``Running=False`` condition saying why the job cannot start yet
            (``Unschedulable``, ``ImagePullFailed``).
        conditions: every condition, in the order the controller wrote them.
        replica_statuses: pod counts by role (``"Launcher"``, ``"Worker"``).
        workers: the desired number of workers.
        queue: the Kueue LocalQueue, or ``None``.
        start_time, completion_time: when the job started and finished.
        generation, observed_generation: the spec's generation, and the one
            the controller last acted on (``None`` from a controller that
            does not report it, such as upstream mpi-operator or ours before
            1.1); see :attr:`up_to_date`.
    """

    name: str
    namespace: str
    phase: str
    reason: str = ""
    message: str = ""
    conditions: Tuple[Condition, ...] = ()
    replica_statuses: Dict[str, ReplicaStatus] = field(default_factory=dict)
    workers: int = 0
    queue: Optional[str] = None
    start_time: Optional[datetime] = None
    completion_time: Optional[datetime] = None
    generation: int = 0
    observed_generation: Optional[int] = None

    @property
    def up_to_date(self) -> bool:
        """Whether the controller has acted on the latest spec (e.g. after a
        resume or a scale change), so this status describes it. True when the
        controller does not report what it observed: nothing better is known."""
        return self.observed_generation is None or self.observed_generation >= self.generation

    @property
    def succeeded(self) -> bool:
        """Whether the job succeeded."""
        return self.phase == "Succeeded"

    @property
    def failed(self) -> bool:
        """Whether the job failed."""
        return self.phase == "Failed"

    @property
    def finished(self) -> bool:
        """Whether the job ended, succeeded or failed."""
        return self.phase in ("Succeeded", "Failed")

    def condition(self, type_: str) -> Optional[Condition]:
        """The condition of that type whose status is True, or None."""
        for c in self.conditions:
            if c.type == type_ and c.status == "True":
                return c
        return None

    def describe(self) -> str:
        """Where the job stands in one sentence, e.g. for a wait that gives up."""
        if self.phase == "Queued":
            return f"it is still queued in {self.queue} (suspended until Kueue admits it)"
        if self.phase == "Suspended":
            return "it is still suspended (resume it by setting spec.runPolicy.suspend to false)"
        words = {"Running": "running", "Restarting": "restarting", "Created": "starting", "Pending": "pending"}
        text = f"it is still {words.get(self.phase, self.phase.lower())}"
        if self.reason and self.message and self.phase not in ("Succeeded", "Failed"):
            text += f" ({self.reason}: {self.message})"
        return text

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> "JobStatus":
        """Build from an MPIJob as the API returns it."""
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        st = obj.get("status") or {}
        conds = tuple(Condition.from_dict(c) for c in st.get("conditions") or [] if isinstance(c, Mapping))
        replicas = {
            str(role): ReplicaStatus(int(r.get("active") or 0), int(r.get("succeeded") or 0), int(r.get("failed") or 0))
            for role, r in (st.get("replicaStatuses") or {}).items()
            if isinstance(r, Mapping)
        }
        worker_spec = ((spec.get("mpiReplicaSpecs") or {}).get("Worker")) or {}
        queue = ((meta.get("labels") or {}).get(QUEUE_LABEL)) or (
            ((spec.get("runPolicy") or {}).get("schedulingPolicy") or {}).get("queue")
        )
        suspended = bool((spec.get("runPolicy") or {}).get("suspend"))
        phase, decided = _phase(conds, suspended, bool(queue))
        reason = decided.reason if decided else ""
        message = decided.message if decided else ""
        if phase not in ("Succeeded", "Failed"):
            # A Running=False condition says why the job cannot start yet.
            for c in conds:
                if c.type == "Running" and c.status == "False" and c.reason:
                    reason, message = c.reason, c.message
        return cls(
            name=str(meta.get("name", "")),
            namespace=str(meta.get("namespace", "")),
            phase=phase,
            reason=reason,
            message=message,
            conditions=conds,
            replica_statuses=replicas,
            workers=int(worker_spec.get("replicas") or 0),
            queue=str(queue) if queue else None,
            start_time=parse_time(st.get("startTime")),
            completion_time=parse_time(st.get("completionTime")),
            generation=int(meta.get("generation") or 0),
            observed_generation=int(st["observedGeneration"]) if st.get("observedGeneration") is not None else None,
        )


def _phase(conds: Tuple[Condition, ...], suspended: bool, queued: bool) -> Tuple[str, Optional[Condition]]:
    def true(t: str) -> Optional[Condition]:
        for c in conds:
            if c.type == t and c.status == "True":
                return c
        return None

    if c := true("Succeeded") or true("Complete"):
        return "Succeeded", c
    if c := true("Failed"):
        return "Failed", c
    s = true("Suspended")
    if suspended or s:
        return ("Queued" if queued else "Suspended"), s
    for t in ("Restarting", "Running", "Created"):
        if c := true(t):
            return t, c
    return "Pending", None


@dataclass(frozen=True)
class WorkerStatus:
    """One worker pod.

    Attributes:
        index: the replica index (``<job>-worker-<index>``).
        pod_name: the pod's name.
        phase: the pod phase (``Pending``, ``Running``, ``Succeeded``, ``Failed``).
        ready: whether the pod is Ready.
        node: the node it runs on, or ``None`` before it is scheduled.
        restarts: container restarts.
        reason, message: why it waits or ended (``ImagePullBackOff``,
            ``OOMKilled``, ``Unschedulable``...), or ``""``.
        exit_code: the exit code of a terminated container, or ``None``.
    """

    index: int
    pod_name: str
    phase: str
    ready: bool = False
    node: Optional[str] = None
    restarts: int = 0
    reason: str = ""
    message: str = ""
    exit_code: Optional[int] = None

    @classmethod
    def from_pod(cls, pod: Mapping[str, Any]) -> "WorkerStatus":
        """Build from a worker Pod as the API returns it."""
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        st = pod.get("status") or {}
        labels = meta.get("labels") or {}
        try:
            index = int(labels.get(REPLICA_INDEX_LABEL, "-1"))
        except ValueError:
            index = -1
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])
        reason, message = str(st.get("reason") or ""), str(st.get("message") or "")
        restarts, exit_code = 0, None
        for cs in st.get("containerStatuses") or []:
            restarts += int(cs.get("restartCount") or 0)
            state = cs.get("state") or {}
            if "waiting" in state and (state["waiting"] or {}).get("reason"):
                reason = reason or str(state["waiting"]["reason"])
                message = message or str(state["waiting"].get("message") or "")
            term = state.get("terminated") or (cs.get("lastState") or {}).get("terminated")
            if term:
                if exit_code is None:
                    exit_code = int(term.get("exitCode") or 0)
                if "terminated" in state:
                    reason = reason or str(term.get("reason") or "")
                    message = message or str(term.get("message") or "")
        for c in st.get("conditions") or []:
            if c.get("type") == "PodScheduled" and c.get("status") == "False" and not reason:
                reason, message = str(c.get("reason") or ""), str(c.get("message") or "")
        return cls(
            index=index,
            pod_name=str(meta.get("name", "")),
            phase=str(st.get("phase") or "Pending"),
            ready=ready,
            node=spec.get("nodeName") or None,
            restarts=restarts,
            reason=reason,
            message=message,
            exit_code=exit_code,
        )


def sort_pods(pods: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Order pods for display: launcher first, then workers by index, then by age."""

    def key(p: Mapping[str, Any]) -> Tuple[int, int, str]:
        labels = (p.get("metadata") or {}).get("labels") or {}
        role = 0 if labels.get(JOB_ROLE_LABEL) == "launcher" else 1
        try:
            idx = int(labels.get(REPLICA_INDEX_LABEL, "0"))
        except ValueError:
            idx = 0
        return role, idx, str((p.get("metadata") or {}).get("creationTimestamp") or "")

    return sorted(pods, key=key)
