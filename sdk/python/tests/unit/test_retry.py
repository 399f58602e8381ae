"""Retries: exponential backoff with full jitter for 429, 5xx and dropped
connections; never for other 4xx."""

from __future__ import annotations

from typing import List

import pytest
from urllib3.exceptions import NewConnectionError, ProtocolError

from openshift_ai_sdk.training import (
    APIError,
    ClusterUnreachableError,
    MPIJob,
    NotFoundError,
    QuotaExceededError,
    RetryPolicy,
    TrainingClient,
    ValidationError,
)
from openshift_ai_sdk.training.client import mpijobs_path

from .fakes import FakeTransport, fail, mpijob, ok


class Sleeps:
    def __init__(self) -> None:
        self.slept: List[float] = []

    def __call__(self, s: float) -> None:
        self.slept.append(s)


def test_backoff_caps_grow_exponentially_up_to_the_maximum() -> None:
    p = RetryPolicy(initial_backoff=0.2, max_backoff=1.0, multiplier=2.0)
    assert [p.backoff(n, lambda: 1.0) for n in range(1, 6)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    # Full jitter: anywhere between 0 and the cap.
    assert p.backoff(3, lambda: 0.5) == pytest.approx(0.4)
    assert p.backoff(3, lambda: 0.0) == 0.0


@pytest.mark.parametrize("code", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_then_succeed(code: int) -> None:
    calls = []

    def fn() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise fail(code, "X", "busy")
        return "done"

    sleeps = Sleeps()
    assert RetryPolicy().call(fn, sleep=sleeps, rnd=lambda: 1.0) == "done"
    assert len(calls) == 3
    assert sleeps.slept == [0.2, 0.4]


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 410, 422])
def test_other_4xx_are_never_retried(code: int) -> None:
    calls = []

    def fn() -> str:
        calls.append(1)
        raise fail(code, "X", "no")

    sleeps = Sleeps()
    with pytest.raises(Exception):
        RetryPolicy().call(fn, sleep=sleeps)
    assert len(calls) == 1 and sleeps.slept == []


@pytest.mark.parametrize(
    "err",
    [
        ConnectionResetError(104, "Connection reset by peer"),
        ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")),
        NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused"),  # type: ignore[arg-type]
        BrokenPipeError(32, "Broken pipe"),
    ],
)
def test_dropped_connections_are_retried(err: BaseException) -> None:
    calls = []

    def fn() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise err
        return 7

    assert RetryPolicy().call(fn, sleep=Sleeps()) == 7 and len(calls) == 2


def test_other_errors_are_not_retried() -> None:
    calls = []

    def fn() -> int:
        calls.append(1)
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        RetryPolicy().call(fn, sleep=Sleeps())
    assert len(calls) == 1


def test_attempts_run_out_and_the_last_error_is_raised() -> None:
    sleeps = Sleeps()
    n = []

    def fn() -> None:
        n.append(1)
        raise fail(503, "ServiceUnavailable", f"attempt {len(n)}")

    with pytest.raises(Exception, match="attempt 4"):
        RetryPolicy(max_attempts=4).call(fn, sleep=sleeps, rnd=lambda: 1.0)
    assert len(n) == 4 and len(sleeps.slept) == 3


def test_retry_after_is_honoured_and_capped() -> None:
    sleeps = Sleeps()
    answers = [fail(429, "TooManyRequests", "slow", {"Retry-After": "3"}), fail(429, "TooManyRequests", "slow", {"Retry-After": "999"})]

    def fn() -> str:
        if answers:
            raise answers.pop(0)
        return "ok"

    assert RetryPolicy(max_retry_after=10).call(fn, sleep=sleeps, rnd=lambda: 0.0) == "ok"
    assert sleeps.slept == [3.0, 10.0]


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(multiplier=0.5)


def fast_client(t: FakeTransport, attempts: int = 5) -> TrainingClient:
    return TrainingClient(namespace="ns", transport=t, retry=RetryPolicy(max_attempts=attempts, initial_backoff=0.001, max_backoff=0.001))


