"""API errors become the SDK's exceptions, with what the server said parsed."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Dict

import pytest

from openshift_ai_sdk.training import (
    AlreadyExistsError,
    APIError,
    ForbiddenError,
    JobFailedError,
    NotFoundError,
    QuotaExceededError,
    TrainingError,
    ValidationError,
    WaitTimeoutError,
)
from openshift_ai_sdk.training.errors import (
    error_from_status,
    parse_quantity,
    quota_shortfalls,
    remediation_for,
    split_warning_header,
)

def status(code: int, reason: str, message: str, **details: Any) -> bytes:
    body: Dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message}
    if details:
        body["details"] = details
    return json.dumps(body).encode()


def test_quota_cause_that_is_not_the_contract_is_an_error() -> None:
    causes = [{"reason": "QuotaShortfall", "field": "ResourceQuota ns/q", "message": "requested 2, used 0"}]
    with pytest.raises(APIError, match="not the documented JSON"):
        error_from_status(403, status(403, "Forbidden", "denied", causes=causes), what="creating mpijob ns/x")


def test_quota_shortfall_quantities_are_numbers() -> None:
    causes = [{"reason": "QuotaShortfall", "field": "ResourceQuota ns/q",
               "message": json.dumps({"resource": "requests.memory", "requested": "16Gi", "used": "512Mi", "available": "7680Mi", "limit": "8Gi", "where": "ResourceQuota ns/q"})}]
    [s] = quota_shortfalls({"causes": causes})
    assert s.quantity("available") == Decimal(7680 * 2**20)
    assert s.quota == "ResourceQuota ns/q"


def test_webhook_denial_without_quota_causes_is_forbidden() -> None:
    msg = 'admission webhook "mpijobs.validation.mpijob.io" denied the request: mpijobs.kubeflow.org "x" is forbidden: alice may not create pods'
    err = error_from_status(403, status(403, "Forbidden", msg), what="creating mpijob ns/x")
    assert isinstance(err, ForbiddenError) and not isinstance(err, QuotaExceededError)


def test_invalid_with_causes_becomes_validation_error_with_field_paths() -> None:
    body = status(
        422,
        "Invalid",
        'admission webhook "mpijobs.validation.mpijob.io" denied the request: MPIJob.kubeflow.org "bad" is invalid: '
        "[spec.slotsPerWorker: Invalid value: 0: must be at least 1, spec.mpiReplicaSpecs[Worker].replicas: Invalid value: -1: must be at least 1]",
        name="bad",
        kind="MPIJob",
        causes=[
            {"reason": "FieldValueInvalid", "message": "Invalid value: 0: must be at least 1", "field": "spec.slotsPerWorker"},
            {"reason": "FieldValueInvalid", "message": "Invalid value: -1: must be at least 1", "field": "spec.mpiReplicaSpecs[Worker].replicas"},
        ],
    )
    err = error_from_status(422, body, what="creating mpijob ns/bad")
    assert isinstance(err, ValidationError) and isinstance(err, ValueError)
    assert err.field_path == "spec.slotsPerWorker"
    assert [c.field for c in err.causes] == ["spec.slotsPerWorker", "spec.mpiReplicaSpecs[Worker].replicas"]
    assert err.causes[0].reason == "FieldValueInvalid"
    assert "fix spec.mpiReplicaSpecs[Worker].replicas, spec.slotsPerWorker" in str(err)


def test_invalid_without_causes_finds_field_paths_in_the_message() -> None:
    msg = (
        'MPIJob.kubeflow.org "bad" is invalid: [metadata.labels[kueue.x-k8s.io/queue-name]: Invalid value: "nope": '
        'no LocalQueue "nope" in namespace ns; there are none, spec.mpiReplicaSpecs[Launcher].replicas: Invalid value: 2: must be 1]'
    )
    err = error_from_status(422, status(422, "Invalid", msg), what="creating")
    assert isinstance(err, ValidationError)
    assert [c.field for c in err.causes] == ["metadata.labels[kueue.x-k8s.io/queue-name]", "spec.mpiReplicaSpecs[Launcher].replicas"]
    assert err.field_path == "metadata.labels[kueue.x-k8s.io/queue-name]"
    assert err.causes[0].message == 'Invalid value: "nope": no LocalQueue "nope" in namespace ns; there are none'
    assert err.causes[1].message == "Invalid value: 2: must be 1"


@pytest.mark.parametrize(
    ("code", "reason", "message", "cls", "builtin", "hint"),
    [
        (403, "Forbidden", 'mpijobs.kubeflow.org is forbidden: User "alice" cannot create resource "mpijobs"', ForbiddenError, PermissionError, "mpijob-platform-user role"),
        (403, "Forbidden", 'admission webhook "x" denied the request: no', ForbiddenError, PermissionError, "denied the request"),
        (401, "Unauthorized", "Unauthorized", ForbiddenError, PermissionError, "log in again"),
        (404, "NotFound", 'mpijobs.kubeflow.org "x" not found', NotFoundError, LookupError, "not found"),
        (404, "NotFound", "the server could not find the requested resource", NotFoundError, LookupError, "not served by this cluster"),
        (409, "AlreadyExists", 'mpijobs.kubeflow.org "x" already exists', AlreadyExistsError, ValueError, "pick another name"),
        (500, "InternalError", "etcdserver: leader changed", APIError, RuntimeError, "leader changed"),
        (429, "TooManyRequests", "slow down", APIError, RuntimeError, "slow down"),
    ],
)
def test_status_codes_map_to_builtin_subclasses(code: int, reason: str, message: str, cls: type, builtin: type, hint: str) -> None:
    err = error_from_status(code, status(code, reason, message), what="doing")
    assert type(err) is cls
    assert isinstance(err, builtin)
    assert err.status == code and err.reason == reason
    assert hint in str(err)


def test_a_body_that_is_not_a_status_is_kept_as_text() -> None:
    err = error_from_status(502, b"<html>bad gateway</html>", what="reading")
    assert isinstance(err, APIError) and "bad gateway" in str(err) and err.reason == ""


def test_remediation_is_the_reasons_advice() -> None:
    assert remediation_for("OOMKilled", "worker-3 was OOMKilled at 16Gi: raise the worker memory limit") == (
        "raise the memory limit of the pods that were killed, or lower the batch size")
    assert remediation_for("SomethingNew") == "read the job's logs and events for the cause: job.get_logs(), kubectl describe mpijob"


def test_job_failed_error_message() -> None:
    e = JobFailedError("bert", "team-a", "ImagePullFailed", 'launcher cannot pull image "x" (ErrImagePull): not found: check the image name and tag')
    assert isinstance(e, RuntimeError)
    assert str(e) == ('mpijob team-a/bert failed: ImagePullFailed: launcher cannot pull image "x" (ErrImagePull): not found: check the image name and tag'
                      " (what to do: check the image name and tag, and that the namespace has a pull secret for its registry)")
    assert e.remediation == "check the image name and tag, and that the namespace has a pull secret for its registry"
    e2 = JobFailedError("bert", "team-a", "LauncherFailed", "the launcher Job failed")
    assert str(e2).endswith("(what to do: read the launcher's log for the cause)")


def test_wait_timeout_is_a_timeout_error() -> None:
    e = WaitTimeoutError("timed out", timeout=3)
    assert isinstance(e, TimeoutError) and e.timeout == 3


def test_warning_headers_are_split() -> None:
    v = '299 - "the job will queue: ClusterQueue q cannot admit it now", 299 - "say \\"hi\\""'
    assert split_warning_header(v) == ("the job will queue: ClusterQueue q cannot admit it now", 'say "hi"')
    assert split_warning_header("") == ()


@pytest.mark.parametrize(("q", "want"), [("2", "2"), ("500m", "0.5"), ("16Gi", str(16 * 2**30)), ("1e3", "1000"), ("1.5k", "1500")])
def test_parse_quantity(q: str, want: str) -> None:
    assert parse_quantity(q) == Decimal(want)


def test_parse_quantity_refuses_garbage() -> None:
    with pytest.raises(ValueError):
        parse_quantity("lots")
