"""A scripted fake of the API server's transport."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

from openshift_ai_sdk.training.client import HTTPStatusError, Response, Transport

Answer = Union[Response, BaseException, Callable[["Request"], Union[Response, BaseException]]]


@dataclass
class Request:
    method: str
    path: str
    query: Dict[str, Any]
    body: Any
    stream: bool


def ok(obj: Any, headers: Optional[Mapping[str, str]] = None) -> Response:
    return Response(200, dict(headers or {}), json.dumps(obj).encode())


def fail(code: int, reason: str = "", message: str = "", headers: Optional[Mapping[str, str]] = None,
         details: Optional[Mapping[str, Any]] = None) -> HTTPStatusError:
    status: Dict[str, Any] = {"kind": "Status", "status": "Failure", "code": code, "reason": reason, "message": message}
    if details is not None:
        status["details"] = dict(details)
    body = json.dumps(status).encode()
    return HTTPStatusError(code, body, dict(headers or {}))


@dataclass
class FakeTransport(Transport):
    """Answers requests from per-(method, path) queues; the last answer of a
    queue repeats. Records every request."""

    routes: Dict[Tuple[str, str], List[Answer]] = field(default_factory=dict)
    requests: List[Request] = field(default_factory=list)

    def on(self, method: str, path: str, *answers: Answer) -> "FakeTransport":
        self.routes.setdefault((method, path), []).extend(answers)
        return self

    def calls(self, method: str, path: str) -> List[Request]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Mapping[str, Any]] = None,
        body: Any = None,
        stream: bool = False,
        timeout: Optional[Tuple[float, Optional[float]]] = None,
    ) -> Response:
        req = Request(method, path, dict(query or {}), body, stream)
        self.requests.append(req)
        queue = self.routes.get((method, path))
        if not queue:
            raise fail(404, "NotFound", f"no fake route for {method} {path}")
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if callable(answer) and not isinstance(answer, (Response, BaseException)):
            answer = answer(req)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def mpijob(name: str = "pi", namespace: str = "ns", conditions: Optional[List[Dict[str, str]]] = None, **spec: Any) -> Dict[str, Any]:
    """An MPIJob as the server returns it."""
    return {
        "apiVersion": "kubeflow.org/v2beta1",
        "kind": "MPIJob",
        "metadata": {"name": name, "namespace": namespace, "uid": "u-1", "creationTimestamp": "2025-01-01T00:00:00Z"},
        "spec": {
            "slotsPerWorker": 1,
            "runPolicy": {"cleanPodPolicy": "Running"},
            "mpiReplicaSpecs": {
                "Launcher": {"replicas": 1, "template": {"spec": {"containers": [{"name": "mpi-launcher", "image": "img"}]}}},
                "Worker": {"replicas": 2, "template": {"spec": {"containers": [{"name": "mpi-worker", "image": "img"}]}}},
            },
            **spec,
        },
        "status": {"conditions": conditions or []},
    }


def cond(type_: str, status: str = "True", reason: str = "", message: str = "") -> Dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": "2025-01-01T00:00:05Z"}
