"""The SDK against a real cluster: apiserver, admission webhooks, controller,
scheduler, Kueue and kwok nodes."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import List

import pytest

from openshift_ai_sdk.training import (
    AlreadyExistsError,
    ForbiddenError,
    JobFailedError,
    JobStatus,
    LogsUnavailableError,
    MPIJob,
    NotFoundError,
    QuotaExceededError,
    ResourceRequirements,
    TrainingClient,
    ValidationError,
    WaitTimeoutError,
)
from openshift_ai_sdk.training.client import core_path, mpijobs_path
from openshift_ai_sdk.training.logs import pod_name

from .cluster_helpers import (
    EXIT_CODE,
    FINISH_AFTER,
    IMAGE,
    LOG,
    LOG_LINES,
    REASON,
    by_pod,
    collect,
    create_namespace,
    delete_namespace,
    eventually,
    grant_edit,
    kwok_job,
    pods,
)


def test_create_wait_succeeded_get_list_and_logs(client: TrainingClient, admin: TrainingClient, namespace: str, tmp_path: Path) -> None:
    job = kwok_job(client, "ok", clean_pod_policy="None")
    # Through YAML and back, as a user keeping manifests in git would.
    path = tmp_path / "ok.yaml"
    path.write_text(job.to_yaml())
    job = MPIJob.from_yaml(path, client=client)

    start = time.perf_counter()
    job.create()
    latency = time.perf_counter() - start
    print(f"\nSDK create() submit-to-accepted: {latency * 1000:.0f} ms", file=sys.stderr)
    assert job.uid, "create() keeps the server's object"
    assert job.namespace == namespace

    phases: List[str] = []
    st = job.wait_for_completion(timeout=120, poll_interval=0.5, callback=lambda s: phases.append(s.phase))
    assert st.succeeded and st.phase == "Succeeded" and st.finished
    assert phases[-1] == "Succeeded"
    assert st.completion_time is not None
    assert st.replica_statuses["Launcher"].succeeded == 1

    got = MPIJob.get("ok", client=client)
    assert got.uid == job.uid
    assert got.to_dict()["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] == 2
    assert got.status is not None and got.status.phase == "Succeeded"
    listed = MPIJob.list(client=client)
    assert "ok" in [j.name for j in listed]
    everywhere = MPIJob.list(all_namespaces=True, client=admin)  # a data scientist sees only their namespace
    assert (namespace, "ok") in [(j.namespace, j.name) for j in everywhere]

    workers = job.get_worker_statuses()
    assert [w.index for w in workers] == [0, 1]
    assert [w.pod_name for w in workers] == ["ok-worker-0", "ok-worker-1"]

    # Every simulated container logs LOG_LINES (kwok serves the kubelet API),
    # read through the API server like any log.
    [launcher] = [pod_name(p) for p in pods(client, namespace, "training.kubeflow.org/job-name=ok,training.kubeflow.org/job-role=launcher")]
    assert job.get_logs() == LOG, "the launcher's log by default"
    assert job.get_logs(worker=1) == LOG
    assert job.get_logs(worker=0, tail_lines=1) == LOG_LINES[-1] + "\n"
    assert job.get_logs(tail_lines=2) == "".join(line + "\n" for line in LOG_LINES[-2:])
    # kwok's lines are dated 2026-01-01: a since_seconds filter selects none.
    assert job.get_logs(since_seconds=3600) == ""
    # Every pod: each line prefixed with its pod, pods in display order.
    order = [launcher, "ok-worker-0", "ok-worker-1"]
    assert job.get_logs(worker="all") == "".join(f"[{p}] {line}\n" for p in order for line in LOG_LINES)
    assert job.get_logs(launcher=False, worker="all") == "".join(f"[{p}] {line}\n" for p in order[1:] for line in LOG_LINES)
    with pytest.raises(ValueError, match="ok has 2 worker.s.: worker takes 0 to 1, not 2"):
        job.get_logs(worker=2)

    # Following the finished job ends by itself: the launcher has ended and is
    # read once; the workers still run (clean_pod_policy None) and kwok never
    # ends their streams, which are closed once quiet since the job is over.
    followed = collect(job.get_logs(worker="all", follow=True, poll_interval=0.2), timeout=60)
    assert by_pod(followed) == {p: LOG_LINES for p in order}
    assert collect(job.get_logs(follow=True, poll_interval=0.2), timeout=60) == LOG_LINES
    assert collect(job.get_logs(worker=1, follow=True, poll_interval=0.2), timeout=60) == LOG_LINES

    with pytest.raises(AlreadyExistsError):
        kwok_job(client, "ok").create()


def test_create_latency(client: TrainingClient) -> None:
    """Submit-to-accepted of create() on a warm client (the webhooks included)."""
    samples = []
    for i in range(5):
        job = kwok_job(client, f"latency-{i}", finish_after="1s")
        start = time.perf_counter()
        job.create()
        samples.append(time.perf_counter() - start)
        assert job.uid
    print(
        f"\nSDK create() latency over {len(samples)} jobs: p50 {statistics.median(samples) * 1000:.0f} ms, "
        f"max {max(samples) * 1000:.0f} ms",
        file=sys.stderr,
    )
    for i in range(5):
        MPIJob.get(f"latency-{i}", client=client).delete()


def test_running_job_workers_timeout_and_delete(client: TrainingClient, namespace: str) -> None:
    job = kwok_job(client, "forever", finish_after=None).create()

    def all_running() -> bool:
        ws = job.get_worker_statuses()
        return len(ws) == 2 and all(w.phase == "Running" and w.ready and w.node for w in ws)

    eventually("both workers Running and Ready", all_running)
    eventually("the job Running", lambda: job.get_status().phase == "Running")

    started = time.monotonic()
    with pytest.raises(WaitTimeoutError) as err:
        job.wait_for_completion(timeout=2, poll_interval=0.5)
    assert time.monotonic() - started < 30
    assert isinstance(err.value, TimeoutError)
    assert "still running" in str(err.value)
    assert err.value.job_status is not None and err.value.job_status.phase == "Running"

    # The logs of a running job, now and followed. Following does not end
    # while the job runs: stop once every pod has logged every line, which
    # closes the streams, and the client keeps working (the delete below
    # reuses its connections).
    assert job.get_logs(worker=0) == LOG
    [launcher] = [pod_name(p) for p in pods(client, namespace, "training.kubeflow.org/job-name=forever,training.kubeflow.org/job-role=launcher")]
    want = {p: LOG_LINES for p in (launcher, "forever-worker-0", "forever-worker-1")}
    followed = collect(
        job.get_logs(worker="all", follow=True, poll_interval=0.2), timeout=60, until=lambda got: by_pod(got) == want
    )
    assert by_pod(followed) == want

    job.delete(wait=True, timeout=60)
    with pytest.raises(NotFoundError) as gone:
        MPIJob.get("forever", client=client)
    assert isinstance(gone.value, LookupError)
    with pytest.raises(NotFoundError):
        job.delete()
    job.delete(missing_ok=True)
    eventually("the job's pods deleted by garbage collection", lambda: not pods(client, namespace, "training.kubeflow.org/job-name=forever"))


def test_follow_waits_for_the_pods_and_ends_with_the_job(client: TrainingClient, namespace: str) -> None:
    """Followed from the moment it is created (no pod yet), a job's logs come
    from the launcher and both workers as they start, and the iterator ends
    once the job has succeeded: kwok never ends a followed stream, so those of
    the launcher that ended and of the workers cleanPodPolicy Running deleted
    are closed once quiet."""
    job = kwok_job(client, "followed", finish_after="5s").create()
    followed = collect(job.get_logs(worker="all", follow=True, poll_interval=0.2), timeout=120)
    assert job.get_status().phase == "Succeeded"
    [launcher] = [pod_name(p) for p in pods(client, namespace, "training.kubeflow.org/job-name=followed,training.kubeflow.org/job-role=launcher")]
    assert by_pod(followed) == {p: LOG_LINES for p in (launcher, "followed-worker-0", "followed-worker-1")}


def test_logs_of_a_failed_job_whose_pods_were_cleaned_up(client: TrainingClient, namespace: str) -> None:
    """Where logs really are unavailable: the Job controller deletes the pod of
    a launcher that failed past its backoffLimit (restartPolicy OnFailure),
    and cleanPodPolicy Running the workers."""
    job = kwok_job(client, "crashed", launcher_exit_code=1, backoff_limit=0).create()
    with pytest.raises(JobFailedError):
        job.wait_for_completion(timeout=120, poll_interval=0.5)
    eventually("the failed job's pods deleted", lambda: not pods(client, namespace, "training.kubeflow.org/job-name=crashed"))
    with pytest.raises(LogsUnavailableError, match="no pods found for the job") as err:
        job.get_logs(worker="all")
    assert isinstance(err.value, RuntimeError) and err.value.partial == ""
    with pytest.raises(LogsUnavailableError, match="no pods found for the job"):
        collect(job.get_logs(worker="all", follow=True, poll_interval=0.2), timeout=60)


def test_failing_job_raises_the_diagnosis(client: TrainingClient, namespace: str) -> None:
    job = kwok_job(
        client,
        "oom",
        finish_after=None,
        resources=ResourceRequirements(cpu=1, memory="1Gi"),
        worker_annotations={FINISH_AFTER: "1s", EXIT_CODE: "137", REASON: "OOMKilled"},
    ).create()
    with pytest.raises(JobFailedError) as err:
        job.wait_for_completion(timeout=120, poll_interval=0.5)
    e = err.value
    assert isinstance(e, RuntimeError)
    assert e.reason == "OOMKilled"
    assert "was OOMKilled at 1Gi" in e.diagnosis
    assert e.remediation == "raise the memory limit of the pods that were killed, or lower the batch size"
    # The diagnosis is the controller's, as written in the Failed condition.
    obj = client.json("reading", "GET", mpijobs_path(namespace, "oom"))
    failed = [c for c in obj["status"]["conditions"] if c["type"] == "Failed" and c["status"] == "True"]
    assert failed and failed[0]["message"] == e.diagnosis and failed[0]["reason"] == e.reason
    assert any(ev.startswith("OOMKilled: ") for ev in e.events), e.events
    assert e.job_status is not None and e.job_status.failed
    assert f"mpijob {namespace}/oom failed: OOMKilled: " in str(e)
    st: JobStatus = job.get_status()
    assert st.phase == "Failed" and st.reason == "OOMKilled"


def test_over_quota_is_refused_before_any_pod(admin: TrainingClient, user: str, user_kubeconfig: str) -> None:
    ns = create_namespace(admin, "sdk-quota")
    try:
        grant_edit(admin, ns, user)
        admin.json(
            "creating a quota",
            "POST",
            core_path(ns, "resourcequotas"),
            body={
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": {"name": "compute"},
                "spec": {"hard": {"requests.cpu": "2", "requests.memory": "8Gi"}},
            },
        )
        # The webhook reads quotas from its cache: wait until it sees this one.
        scientist = TrainingClient(kubeconfig=user_kubeconfig, namespace=ns)
        job = kwok_job(scientist, "huge", workers=4, resources=ResourceRequirements(cpu=1, memory="1Gi"))

        def refused() -> QuotaExceededError | None:
            try:
                job.create()
            except QuotaExceededError as e:
                return e
            except ForbiddenError:  # the RoleBinding is not in force yet
                return None
            job.delete(wait=True)
            return None

        e: QuotaExceededError = eventually("the quota refusal", refused, timeout=30)
        assert isinstance(e, ValueError) and e.status == 403
        assert e.requested == {"requests.cpu": "4"}
        assert e.used == {"requests.cpu": "0"}
        assert e.available == {"requests.cpu": "2"}
        assert e.limit == {"requests.cpu": "2"}
        assert e.shortfalls[0].quota == f"ResourceQuota {ns}/compute"
        assert "lower the workers" in str(e)
        assert not pods(admin, ns), "no pod may exist for a refused job"
        assert MPIJob.list(client=scientist) == []
    finally:
        delete_namespace(admin, ns)


def test_validation_errors_carry_the_field_path(client: TrainingClient) -> None:
    # Caught before any request.
    with pytest.raises(ValidationError) as local:
        MPIJob("Bad_Name", IMAGE, "mpirun /pi", client=client)
    assert local.value.field_path == "metadata.name"
    with pytest.raises(ValidationError) as local_workers:
        MPIJob("w", IMAGE, "mpirun /pi", workers=0, client=client)
    assert local_workers.value.field_path == "spec.mpiReplicaSpecs[Worker].replicas"

    # Refused by the server's admission webhook (422).
    d = kwok_job(client, "invalid").to_dict()
    d["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] = -1
    d["spec"]["slotsPerWorker"] = 0
    with pytest.raises(ValidationError) as remote:
        MPIJob.from_dict(d, client=client).create()
    e = remote.value
    assert isinstance(e, ValueError) and e.status == 422
    fields = {c.field for c in e.causes}
    assert {"spec.mpiReplicaSpecs[Worker].replicas", "spec.slotsPerWorker"} <= fields, e.causes
    assert e.field_path in fields
    assert "must be at least 1" in str(e)

    # A queue that does not exist is a field error listing those that do.
    with pytest.raises(ValidationError) as queue:
        kwok_job(client, "queued", queue="nope").create()
    assert queue.value.field_path == "metadata.labels[kueue.x-k8s.io/queue-name]"
    assert 'no LocalQueue "nope"' in str(queue.value)


def test_forbidden_for_a_user_without_rights(admin: TrainingClient, kubeconfig: str) -> None:
    """A service account without RBAC is refused with ForbiddenError (a PermissionError)."""
    ns = create_namespace(admin, "sdk-rbac")
    try:
        admin.json("creating a service account", "POST", core_path(ns, "serviceaccounts"),
                   body={"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "nobody"}})
        token = admin.json(
            "requesting a token", "POST", core_path(ns, "serviceaccounts", "nobody", "token"),
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}},
        )["status"]["token"]
        from kubernetes import client as kclient
        from kubernetes import config as kconfig

        cfg = kclient.Configuration()
        kconfig.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
        cfg.api_key = {"authorization": "Bearer " + token}
        cfg.cert_file = cfg.key_file = None
        from openshift_ai_sdk.training.client import HTTPTransport

        nobody = TrainingClient(namespace=ns, transport=HTTPTransport(cfg))
        with pytest.raises(ForbiddenError) as err:
            kwok_job(nobody, "nope").create()
        assert isinstance(err.value, PermissionError) and err.value.status == 403
        assert "cannot create resource" in str(err.value)
        with pytest.raises(ForbiddenError):
            MPIJob.list(client=nobody)
    finally:
        delete_namespace(admin, ns)
