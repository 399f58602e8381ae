"""Helpers of the integration suite: kwok-driven jobs, namespaces, polling."""

from __future__ import annotations

import random
import string
import time
from typing import Any, Callable, Dict, List, Optional

import pytest

from openshift_ai_sdk.training import MPIJob, NotFoundError, ResourceRequirements, TrainingClient
from openshift_ai_sdk.training.client import core_path

FINISH_AFTER = "devcluster.mpijob.io/finish-after"
EXIT_CODE = "devcluster.mpijob.io/exit-code"
REASON = "devcluster.mpijob.io/reason"
IMAGE = "mpioperator/mpi-pi:openmpi"


def _suffix() -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=5))


def create_namespace(client: TrainingClient, prefix: str) -> str:
    name = f"{prefix}-{_suffix()}"
    client.json(f"creating namespace {name}", "POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def delete_namespace(client: TrainingClient, name: str) -> None:
    try:
        client.call(f"deleting namespace {name}", "DELETE", f"/api/v1/namespaces/{name}")
    except NotFoundError:
        pass


def kwok_job(
    client: TrainingClient,
    name: str,
    *,
    finish_after: Optional[str] = "1s",
    launcher_exit_code: int = 0,
    worker_annotations: Optional[Dict[str, str]] = None,
    **kw: Any,
) -> MPIJob:
    """An MPIJob whose launcher kwok ends after ``finish_after`` with
    ``launcher_exit_code`` (runs for ever with ``None``)."""
    kw.setdefault("workers", 2)
    kw.setdefault("resources", ResourceRequirements(cpu=1, memory="1Gi"))
    job = MPIJob(name, IMAGE, ["mpirun", "-n", str(kw["workers"]), "/home/mpiuser/pi"], client=client, **kw)
    d = job.to_dict()
    specs = d["spec"]["mpiReplicaSpecs"]
    if finish_after is not None:
        specs["Launcher"]["template"].setdefault("metadata", {}).setdefault("annotations", {}).update(
            {FINISH_AFTER: finish_after, EXIT_CODE: str(launcher_exit_code)}
        )
    if worker_annotations:
        specs["Worker"]["template"].setdefault("metadata", {}).setdefault("annotations", {}).update(worker_annotations)
    return MPIJob.from_dict(d, client=client)


def eventually(what: str, cond: Callable[[], Any], timeout: float = 90.0) -> Any:
    """Poll ``cond`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout} s waiting for {what}; last: {last!r}")


def pods(client: TrainingClient, namespace: str, selector: str = "") -> List[Dict[str, Any]]:
    obj = client.json("listing pods", "GET", core_path(namespace, "pods"), query={"labelSelector": selector or None})
    return list(obj.get("items") or [])
