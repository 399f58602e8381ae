"""Helpers of the integration suite: kwok-driven jobs, namespaces, polling."""

from __future__ import annotations

import json
import os
import random
import string
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from openshift_ai_sdk.training import MPIJob, NotFoundError, ResourceRequirements, TrainingClient
from openshift_ai_sdk.training.client import core_path

FINISH_AFTER = "devcluster.mpijob.io/finish-after"
EXIT_CODE = "devcluster.mpijob.io/exit-code"
REASON = "devcluster.mpijob.io/reason"
IMAGE = "mpioperator/mpi-pi:openmpi"

# What every simulated container logs (tools/devcluster/cluster.ContainerLogLines,
# which the Go driver passes as SDK_TEST_LOG_LINES), with fixed timestamps
# from 2026-01-01.
LOG_LINES: List[str] = json.loads(
    os.environ.get("SDK_TEST_LOG_LINES")
    or '["kwok: simulated container started", "kwok: rank 0 of 1 ready", "kwok: done"]'
)
LOG = "".join(line + "\n" for line in LOG_LINES)


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


def grant_edit(admin: TrainingClient, namespace: str, user: str) -> None:
    """Bind ServiceAccount user (system:serviceaccount:NS:NAME) to edit in namespace."""
    _, _, sa_ns, sa_name = user.split(":", 3)
    admin.json(
        "binding the user to edit",
        "POST",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
        body={
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "user-edit"},
            "subjects": [{"kind": "ServiceAccount", "namespace": sa_ns, "name": sa_name}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        },
    )


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


def collect(lines: Iterator[str], timeout: float = 90.0, until: Optional[Callable[[List[str]], bool]] = None) -> List[str]:
    """Read a followed log in a thread until it ends (or ``until`` says
    enough, which stops it early), and fail, rather than hang, when that has
    not happened after ``timeout``. Re-raises what the iterator raised."""
    got: List[str] = []
    raised: List[BaseException] = []

    def run() -> None:
        try:
            for line in lines:
                got.append(line)
                if until is not None and until(got):
                    break  # closes the generator: every open log
        except BaseException as err:  # noqa: BLE001 - re-raised below
            raised.append(err)

    t = threading.Thread(target=run, name="collect-logs", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        pytest.fail(f"the followed log did not end within {timeout} s; read so far: {got!r}")
    if raised:
        raise raised[0]
    return got


def by_pod(lines: List[str]) -> Dict[str, List[str]]:
    """Split ``[pod-name] line`` lines by pod, keeping each pod's order."""
    out: Dict[str, List[str]] = {}
    for line in lines:
        assert line.startswith("[") and "] " in line, f"not prefixed with its pod: {line!r}"
        pod, text = line[1:].split("] ", 1)
        out.setdefault(pod, []).append(text)
    return out
