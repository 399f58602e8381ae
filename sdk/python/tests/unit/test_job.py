"""MPIJob against a fake API server: status, waiting, failures, workers, logs."""

from __future__ import annotations

import json
import warnings
from typing import Any, Dict, Iterator, List

import pytest

from openshift_ai_sdk.training import (
    AdmissionWarning,
    JobFailedError,
    LogsUnavailableError,
    MPIJob,
    NotFoundError,
    RetryPolicy,
    TrainingClient,
    WaitTimeoutError,
)
from openshift_ai_sdk.training.client import HTTPStatusError, Response, core_path, mpijobs_path
from openshift_ai_sdk.training.status import JobStatus, WorkerStatus

from .fakes import FakeTransport, Request, cond, fail, mpijob, ok

JOB = mpijobs_path("ns", "pi")
PODS = core_path("ns", "pods")
EVENTS = core_path("ns", "events")


def client(t: FakeTransport) -> TrainingClient:
    return TrainingClient(namespace="ns", transport=t, retry=RetryPolicy(max_attempts=2, initial_backoff=0, max_backoff=0))


def pod(name: str, role: str, index: int = 0, phase: str = "Running", **status: Any) -> Dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": "uid-" + name,
            "labels": {"training.kubeflow.org/job-name": "pi", "training.kubeflow.org/job-role": role,
                       "training.kubeflow.org/replica-index": str(index)},
            "creationTimestamp": "2025-01-01T00:00:01Z",
        },
        "spec": {"nodeName": "node-1", "containers": [{"name": f"mpi-{role}"}]},
        "status": {"phase": phase, **status},
    }


@pytest.mark.parametrize(
    ("conditions", "spec", "labels", "phase"),
    [
        ([], {}, {}, "Pending"),
        ([cond("Created")], {}, {}, "Created"),
        ([cond("Created"), cond("Running")], {}, {}, "Running"),
        ([cond("Created"), cond("Running"), cond("Restarting")], {}, {}, "Restarting"),
        ([cond("Created"), cond("Suspended")], {"runPolicy": {"suspend": True}}, {"kueue.x-k8s.io/queue-name": "q"}, "Queued"),
        ([cond("Created")], {"runPolicy": {"suspend": True}}, {}, "Suspended"),
        ([cond("Created"), cond("Running", "False"), cond("Succeeded")], {}, {}, "Succeeded"),
        ([cond("Created"), cond("Failed", reason="OOMKilled")], {}, {}, "Failed"),
    ],
)
def test_phase_follows_the_conditions_like_the_cli(conditions: List[Dict[str, str]], spec: Dict[str, Any], labels: Dict[str, str], phase: str) -> None:
    obj = mpijob(conditions=conditions, **spec)
    obj["metadata"]["labels"] = labels
    assert JobStatus.from_dict(obj).phase == phase


def test_status_says_why_a_job_cannot_start() -> None:
    obj = mpijob(conditions=[cond("Created"), cond("Running", "False", "Unschedulable", "2 pod(s) cannot be scheduled")])
    st = JobStatus.from_dict(obj)
    assert (st.phase, st.reason) == ("Created", "Unschedulable")
    assert "Unschedulable: 2 pod(s) cannot be scheduled" in st.describe()


def test_status_says_whether_the_controller_saw_the_latest_spec() -> None:
    obj = mpijob(conditions=[cond("Created")])
    obj["metadata"]["generation"] = 3
    assert JobStatus.from_dict(obj).observed_generation is None
    assert JobStatus.from_dict(obj).up_to_date  # an upstream controller reports nothing
    obj["status"]["observedGeneration"] = 2
    st = JobStatus.from_dict(obj)
    assert (st.generation, st.observed_generation, st.up_to_date) == (3, 2, False)
    obj["status"]["observedGeneration"] = 3
    assert JobStatus.from_dict(obj).up_to_date


def test_wait_returns_on_success_and_reports_phase_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda s: None)
    t = FakeTransport().on(
        "GET", JOB,
        ok(mpijob(conditions=[cond("Created")])),
        ok(mpijob(conditions=[cond("Created"), cond("Running")])),
        ok(mpijob(conditions=[cond("Created"), cond("Running")])),
        ok(mpijob(conditions=[cond("Created"), cond("Running", "False"), cond("Succeeded")])),
    )
    seen: List[str] = []
    st = MPIJob.from_dict(mpijob(), client=client(t)).wait_for_completion(timeout=60, poll_interval=0.01, callback=lambda s: seen.append(s.phase))
    assert st.succeeded
    assert seen == ["Created", "Running", "Succeeded"]


