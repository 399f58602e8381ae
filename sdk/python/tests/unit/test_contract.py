"""The contract fixtures in testdata/contract, which the Go library
(pkg/mpijob) and the console's front end load too: the SDK must give every
case the same verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import yaml

from openshift_ai_sdk.training import QuotaExceededError, ValidationError
from openshift_ai_sdk.training.errors import DENIAL_CAUSES, REMEDIATIONS, ForbiddenError, error_from_status
from openshift_ai_sdk.training.spec import JobParams, ResourceRequirements, build_manifest
from openshift_ai_sdk.training.status import PHASES, JobStatus

CONTRACT = Path(__file__).resolve().parents[4] / "testdata" / "contract"


def load(name: str) -> Dict[str, Any]:
    with open(CONTRACT / name, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    assert isinstance(data, dict)
    return data


PHASE = load("phase.yaml")
VALIDATION = load("validation.yaml")
QUOTA = load("quota.yaml")
DIAGNOSIS = load("diagnosis.yaml")
DENIAL = load("denial.yaml")


def test_remediations_are_the_platforms() -> None:
    assert REMEDIATIONS == {r["reason"]: r["remediation"] for r in DIAGNOSIS["reasons"]}


def test_the_phase_vocabulary_is_the_contracts() -> None:
    assert list(PHASES) == PHASE["phases"]


@pytest.mark.parametrize("case", PHASE["cases"], ids=[c["what"] for c in PHASE["cases"]])
def test_phase(case: Dict[str, Any]) -> None:
    job: Dict[str, Any] = {
        "metadata": {"name": "j", "namespace": "ns"},
        "spec": {"runPolicy": {"suspend": case["suspended"]}},
        "status": {"conditions": [{"type": t, "status": "True"} for t in case["conditions"]]},
    }
    if case["queued"]:
        job["metadata"]["labels"] = {"kueue.x-k8s.io/queue-name": "q"}
    assert JobStatus.from_dict(job).phase == case["phase"]


# The SDK names fields by their API paths; the contract by the jobspec's
# names. The first matching fragment wins.
FIELD_OF_PATH = [
    ("metadata.name", "name"),
    (".image", "image"),
    ("[Worker].replicas", "workers"),
    ("slotsPerWorker", "slotsPerWorker"),
    ("nvidia.com/gpu", "gpusPerWorker"),
    (".cpu", "cpu"),
    ("[cpu]", "cpu"),
    (".memory", "memory"),
    ("[memory]", "memory"),
    ("mpiImplementation", "mpiImplementation"),
    ("queue", "queue"),
    ("env", "env"),
    ("backoffLimit", "backoffLimit"),
    ("activeDeadlineSeconds", "activeDeadlineSeconds"),
]


def field_of(path: str) -> str:
    for fragment, name in FIELD_OF_PATH:
        if fragment in path:
            return name
    return path


def params(spec: Dict[str, Any]) -> JobParams:
    gpu = spec.get("gpusPerWorker")
    res: Optional[ResourceRequirements] = None
    if spec.get("cpu") or spec.get("memory") or gpu:
        res = ResourceRequirements(cpu=spec.get("cpu") or None, memory=spec.get("memory") or None, gpu=gpu or 0)
    return JobParams(
        name=spec["name"],
        image=spec["image"],
        command=spec["command"],
        workers=spec["workers"],
        resources=res,
        slots_per_worker=spec.get("slotsPerWorker") or None,
        env=spec.get("env"),
        queue=spec.get("queue"),
        mpi_implementation=spec.get("mpiImplementation") or "OpenMPI",
        backoff_limit=spec.get("backoffLimit"),
        active_deadline_seconds=spec.get("activeDeadlineSeconds"),
    )


@pytest.mark.parametrize("case", VALIDATION["cases"], ids=[c["what"] for c in VALIDATION["cases"]])
def test_validation(case: Dict[str, Any]) -> None:
    spec = {**VALIDATION["defaults"], **case["spec"]}
    want: List[str] = case["invalid"]
    try:
        build_manifest(params(spec))
    except ValidationError as e:
        got = [field_of(e.field_path or "")]
    else:
        got = []
    assert got == want


def test_quota_refusal_is_read_from_its_causes() -> None:
    err = error_from_status(403, QUOTA["status"], what="creating mpijob team-a/huge")
    assert isinstance(err, QuotaExceededError)
    got = [
        {"resource": s.resource, "requested": s.requested, "used": s.used, "available": s.available, "limit": s.limit, "where": s.quota, "note": s.note}
        for s in err.shortfalls
    ]
    want = [{**s, "note": s.get("note", "")} for s in QUOTA["shortfalls"]]
    assert got == want
    assert err.requested["requests.nvidia.com/gpu"] == "72"


def test_denial_causes_are_the_platforms() -> None:
    assert list(DENIAL_CAUSES) == DENIAL["denialCauses"]


@pytest.mark.parametrize("case", DENIAL["cases"], ids=[c["what"] for c in DENIAL["cases"]])
def test_denial(case: Dict[str, Any]) -> None:
    err = error_from_status(403, case["status"], what="creating mpijob team-a/train")
    by = case["refusedBy"]
    if by == "platform":
        assert isinstance(err, (ForbiddenError, QuotaExceededError))
        assert isinstance(err, QuotaExceededError) or err.denied_by_platform
    else:
        assert isinstance(err, ForbiddenError) and not err.denied_by_platform
    # Only a missing permission is answered with the role to ask for.
    assert ("mpijob-platform-user role (or edit)" in str(err)) == (by == "rbac")