def test_client_retries_a_get_through_503_and_a_reset() -> None:
    path = mpijobs_path("ns", "pi")
    t = FakeTransport().on("GET", path, fail(503, "ServiceUnavailable", "x"), ProtocolError("reset", ConnectionResetError()), ok(mpijob()))
    st = MPIJob.get("pi", client=fast_client(t)).status
    assert st is not None and st.phase == "Pending"
    assert len(t.calls("GET", path)) == 3


def test_client_gives_up_with_api_error_or_unreachable() -> None:
    path = mpijobs_path("ns", "pi")
    t = FakeTransport().on("GET", path, fail(500, "InternalError", "etcd down"))
    with pytest.raises(APIError, match="reading mpijob ns/pi: etcd down"):
        MPIJob.get("pi", client=fast_client(t, attempts=3))
    assert len(t.calls("GET", path)) == 3
    t2 = FakeTransport().on("GET", path, ProtocolError("reset", ConnectionResetError()))
    with pytest.raises(ClusterUnreachableError) as err:
        MPIJob.get("pi", client=fast_client(t2, attempts=2))
    assert isinstance(err.value, ConnectionError)
    assert len(t2.calls("GET", path)) == 2


def test_create_refused_by_quota_or_validation_is_sent_once() -> None:
    path = mpijobs_path("ns")
    cause = {"reason": "QuotaShortfall", "field": "ResourceQuota ns/q",
             "message": '{"resource":"pods","requested":"3","used":"0","available":"2","limit":"2","where":"ResourceQuota ns/q"}'}
    t = FakeTransport().on("POST", path, fail(403, "Forbidden", "MPIJob pi can never run", details={"causes": [cause]}))
    with pytest.raises(QuotaExceededError):
        MPIJob("pi", "img", "mpirun x", client=fast_client(t)).create()
    assert len(t.calls("POST", path)) == 1
    t = FakeTransport().on("POST", path, fail(422, "Invalid", "spec.slotsPerWorker: Invalid value: 0: must be at least 1"))
    with pytest.raises(ValidationError):
        MPIJob("pi", "img", "mpirun x", client=fast_client(t)).create()
    assert len(t.calls("POST", path)) == 1
    t = FakeTransport().on("GET", mpijobs_path("ns", "pi"), fail(404, "NotFound", 'mpijobs.kubeflow.org "pi" not found'))
    with pytest.raises(NotFoundError):
        MPIJob("pi", "img", "mpirun x", client=fast_client(t)).get_status()
    assert len(t.requests) == 1


def test_a_retried_create_that_went_through_is_not_an_error() -> None:
    """The first POST reached the server but its answer was lost: the retry
    gets 409, and the job there is the one we sent."""
    job = MPIJob("pi", "img", "mpirun x", client=None)
    sent = job.to_dict()
    sent["metadata"]["namespace"] = "ns"
    server = {**sent, "metadata": {**sent["metadata"], "uid": "u-9"}, "status": {}}
    server["spec"] = {**sent["spec"], "sshAuthMountPath": "/root/.ssh"}  # defaulted by the webhook
    t = (
        FakeTransport()
        .on("POST", mpijobs_path("ns"), ProtocolError("reset", ConnectionResetError()), fail(409, "AlreadyExists", "exists"))
        .on("GET", mpijobs_path("ns", "pi"), ok(server))
    )
    job = MPIJob("pi", "img", "mpirun x", client=fast_client(t)).create()
    assert job.uid == "u-9"
    # Someone else's job of the same name is still an error.
    other = {**server, "spec": {**server["spec"], "slotsPerWorker": 8}}
    t = (
        FakeTransport()
        .on("POST", mpijobs_path("ns"), fail(503, "ServiceUnavailable", "x"), fail(409, "AlreadyExists", "exists"))
        .on("GET", mpijobs_path("ns", "pi"), ok(other))
    )
    from openshift_ai_sdk.training import AlreadyExistsError

    with pytest.raises(AlreadyExistsError):
        MPIJob("pi", "img", "mpirun x", client=fast_client(t)).create()