def test_wait_raises_job_failed_with_the_diagnosis_and_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda s: None)
    msg = "worker-3 was OOMKilled at 16Gi: raise the worker memory limit or lower the batch size"
    t = FakeTransport().on("GET", JOB, ok(mpijob(conditions=[cond("Created"), cond("Failed", reason="OOMKilled", message=msg)])))
    t.on("GET", EVENTS, ok({"items": [
        {"type": "Normal", "reason": "Created", "message": "created", "lastTimestamp": "2025-01-01T00:00:01Z"},
        {"type": "Warning", "reason": "OOMKilled", "message": msg, "lastTimestamp": "2025-01-01T00:00:09Z"},
        {"type": "Warning", "reason": "WorkerRestarted", "message": "worker-1 restarted", "lastTimestamp": "2025-01-01T00:00:05Z"},
    ]}))
    with pytest.raises(JobFailedError) as err:
        MPIJob.from_dict(mpijob(), client=client(t)).wait_for_completion(timeout=60)
    e = err.value
    assert (e.reason, e.diagnosis, e.remediation) == ("OOMKilled", msg, "raise the memory limit of the pods that were killed, or lower the batch size")
    assert e.events == ["WorkerRestarted: worker-1 restarted", f"OOMKilled: {msg}"]
    assert e.name == "pi" and e.namespace == "ns"
    assert t.calls("GET", EVENTS)[0].query["fieldSelector"] == "involvedObject.kind=MPIJob,involvedObject.name=pi"


