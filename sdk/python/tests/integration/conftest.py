"""Fixtures for the integration suite, which runs against a real cluster.

``KUBECONFIG`` must name the cluster (the Go driver test/e2e/sdk passes the
dev cluster's): without it every test fails, none is skipped. It is the
admin's, for set-up only. ``SDK_TEST_USER_KUBECONFIG`` is the data scientist's
(a ServiceAccount with ``edit`` in the test namespace) and ``SDK_TEST_USER`` its
username: the client under test acts as that user, as in a notebook.
``SDK_TEST_NAMESPACE`` names a namespace to use; without it the suite creates
one and deletes it at the end. Pods run on kwok nodes, whose annotations end
a pod after a delay with an exit code (tools/devcluster/cluster/kwok.go).
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from openshift_ai_sdk.training import TrainingClient

from .cluster_helpers import create_namespace, delete_namespace


@pytest.fixture(scope="session", autouse=True)
def kubeconfig() -> str:
    path = os.environ.get("KUBECONFIG", "")
    if not path:
        pytest.fail(
            "KUBECONFIG is not set: the integration tests need a cluster with the MPIJob platform "
            "(run them through `go test ./test/e2e/sdk/`, which starts the dev cluster)",
            pytrace=False,
        )
    if not os.path.isfile(path):
        pytest.fail(f"KUBECONFIG={path} does not exist", pytrace=False)
    return path


@pytest.fixture(scope="session")
def admin(kubeconfig: str) -> TrainingClient:
    """A client for setting up the cluster (namespaces, quotas) and reading it."""
    return TrainingClient()


@pytest.fixture(scope="session")
def namespace(admin: TrainingClient) -> Iterator[str]:
    given = os.environ.get("SDK_TEST_NAMESPACE")
    if given:
        yield given
        return
    ns = create_namespace(admin, "sdk-it")
    yield ns
    delete_namespace(admin, ns)


@pytest.fixture(scope="session")
def user_kubeconfig() -> str:
    path = os.environ.get("SDK_TEST_USER_KUBECONFIG", "")
    if not path or not os.environ.get("SDK_TEST_USER"):
        pytest.fail(
            "SDK_TEST_USER_KUBECONFIG and SDK_TEST_USER are not set: the SDK under test acts as a data scientist, "
            "never as the cluster admin (`go test ./test/e2e/sdk/` sets them)",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def user(user_kubeconfig: str) -> str:
    """The data scientist's username (system:serviceaccount:NS:NAME)."""
    return os.environ["SDK_TEST_USER"]


@pytest.fixture(scope="session")
def client(user_kubeconfig: str, namespace: str) -> TrainingClient:
    """The client the tests use: the data scientist, defaulting to the test namespace."""
    return TrainingClient(kubeconfig=user_kubeconfig, namespace=namespace)
