"""Credentials and namespace: in-cluster service account, else kubeconfig and
its context, else "default"."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Optional

import pytest
import yaml

from openshift_ai_sdk.training import ClusterUnreachableError, MPIJob, TrainingClient, discover
from openshift_ai_sdk.training.client import HTTPTransport, load_configuration

from .fakes import FakeTransport, ok


def kubeconfig(path: Path, current: str, namespaces: Dict[str, Optional[str]]) -> str:
    contexts = []
    for name, ns in namespaces.items():
        ctx: Dict[str, str] = {"cluster": "c", "user": "u"}
        if ns:
            ctx["namespace"] = ns
        contexts.append({"name": name, "context": ctx})
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "sekret"}}],
        "contexts": contexts,
        "current-context": current,
    }))
    return str(path)


def service_account(tmp_path: Path, namespace: str) -> Path:
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text("sa-token")
    (sa / "namespace").write_text(namespace + "\n")
    (sa / "ca.crt").write_text("not really a certificate")
    return sa


def test_in_cluster_uses_the_service_account_namespace(tmp_path: Path) -> None:
    sa = service_account(tmp_path, "team-a")
    d = discover(environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, service_account_dir=str(sa), home=str(tmp_path))
    assert (d.source, d.namespace, d.kubeconfig) == ("in-cluster", "team-a", None)


def test_in_cluster_with_an_empty_namespace_file_means_default(tmp_path: Path) -> None:
    sa = service_account(tmp_path, "")
    d = discover(environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, service_account_dir=str(sa), home=str(tmp_path))
    assert d.namespace == "default"


def test_a_token_file_without_the_service_host_is_not_in_cluster(tmp_path: Path) -> None:
    sa = service_account(tmp_path, "team-a")
    with pytest.raises(ClusterUnreachableError, match="no cluster credentials found"):
        discover(environ={}, service_account_dir=str(sa), home=str(tmp_path))


def test_kubeconfig_current_context_namespace(tmp_path: Path) -> None:
    kc = kubeconfig(tmp_path / "kc", "dev", {"dev": "team-b", "prod": None})
    d = discover(environ={"KUBECONFIG": kc}, service_account_dir=str(tmp_path / "none"))
    assert (d.source, d.namespace, d.context, d.kubeconfig) == ("kubeconfig", "team-b", "dev", kc)


def test_kubeconfig_context_without_namespace_means_default(tmp_path: Path) -> None:
    kc = kubeconfig(tmp_path / "kc", "prod", {"dev": "team-b", "prod": None})
    assert discover(environ={"KUBECONFIG": kc}, service_account_dir=str(tmp_path / "none")).namespace == "default"


def test_an_explicit_context_is_used(tmp_path: Path) -> None:
    kc = kubeconfig(tmp_path / "kc", "prod", {"dev": "team-b", "prod": None})
    d = discover(kubeconfig=kc, context="dev", environ={}, service_account_dir=str(tmp_path / "none"))
    assert (d.namespace, d.context) == ("team-b", "dev")
    with pytest.raises(ClusterUnreachableError, match="context 'staging' does not exist; the kubeconfig has: dev, prod"):
        discover(kubeconfig=kc, context="staging", environ={}, service_account_dir=str(tmp_path / "none"))


def test_kubeconfig_env_wins_over_the_service_account(tmp_path: Path) -> None:
    """A user who sets KUBECONFIG in a notebook pod means it."""
    sa = service_account(tmp_path, "team-a")
    kc = kubeconfig(tmp_path / "kc", "dev", {"dev": "team-b"})
    d = discover(environ={"KUBECONFIG": kc, "KUBERNETES_SERVICE_HOST": "10.0.0.1"}, service_account_dir=str(sa))
    assert (d.source, d.namespace) == ("kubeconfig", "team-b")


def test_kubeconfig_lists_are_merged(tmp_path: Path) -> None:
    a = kubeconfig(tmp_path / "a", "one", {"one": "from-a"})
    b = kubeconfig(tmp_path / "b", "two", {"two": "from-b"})
    env = {"KUBECONFIG": os.pathsep.join([a, b])}
    for ctx, ns in (("one", "from-a"), ("two", "from-b")):
        d = discover(context=ctx, environ=env, service_account_dir=str(tmp_path / "none"))
        assert (d.namespace, d.context, d.kubeconfig) == (ns, ctx, env["KUBECONFIG"])
    # Without a context, the one the kubernetes client loads credentials for.
    from kubernetes import config as kconfig

    d = discover(environ=env, service_account_dir=str(tmp_path / "none"))
    assert d.context == kconfig.list_kube_config_contexts(config_file=env["KUBECONFIG"])[1]["name"]


def test_home_kubeconfig_is_the_last_resort(tmp_path: Path) -> None:
    (tmp_path / ".kube").mkdir()
    kubeconfig(tmp_path / ".kube" / "config", "dev", {"dev": "mine"})
    d = discover(environ={}, service_account_dir=str(tmp_path / "none"), home=str(tmp_path))
    assert (d.source, d.namespace) == ("kubeconfig", "mine")


def test_kubeconfig_credentials_reach_the_requests(tmp_path: Path) -> None:
    kc = kubeconfig(tmp_path / "kc", "dev", {"dev": "team-b"})
    d = discover(environ={"KUBECONFIG": kc}, service_account_dir=str(tmp_path / "none"))
    cfg = load_configuration(d)
    assert cfg.host == "https://127.0.0.1:6443"
    headers = HTTPTransport(cfg)._headers(None)
    assert headers["authorization"] == "Bearer sekret"
    assert headers["User-Agent"].startswith("openshift-ai-sdk/")


def test_in_cluster_credentials_reach_the_requests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sa = service_account(tmp_path, "team-a")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    d = discover(environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, service_account_dir=str(sa))
    cfg = load_configuration(d, service_account_dir=str(sa))
    assert cfg.host == "https://10.0.0.1:443"
    assert HTTPTransport(cfg)._headers(None)["authorization"].lower() == "bearer sa-token"


def test_jobs_default_to_the_client_namespace_and_an_explicit_one_wins() -> None:
    t = FakeTransport().on("POST", "/apis/kubeflow.org/v2beta1/namespaces/team-c/mpijobs", ok({"metadata": {"uid": "x"}}))
    t.on("POST", "/apis/kubeflow.org/v2beta1/namespaces/other/mpijobs", ok({"metadata": {"uid": "y"}}))
    c = TrainingClient(namespace="team-c", transport=t)
    job = MPIJob("a", "img", "mpirun x", client=c)
    assert "namespace" not in job.to_dict()["metadata"]
    assert job.namespace == "team-c"
    job.create()
    assert t.requests[-1].body["metadata"]["namespace"] == "team-c"
    assert job.to_dict()["metadata"]["namespace"] == "team-c"
    MPIJob("b", "img", "mpirun x", namespace="other", client=c).create()
    assert t.requests[-1].path.endswith("/namespaces/other/mpijobs")