def test_wait_times_out_saying_where_the_job_is(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr("time.monotonic", lambda: clock[0])

    def sleep(s: float) -> None:
        clock[0] += s

    monkeypatch.setattr("time.sleep", sleep)
    queued = mpijob(conditions=[cond("Created"), cond("Suspended")], runPolicy={"suspend": True})
    queued["metadata"]["labels"] = {"kueue.x-k8s.io/queue-name": "gpus"}
    t = FakeTransport().on("GET", JOB, ok(queued))
    with pytest.raises(WaitTimeoutError) as err:
        MPIJob.from_dict(mpijob(), client=client(t)).wait_for_completion(timeout=10, poll_interval=2)
    assert "timed out after 10 s waiting for mpijob ns/pi to finish: it is still queued in gpus" in str(err.value)
    assert err.value.job_status is not None and err.value.job_status.phase == "Queued"
    assert len(t.calls("GET", JOB)) == 6  # t = 0, 2, 4, 6, 8, 10


def test_wait_keeps_going_through_server_errors_until_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr("time.monotonic", lambda: clock[0])
    monkeypatch.setattr("time.sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    t = FakeTransport().on("GET", JOB, fail(503, "ServiceUnavailable", "apiserver restarting"))
    with pytest.raises(WaitTimeoutError, match="it could not be read: .*apiserver restarting"):
        MPIJob.from_dict(mpijob(), client=client(t)).wait_for_completion(timeout=4, poll_interval=1)


def test_wait_on_a_deleted_job_raises_not_found(monkeypatch: pytest.MonkeyPatch) -> None:
    t = FakeTransport().on("GET", JOB, fail(404, "NotFound", 'mpijobs.kubeflow.org "pi" not found'))
    with pytest.raises(NotFoundError, match="deleted while waiting"):
        MPIJob.from_dict(mpijob(), client=client(t)).wait_for_completion(timeout=4)


def test_worker_statuses() -> None:
    t = FakeTransport().on("GET", PODS, ok({"items": [
        pod("pi-worker-1", "worker", 1, "Pending", conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/4 nodes"}]),
        pod("pi-worker-0", "worker", 0, "Failed", containerStatuses=[{"restartCount": 2, "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]),
    ]}))
    ws = MPIJob.from_dict(mpijob(), client=client(t)).get_worker_statuses()
    assert ws == [
        WorkerStatus(0, "pi-worker-0", "Failed", False, "node-1", 2, "OOMKilled", "", 137),
        WorkerStatus(1, "pi-worker-1", "Pending", False, "node-1", 0, "Unschedulable", "0/4 nodes", None),
    ]
    assert t.requests[0].query["labelSelector"] == "training.kubeflow.org/job-name=pi,training.kubeflow.org/job-role=worker"


class FakeStream:
    def __init__(self, chunks: List[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def stream(self, amt: int, decode_content: bool = True) -> Iterator[bytes]:
        yield from self.chunks

    def release_conn(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def log_route(text: Dict[str, List[bytes]]) -> Any:
    def answer(req: Request) -> Any:
        name = req.path.split("/")[-2]
        if name not in text:
            return HTTPStatusError(500, json.dumps({"kind": "Status", "code": 500, "message": f'Get "https://:10250/containerLogs/ns/{name}/c": dial tcp :10250: connect: connection refused'}).encode(), {})
        return Response(200, {}, b"", FakeStream(text[name]))

    return answer


def logs_fake(pods: List[Dict[str, Any]], text: Dict[str, List[bytes]], finished: bool = True) -> FakeTransport:
    t = FakeTransport().on("GET", PODS, ok({"items": pods}))
    t.on("GET", JOB, ok(mpijob(conditions=[cond("Succeeded")] if finished else [cond("Running")])))
    for p in pods:
        t.on("GET", core_path("ns", "pods", p["metadata"]["name"], "log"), log_route(text))
    return t


def test_logs_of_the_launcher_by_default() -> None:
    pods = [pod("pi-worker-0", "worker", 0), pod("pi-launcher-x", "launcher")]
    t = logs_fake(pods, {"pi-launcher-x": [b"rank 0: pi is ", b"3.14\nrank 1: done\n"], "pi-worker-0": [b"sshd\n"]})
    assert MPIJob.from_dict(mpijob(), client=client(t)).get_logs() == "rank 0: pi is 3.14\nrank 1: done\n"
    [req] = t.calls("GET", core_path("ns", "pods", "pi-launcher-x", "log"))
    assert req.stream and req.query["container"] == "mpi-launcher" and "follow" not in req.query


def test_logs_of_one_worker_and_of_all_pods_with_prefixes() -> None:
    pods = [pod("pi-worker-1", "worker", 1), pod("pi-worker-0", "worker", 0), pod("pi-launcher-x", "launcher")]
    t = logs_fake(pods, {"pi-launcher-x": [b"L\n"], "pi-worker-0": [b"W0\n"], "pi-worker-1": [b"W1a\nW1b"]})
    job = MPIJob.from_dict(mpijob(), client=client(t))
    assert job.get_logs(worker=1, tail_lines=5) == "W1a\nW1b\n"
    assert t.calls("GET", core_path("ns", "pods", "pi-worker-1", "log"))[0].query["tailLines"] == 5
    assert job.get_logs(worker="all") == "[pi-launcher-x] L\n[pi-worker-0] W0\n[pi-worker-1] W1a\n[pi-worker-1] W1b\n"
    assert job.get_logs(launcher=False, worker="all") == "[pi-worker-0] W0\n[pi-worker-1] W1a\n[pi-worker-1] W1b\n"
    with pytest.raises(ValueError):
        job.get_logs(launcher=False)
    with pytest.raises(ValueError):
        job.get_logs(worker=-1)


def test_logs_a_kubelet_cannot_serve_raise_a_clear_error_with_what_was_read() -> None:
    pods = [pod("pi-launcher-x", "launcher"), pod("pi-worker-0", "worker", 0)]
    t = logs_fake(pods, {"pi-launcher-x": [b"L\n"]})
    with pytest.raises(LogsUnavailableError) as err:
        MPIJob.from_dict(mpijob(), client=client(t)).get_logs(worker="all")
    assert "logs of pod pi-worker-0: the API server cannot reach the kubelet of node-1" in str(err.value)
    assert "the node may be down or unreachable" in str(err.value)
    assert err.value.partial == "[pi-launcher-x] L\n"


def test_logs_of_pods_not_started_or_gone() -> None:
    t = logs_fake([pod("pi-launcher-x", "launcher", phase="Pending")], {})
    with pytest.raises(LogsUnavailableError, match="pod pi-launcher-x has not started yet .phase Pending.; use follow=True"):
        MPIJob.from_dict(mpijob(), client=client(t)).get_logs()
    t = logs_fake([], {})
    with pytest.raises(LogsUnavailableError, match="no pods found"):
        MPIJob.from_dict(mpijob(), client=client(t)).get_logs()


def test_logs_of_a_worker_the_job_does_not_have_is_a_usage_error() -> None:
    t = logs_fake([pod("pi-launcher-x", "launcher"), pod("pi-worker-0", "worker", 0)], {})
    job = MPIJob.from_dict(mpijob(), client=client(t))
    with pytest.raises(ValueError, match=r"mpijob ns/pi has 2 worker\(s\): worker takes 0 to 1, not 2"):
        job.get_logs(worker=2)
    with pytest.raises(ValueError, match="not 7"):
        job.get_logs(worker=7, follow=True)
    assert not [r for r in t.requests if r.path.endswith("/log")]


def test_follow_of_a_finished_job_without_pods_says_so() -> None:
    t = logs_fake([], {})
    it = MPIJob.from_dict(mpijob(), client=client(t)).get_logs(worker="all", follow=True, poll_interval=0.01)
    with pytest.raises(LogsUnavailableError, match="no pods found for the job .a finished job's pods may have been cleaned up."):
        next(it)


def test_follow_multiplexes_pods_as_they_start_until_the_job_ends() -> None:
    launcher = pod("pi-launcher-x", "launcher")
    w0 = pod("pi-worker-0", "worker", 0, "Pending")
    w0_running = pod("pi-worker-0", "worker", 0)
    lists = [[launcher, w0], [launcher, w0_running]]
    t = FakeTransport().on("GET", PODS, *[ok({"items": items}) for items in lists])
    t.on("GET", JOB, ok(mpijob(conditions=[cond("Running")])), ok(mpijob(conditions=[cond("Succeeded")])))
    t.on("GET", core_path("ns", "pods", "pi-launcher-x", "log"), log_route({"pi-launcher-x": [b"a\n", b"b\n"]}))
    t.on("GET", core_path("ns", "pods", "pi-worker-0", "log"), log_route({"pi-worker-0": [b"w\n"]}))
    lines = list(MPIJob.from_dict(mpijob(), client=client(t)).get_logs(worker="all", follow=True, poll_interval=0.01))
    assert sorted(lines) == ["[pi-launcher-x] a", "[pi-launcher-x] b", "[pi-worker-0] w"]
    assert lines.index("[pi-launcher-x] a") < lines.index("[pi-launcher-x] b")
    assert all(r.query.get("follow") == "true" for r in t.requests if r.path.endswith("/log"))
    assert len(t.calls("GET", core_path("ns", "pods", "pi-worker-0", "log"))) == 1


def test_follow_raises_after_the_last_line_when_a_log_failed() -> None:
    t = logs_fake([pod("pi-launcher-x", "launcher"), pod("pi-worker-0", "worker", 0)], {"pi-launcher-x": [b"ok\n"]})
    it = MPIJob.from_dict(mpijob(), client=client(t)).get_logs(worker="all", follow=True, poll_interval=0.01)
    got = []
    with pytest.raises(LogsUnavailableError, match="logs of pod pi-worker-0"):
        for line in it:
            got.append(line)
    assert got == ["[pi-launcher-x] ok"]


def test_create_surfaces_admission_warnings() -> None:
    t = FakeTransport().on("POST", mpijobs_path("ns"), ok({"metadata": {"uid": "u"}}, {"Warning": '299 - "the job will queue: ClusterQueue q cannot admit it now"'}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        job = MPIJob("pi", "img", "mpirun x", client=client(t)).create()
    assert job.warnings == ["the job will queue: ClusterQueue q cannot admit it now"]
    assert [w.category for w in caught] == [AdmissionWarning]
    assert "mpijob ns/pi: the job will queue" in str(caught[0].message)


def test_list_get_and_delete() -> None:
    a = mpijob("a", conditions=[cond("Succeeded")])
    b = mpijob("b")
    b["metadata"]["creationTimestamp"] = "2024-01-01T00:00:00Z"
    t = FakeTransport().on("GET", mpijobs_path("ns"), ok({"items": [a, b]}))
    t.on("GET", mpijobs_path(None), ok({"items": [a]}))
    t.on("DELETE", mpijobs_path("ns", "a"), ok({}))
    t.on("GET", mpijobs_path("ns", "a"), ok(a), fail(404, "NotFound", "gone"))
    c = client(t)
    jobs = MPIJob.list(client=c, label_selector="team=a")
    assert [j.name for j in jobs] == ["b", "a"]  # oldest first
    assert t.calls("GET", mpijobs_path("ns"))[0].query == {"labelSelector": "team=a"}
    assert jobs[1].status is not None and jobs[1].status.phase == "Succeeded"
    assert [j.name for j in MPIJob.list(all_namespaces=True, client=c)] == ["a"]
    jobs[1].delete(wait=True, timeout=5)
    [d] = t.calls("DELETE", mpijobs_path("ns", "a"))
    assert d.body["propagationPolicy"] == "Background"
