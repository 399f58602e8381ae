"""Exceptions of the training SDK and how API errors become them.

Every exception subclasses :class:`TrainingError` and a Python built-in, so
code can catch either: ``except ValueError`` catches a job the server refuses
as invalid, ``except TimeoutError`` a wait that gave up. Each keeps what the
server said (``reason``, ``status``, ``message``) next to the parsed detail.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple

if TYPE_CHECKING:
    from .status import JobStatus


class TrainingError(Exception):
    """Base of every error the SDK raises.

    Attributes:
        message: what happened, why, and what to do next.
        reason: the server's machine-readable reason (``Invalid``,
            ``Forbidden``, ``OOMKilled``...), or ``""``.
        status: the HTTP status code of the API error behind it, or ``None``.
    """

    def __init__(self, message: str, *, reason: str = "", status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.status = status

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class FieldError:
    """One problem with one field, as the API server reports it.

    Attributes:
        field: the field path, e.g. ``spec.mpiReplicaSpecs[Worker].replicas``.
        reason: ``FieldValueInvalid``, ``FieldValueRequired``... or ``""``.
        message: what is wrong and what is allowed.
    """

    field: str
    reason: str
    message: str


class ValidationError(TrainingError, ValueError):
    """The job is invalid: the SDK or the API server (HTTP 422/400) refused it.

    Attributes:
        field_path: the path of the first offending field
            (``spec.mpiReplicaSpecs[Worker].replicas``), or ``None``.
        causes: every field problem reported, in the server's order.
    """

    def __init__(
        self,
        message: str,
        *,
        field_path: Optional[str] = None,
        causes: Optional[List[FieldError]] = None,
        reason: str = "Invalid",
        status: Optional[int] = None,
    ) -> None:
        super().__init__(message, reason=reason, status=status)
        self.causes: List[FieldError] = list(causes or [])
        if field_path is None and self.causes:
            field_path = self.causes[0].field or None
        self.field_path = field_path


@dataclass(frozen=True)
class QuotaShortfall:
    """One resource a job asks more of than a quota can ever give.

    The admission webhook sends one ``QuotaShortfall`` cause per resource in the
    refusal's ``details.causes`` (see :func:`quota_shortfalls`), quantities in
    Kubernetes notation (``24``, ``16Gi``, ``500m``).

    Attributes:
        resource: as the quota names it (``requests.nvidia.com/gpu``,
            ``nvidia.com/gpu``, ``pods``).
        requested: what the job (or one of its pod sets) needs.
        used: in use now.
        available: free now.
        limit: the most there can ever be.
        quota: which quota said so (``ResourceQuota team-a/compute`` or
            ``ClusterQueue team-a (behind LocalQueue team-a/gpus)``).
        note: why, when the numbers alone do not say it, or ``""``.
    """

    resource: str
    requested: str
    used: str
    available: str
    limit: str
    quota: str = ""
    note: str = ""

    def quantity(self, which: str) -> Decimal:
        """Return ``requested``, ``used``, ``available`` or ``limit`` as a number
        (``"16Gi"`` -> ``Decimal(17179869184)``, ``"500m"`` -> ``Decimal("0.5")``)."""
        if which not in ("requested", "used", "available", "limit"):
            raise ValueError(f"which must be requested, used, available or limit, not {which!r}")
        return parse_quantity(str(getattr(self, which)))


class QuotaExceededError(TrainingError, ValueError):
    """The admission webhook refused the job (HTTP 403) because it can never fit
    its ResourceQuota or Kueue ClusterQueue. No pod was created.

    Attributes:
        shortfalls: one entry per resource and quota, with the numbers.
        requested, used, available, limit: ``{resource: quantity}`` taken from
            the shortfalls (the first quota that names a resource wins).
    """

    def __init__(
        self,
        message: str,
        shortfalls: List[QuotaShortfall],
        *,
        reason: str = "Forbidden",
        status: Optional[int] = 403,
    ) -> None:
        super().__init__(message, reason=reason, status=status)
        self.shortfalls = shortfalls
        self.requested: Dict[str, str] = {}
        self.used: Dict[str, str] = {}
        self.available: Dict[str, str] = {}
        self.limit: Dict[str, str] = {}
        for s in shortfalls:
            self.requested.setdefault(s.resource, s.requested)
            self.used.setdefault(s.resource, s.used)
            self.available.setdefault(s.resource, s.available)
            self.limit.setdefault(s.resource, s.limit)


class JobFailedError(TrainingError, RuntimeError):
    """The job ended Failed. The controller's diagnosis says why and what to change.

    Attributes:
        name, namespace: the job.
        reason: the Failed condition's reason (``OOMKilled``, ``ImagePullFailed``,
            ``NCCLError``, ``DeadlineExceeded``, ``BackoffLimitExceeded``...).
        diagnosis: the Failed condition's message, as the controller wrote it.
        remediation: the general advice for the reason (the platform's closed
            set of reasons); the diagnosis says what to do about this job.
        events: recent Warning events of the job, oldest first
            (``"OOMKilled: worker-3 was OOMKilled ..."``).
        job_status: the job's status when it was seen failed.
    """

    def __init__(
        self,
        name: str,
        namespace: str,
        reason: str,
        diagnosis: str,
        *,
        events: Optional[List[str]] = None,
        job_status: Optional["JobStatus"] = None,
    ) -> None:
        self.name = name
        self.namespace = namespace
        self.diagnosis = diagnosis or "no message"
        self.remediation = remediation_for(reason, diagnosis)
        self.events = list(events or [])
        self.job_status = job_status
        head = f"mpijob {namespace}/{name} failed"
        detail = f"{reason}: {self.diagnosis}" if reason else self.diagnosis
        msg = f"{head}: {detail}"
        if self.remediation and self.remediation not in self.diagnosis:
            msg += f" (what to do: {self.remediation})"
        super().__init__(msg, reason=reason)


class WaitTimeoutError(TrainingError, TimeoutError):
    """A wait ran out of time before the job finished.

    Attributes:
        timeout: the seconds waited.
        job_status: the last status read, or ``None`` if the job could not be read.
    """

    def __init__(self, message: str, *, timeout: float, job_status: Optional["JobStatus"] = None) -> None:
        super().__init__(message, reason="Timeout")
        self.timeout = timeout
        self.job_status = job_status


class NotFoundError(TrainingError, LookupError):
    """The job (or its namespace, or the MPIJob API itself) does not exist (HTTP 404)."""


class ForbiddenError(TrainingError, PermissionError):
    """The credentials are refused (401) or lack permission (RBAC 403), or an
    admission webhook denied the request for a reason other than quota.

    Attributes:
        denied_by_platform: the platform's admission webhook refused the job
            (its answer carries one of :data:`DENIAL_CAUSES`), e.g. because
            its creator may not create pods in the namespace.
    """

    def __init__(self, message: str, *, reason: str = "", status: Optional[int] = None, denied_by_platform: bool = False) -> None:
        super().__init__(message, reason=reason, status=status)
        self.denied_by_platform = denied_by_platform


# The cause types that mark a 403 as the platform's own refusal of a job
# (pkg/mpijob.DenialCauses in Go; testdata/contract/denial.yaml).
DENIAL_CAUSES = ("QuotaShortfall", "PodsForbidden")


class AlreadyExistsError(TrainingError, ValueError):
    """A job of that name already exists in the namespace (HTTP 409)."""


class APIError(TrainingError, RuntimeError):
    """The API server kept failing (429/5xx after retries) or answered something
    the SDK does not map to a more specific error."""


class ClusterUnreachableError(TrainingError, ConnectionError):
    """The API server could not be reached after retries, or no credentials were found."""


class LogsUnavailableError(TrainingError, RuntimeError):
    """A pod's log could not be read: not started yet, cleaned up, or its node's
    kubelet cannot be reached.

    Attributes:
        partial: what was read from the other pods before the error.
    """

    def __init__(self, message: str, *, partial: str = "", status: Optional[int] = None) -> None:
        super().__init__(message, reason="LogsUnavailable", status=status)
        self.partial = partial


class AdmissionWarning(UserWarning):
    """A warning the API server returned with an accepted request (e.g. the job
    will queue because its ClusterQueue is full right now)."""


# ---------------------------------------------------------------------------
# Parsing what the API server says.

QUOTA_CAUSE_TYPE = "QuotaShortfall"
"""The ``details.causes[].reason`` of a quota shortfall (pkg/mpijob/quota in Go)."""


def quota_shortfalls(details: Any) -> List[QuotaShortfall]:
    """Read the quota shortfalls of a refusal's ``details.causes``.

    The admission webhook sends one cause per resource: ``reason``
    ``QuotaShortfall``, ``field`` naming the quota, ``message`` a JSON object
    with ``resource``, ``requested``, ``used``, ``available``, ``limit``,
    ``where`` and ``note`` (docs/reference/admission-errors.md).

    >>> quota_shortfalls({"causes": [{"reason": "QuotaShortfall", "field": "ResourceQuota team-a/compute",
    ...     "message": '{"resource":"requests.nvidia.com/gpu","requested":"24","used":"8","available":"12","limit":"20",'
    ...                '"where":"ResourceQuota team-a/compute"}'}]})[0].available
    '12'
    """
    out: List[QuotaShortfall] = []
    causes = details.get("causes") if isinstance(details, Mapping) else None
    for c in causes or []:
        if not isinstance(c, Mapping) or c.get("reason") != QUOTA_CAUSE_TYPE:
            continue
        try:
            d = json.loads(str(c.get("message") or ""))
        except ValueError as e:
            raise APIError(f"the quota refusal's cause for {c.get('field')!r} is not the documented JSON: {e}") from e
        if not isinstance(d, Mapping):
            raise APIError(f"the quota refusal's cause for {c.get('field')!r} is not a JSON object")
        out.append(
            QuotaShortfall(
                resource=str(d.get("resource", "")),
                requested=str(d.get("requested", "")),
                used=str(d.get("used", "")),
                available=str(d.get("available", "")),
                limit=str(d.get("limit", "")),
                quota=str(d.get("where") or c.get("field") or ""),
                note=str(d.get("note") or ""),
            )
        )
    return out


# "spec.slotsPerWorker: Invalid value: 0: must be at least 1" inside a
# message, for servers that drop details.causes. Items are joined with ", "
# inside [...] or listed one per line after "* ".
_FIELD_IN_MESSAGE = re.compile(
    r"(?:^|(?<=[\[\s*,]))(?P<field>(?:metadata|spec)(?:[.\[][^\s:]*)?): "
    r"(?P<reason>Invalid value|Required value|Unsupported value|Forbidden|Duplicate value|Too many|Too long|Not found)"
)

_REASON_BY_TEXT = {
    "Invalid value": "FieldValueInvalid",
    "Required value": "FieldValueRequired",
    "Unsupported value": "FieldValueNotSupported",
    "Forbidden": "FieldValueForbidden",
    "Duplicate value": "FieldValueDuplicate",
    "Too many": "FieldValueTooMany",
    "Too long": "FieldValueTooLong",
    "Not found": "FieldValueNotFound",
}


def field_errors_from_message(message: str) -> List[FieldError]:
    """Find ``<field path>: <Invalid value|Required value|...>: ...`` items in a
    status message (used when the server sent no ``details.causes``)."""
    matches = list(_FIELD_IN_MESSAGE.finditer(message))
    out: List[FieldError] = []
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(message)
        rest = message[m.end("reason") : end].strip().rstrip(",]").strip()
        if rest.startswith(":"):
            rest = rest[1:].strip()
        if "\n" in rest:
            rest = rest.split("\n", 1)[0].strip()
        text = f"{m.group('reason')}: {rest}" if rest else m.group("reason")
        out.append(FieldError(m.group("field"), _REASON_BY_TEXT.get(m.group("reason"), ""), text))
    return out


def status_body(body: Any) -> Dict[str, Any]:
    """Decode a ``metav1.Status`` from an ApiException body; ``{}`` if it is not one."""
    if body is None:
        return {}
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, Mapping):
        return dict(body)
    try:
        data = json.loads(str(body))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def error_from_status(status: int, body: Any, *, what: str, headers: Optional[Mapping[str, str]] = None) -> TrainingError:
    """Turn an API error (HTTP status and ``metav1.Status`` body) into the SDK's exception.

    ``what`` names the request for the message, e.g. ``"creating mpijob team-a/bert"``.
    """
    st = status_body(body)
    reason = str(st.get("reason") or "")
    message = str(st.get("message") or "").strip()
    if not message:
        message = str(body or "").strip() or f"HTTP {status}"
    details = st.get("details") if isinstance(st.get("details"), dict) else {}
    text = f"{what}: {message}"

    if status in (422, 400) or reason in ("Invalid", "BadRequest"):
        causes = [
            FieldError(str(c.get("field") or ""), str(c.get("reason") or ""), str(c.get("message") or ""))
            for c in (details or {}).get("causes") or []
            if isinstance(c, dict)
        ]
        if not any(c.field for c in causes):
            causes = field_errors_from_message(message) or causes
        return ValidationError(text + _fix_hint(causes), causes=causes, reason=reason or "Invalid", status=status)
    if status == 403:
        shortfalls = quota_shortfalls(details)
        if shortfalls:
            return QuotaExceededError(text, shortfalls, reason=reason or "Forbidden", status=status)
        causes = (details or {}).get("causes") or []
        if any(isinstance(c, dict) and c.get("reason") in DENIAL_CAUSES for c in causes):
            return ForbiddenError(text, reason=reason or "Forbidden", status=status, denied_by_platform=True)
        # Another webhook's refusal carries no cause of ours; the API
        # server's prefix of every webhook refusal names it.
        if "admission webhook" in message:
            return ForbiddenError(text, reason=reason or "Forbidden", status=status)
        return ForbiddenError(
            text + ": ask a namespace admin for the mpijob-platform-user role (or edit) in this namespace, or use another namespace",
            reason=reason or "Forbidden",
            status=status,
        )
    if status == 401:
        return ForbiddenError(
            text + ": the credentials were refused; log in again (oc login / a fresh token) or check the kubeconfig",
            reason=reason or "Unauthorized",
            status=status,
        )
    if status == 404:
        hint = ""
        if "could not find the requested resource" in message:
            hint = ": the MPIJob API (kubeflow.org/v2beta1) is not served by this cluster; ask an admin to install the MPIJob platform"
        return NotFoundError(text + hint, reason=reason or "NotFound", status=status)
    if status == 409:
        return AlreadyExistsError(
            text + ": pick another name, or delete the existing job first", reason=reason or "AlreadyExists", status=status
        )
    return APIError(text, reason=reason, status=status)


def _fix_hint(causes: List[FieldError]) -> str:
    if not causes:
        return ""
    return "; fix " + ", ".join(sorted({c.field for c in causes if c.field})) if any(c.field for c in causes) else ""


# ---------------------------------------------------------------------------
# Remediation: the general advice for each reason of the closed set
# (pkg/mpijob.ReasonTable in Go; testdata/contract/diagnosis.yaml proves the
# two equal). What to do about one job in particular is in its diagnosis.

REMEDIATIONS: Dict[str, str] = {
    "OOMKilled": "raise the memory limit of the pods that were killed, or lower the batch size",
    "ImagePullFailed": "check the image name and tag, and that the namespace has a pull secret for its registry",
    "CUDAError": "check that the image's CUDA version matches the node's driver and that the pods request nvidia.com/gpu",
    "NCCLError": "check NCCL_SOCKET_IFNAME and that workers can reach each other; set NCCL_DEBUG=INFO for details",
    "Evicted": "resubmit the job; set requests that match what the job uses",
    "WorkerFailed": "read the failed worker's log for the cause",
    "LauncherFailed": "read the launcher's log for the cause",
    "DeadlineExceeded": "raise runPolicy.activeDeadlineSeconds or make the job shorter",
    "BackoffLimitExceeded": "read the launcher's log for the cause",
    "Unschedulable": "wait for capacity, or ask for less per pod",
    "ValidationError": "fix the fields the message names and submit the job again",
    "PolicyViolation": "remove what the platform's pod policy refuses (the message names each field), or ask a platform admin to allow it",
    "CrashLoopBackOff": "read the container's previous log (kubectl logs --previous) for why it keeps exiting",
    "Queued": "wait for Kueue to admit the job, or ask a platform admin for more quota",
}
"""The general advice for each diagnosis reason, as the platform's Go library has it."""

_UNKNOWN_REASON = "read the job's logs and events for the cause: job.get_logs(), kubectl describe mpijob"


def remediation_for(reason: str, message: str = "") -> str:
    """Return the general advice for a diagnosis reason (the diagnosis's own
    message says what to do about this job in particular)."""
    return REMEDIATIONS.get(reason, _UNKNOWN_REASON)


# ---------------------------------------------------------------------------
# Kubernetes quantities, without importing the client for unit use.

_SUFFIX: Dict[str, Decimal] = {
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"), "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)([a-zA-Z]*)$")


def parse_quantity(q: str) -> Decimal:
    """Parse a Kubernetes quantity (``"500m"``, ``"16Gi"``, ``"1e3"``) into a Decimal."""
    m = _QUANTITY.match(q.strip())
    if not m or m.group(2) not in _SUFFIX:
        raise ValueError(f"{q!r} is not a Kubernetes quantity (e.g. 2, 500m, 16Gi)")
    return Decimal(m.group(1)) * _SUFFIX[m.group(2)]


def split_warning_header(value: str) -> Tuple[str, ...]:
    """Split an HTTP ``Warning`` header (``299 - "text", 299 - "more"``) into its texts."""
    out = []
    for m in re.finditer(r'\d{3} \S+ "((?:[^"\\]|\\.)*)"', value or ""):
        out.append(m.group(1).replace('\\"', '"').replace("\\\\", "\\"))
    return tuple(out)


__all__ = [
    "APIError",
    "AdmissionWarning",
    "AlreadyExistsError",
    "ClusterUnreachableError",
    "FieldError",
    "ForbiddenError",
    "JobFailedError",
    "LogsUnavailableError",
    "NotFoundError",
    "QuotaExceededError",
    "QuotaShortfall",
    "TrainingError",
    "ValidationError",
    "WaitTimeoutError",
    "error_from_status",
    "parse_quantity",
    "quota_shortfalls",
    "QUOTA_CAUSE_TYPE",
    "remediation_for",
    "REMEDIATIONS",
]
