"""Builders: MPIJob(...) produces the v2beta1 object upstream mpi-operator accepts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml

from openshift_ai_sdk.training import MPIJob, ResourceRequirements, Toleration, ValidationError, Volume


def test_minimal_job_to_dict() -> None:
    job = MPIJob("pi", "mpioperator/mpi-pi:openmpi", "mpirun -n 2 /home/mpiuser/pi", workers=2,
                 resources=ResourceRequirements(cpu=1, memory="1Gi"), namespace="team-a")
    want: Dict[str, Any] = {
        "apiVersion": "kubeflow.org/v2beta1",
        "kind": "MPIJob",
        "metadata": {"name": "pi", "namespace": "team-a"},
        "spec": {
            "slotsPerWorker": 1,
            "runPolicy": {"cleanPodPolicy": "Running"},
            "mpiImplementation": "OpenMPI",
            "mpiReplicaSpecs": {
                "Launcher": {
                    "replicas": 1,
                    "template": {"spec": {"containers": [{
                        "name": "mpi-launcher",
                        "image": "mpioperator/mpi-pi:openmpi",
                        "command": ["mpirun", "-n", "2", "/home/mpiuser/pi"],
                    }]}},
                },
                "Worker": {
                    "replicas": 2,
                    "template": {"spec": {"containers": [{
                        "name": "mpi-worker",
                        "image": "mpioperator/mpi-pi:openmpi",
                        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
                    }]}},
                },
            },
        },
    }
    assert job.to_dict() == want
    assert job.name == "pi" and job.workers == 2 and job.queue is None


def test_every_parameter_to_dict() -> None:
    job = MPIJob(
        "bert",
        image="quay.io/team/bert:1",
        command=["mpirun", "-n", "16", "python", "train.py"],
        workers=4,
        resources=ResourceRequirements(gpu=4, cpu="16", memory="128Gi", extra={"rdma/ib": 1}),
        env={"NCCL_DEBUG": "INFO", "EPOCHS": 3},
        volumes=[Volume.pvc("checkpoints", "/mnt/ckpt"), Volume.shared_memory("8Gi"), Volume.secret("s3", "/creds")],
        node_selector={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
        tolerations=[Toleration("nvidia.com/gpu", effect="NoSchedule"), {"key": "team", "operator": "Equal", "value": "a"}],
        affinity={"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
        queue="gpus",
        mpi_implementation="intel",
        namespace="team-a",
        worker_command=["/usr/sbin/sshd", "-De"],
        launcher_resources=ResourceRequirements(cpu="500m", memory="1Gi"),
        labels={"team": "a"},
        annotations={"note": "x"},
        pod_annotations={"sidecar.istio.io/inject": "false"},
        pod_labels={"app": "bert"},
        clean_pod_policy="All",
        backoff_limit=2,
        active_deadline_seconds=7200,
        ttl_seconds_after_finished=600,
        ssh_auth_mount_path="/home/mpiuser/.ssh",
        service_account="trainer",
        image_pull_secrets=["quay"],
        metrics_port=9464,
    )
    d = job.to_dict()
    assert d["metadata"] == {
        "name": "bert",
        "namespace": "team-a",
        "labels": {"team": "a", "kueue.x-k8s.io/queue-name": "gpus"},
        "annotations": {"note": "x"},
    }
    spec = d["spec"]
    assert spec["slotsPerWorker"] == 4  # the GPUs per worker
    assert spec["mpiImplementation"] == "Intel"
    assert spec["sshAuthMountPath"] == "/home/mpiuser/.ssh"
    assert spec["runPolicy"] == {"cleanPodPolicy": "All", "backoffLimit": 2, "activeDeadlineSeconds": 7200, "ttlSecondsAfterFinished": 600}
    worker = spec["mpiReplicaSpecs"]["Worker"]
    assert worker["replicas"] == 4
    w = worker["template"]
    assert w["metadata"] == {"labels": {"app": "bert"}, "annotations": {"sidecar.istio.io/inject": "false"}}
    assert w["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert w["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "team", "operator": "Equal", "value": "a"},
    ]
    assert w["spec"]["affinity"] == {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}
    assert w["spec"]["serviceAccountName"] == "trainer"
    assert w["spec"]["imagePullSecrets"] == [{"name": "quay"}]
    assert w["spec"]["volumes"] == [
        {"name": "checkpoints", "persistentVolumeClaim": {"claimName": "checkpoints"}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}},
        {"name": "s3", "secret": {"secretName": "s3"}},
    ]
    c = w["spec"]["containers"][0]
    assert c["command"] == ["/usr/sbin/sshd", "-De"]
    assert c["env"] == [{"name": "NCCL_DEBUG", "value": "INFO"}, {"name": "EPOCHS", "value": "3"}]
    assert c["resources"] == {
        "requests": {"cpu": "16", "memory": "128Gi"},
        "limits": {"cpu": "16", "memory": "128Gi", "nvidia.com/gpu": "4", "rdma/ib": "1"},
    }
    assert c["volumeMounts"] == [
        {"name": "checkpoints", "mountPath": "/mnt/ckpt"},
        {"name": "dshm", "mountPath": "/dev/shm"},
        {"name": "s3", "mountPath": "/creds", "readOnly": True},
    ]
    assert c["ports"] == [{"name": "train-metrics", "containerPort": 9464, "protocol": "TCP"}]
    launcher = spec["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]
    lc = launcher["containers"][0]
    assert lc["command"] == ["mpirun", "-n", "16", "python", "train.py"]
    assert lc["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "500m", "memory": "1Gi"}}
    # Scheduling, volumes and env apply to the launcher too.
    assert launcher["tolerations"] == w["spec"]["tolerations"] and launcher["volumes"] == w["spec"]["volumes"]
    assert lc["env"] == c["env"]
    assert job.queue == "gpus"


def test_kubernetes_client_models_are_accepted() -> None:
    from kubernetes import client as k

    job = MPIJob(
        "models", "img", "mpirun x",
        tolerations=[k.V1Toleration(key="a", operator="Exists", toleration_seconds=30)],
        affinity=k.V1Affinity(node_affinity=k.V1NodeAffinity(
            required_during_scheduling_ignored_during_execution=k.V1NodeSelector(node_selector_terms=[
                k.V1NodeSelectorTerm(match_expressions=[k.V1NodeSelectorRequirement(key="zone", operator="In", values=["a"])])
            ]))),
        env=[k.V1EnvVar(name="POD", value_from=k.V1EnvVarSource(field_ref=k.V1ObjectFieldSelector(field_path="metadata.name")))],
    )
    spec = job.to_dict()["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]
    assert spec["tolerations"] == [{"key": "a", "operator": "Exists", "tolerationSeconds": 30}]
    assert spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0][
        "matchExpressions"] == [{"key": "zone", "operator": "In", "values": ["a"]}]
    assert spec["containers"][0]["env"] == [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]


@pytest.mark.parametrize(
    ("kwargs", "field_path"),
    [
        ({"name": "Bad_Name"}, "metadata.name"),
        ({"name": "x" * 51}, "metadata.name"),
        ({"name": "2nd-run"}, "metadata.name"),
        ({"name": "run-"}, "metadata.name"),
        ({"workers": 0}, "spec.mpiReplicaSpecs[Worker].replicas"),
        ({"workers": 1025}, "spec.mpiReplicaSpecs[Worker].replicas"),
        ({"workers": 10_000_000}, "spec.mpiReplicaSpecs[Worker].replicas"),
        ({"slots_per_worker": 0}, "spec.slotsPerWorker"),
        ({"slots_per_worker": 4097}, "spec.slotsPerWorker"),
        ({"mpi_implementation": "LAM"}, "spec.mpiImplementation"),
        ({"clean_pod_policy": "Sometimes"}, "spec.runPolicy.cleanPodPolicy"),
        ({"backoff_limit": -1}, "spec.runPolicy.backoffLimit"),
        ({"active_deadline_seconds": 0}, "spec.runPolicy.activeDeadlineSeconds"),
        ({"resources": ResourceRequirements(memory="lots")}, "spec.mpiReplicaSpecs[Worker].template.spec.containers[0].resources.requests.memory"),
        ({"command": ""}, "spec.mpiReplicaSpecs[Launcher].template.spec.containers[0].command"),
        ({"image": ""}, "spec.mpiReplicaSpecs[Launcher].template.spec.containers[0].image"),
        ({"metrics_port": 70000}, "metrics_port"),
    ],
)
def test_invalid_parameters_name_the_field(kwargs: Dict[str, Any], field_path: str) -> None:
    args: Dict[str, Any] = {"name": "ok", "image": "img", "command": "mpirun x"}
    args.update(kwargs)
    with pytest.raises(ValidationError) as err:
        MPIJob(**args)
    assert err.value.field_path == field_path
    assert isinstance(err.value, ValueError)
    assert field_path in str(err.value)


def test_fifty_character_name_is_the_longest() -> None:
    MPIJob("x" * 50, "img", "mpirun x")


def test_limits_are_accepted_at_the_limit() -> None:
    job = MPIJob("x" * 50, "img", "mpirun x", workers=1024, slots_per_worker=4096)
    assert job.to_dict()["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] == 1024


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"name": "x" * 51}, "must be at most 50 characters, not 51"),
        ({"name": "2nd-run"}, "must be a DNS-1035 label"),
        ({"workers": 1025}, "must be at most 1024 workers per MPIJob"),
        ({"slots_per_worker": 4097}, "must be at most 4096 MPI processes per worker"),
    ],
)
def test_limit_errors_say_the_limit(kwargs: Dict[str, Any], says: str) -> None:
    args: Dict[str, Any] = {"name": "ok", "image": "img", "command": "mpirun x"}
    args.update(kwargs)
    with pytest.raises(ValidationError, match=re.escape(says)):
        MPIJob(**args)


def test_yaml_round_trip(tmp_path: Path) -> None:
    job = MPIJob("rt", "img", "mpirun -n 4 python train.py", workers=2, resources=ResourceRequirements(gpu=2),
                 volumes=[Volume.pvc("ckpt", "/ckpt")], queue="q", namespace="ns")
    path = tmp_path / "job.yaml"
    path.write_text(job.to_yaml())
    again = MPIJob.from_yaml(path)
    assert again.to_dict() == job.to_dict()
    assert yaml.safe_load(job.to_yaml()) == job.to_dict()


def test_from_yaml_keeps_an_upstream_example_and_drops_server_fields(tmp_path: Path) -> None:
    upstream = """
apiVersion: kubeflow.org/v2beta1
kind: MPIJob
metadata:
  name: pi
  uid: 1234
  resourceVersion: "7"
spec:
  slotsPerWorker: 1
  runPolicy:
    cleanPodPolicy: Running
    ttlSecondsAfterFinished: 60
  sshAuthMountPath: /home/mpiuser/.ssh
  mpiReplicaSpecs:
    Launcher:
      replicas: 1
      template:
        spec:
          containers:
          - image: mpioperator/mpi-pi:openmpi
            name: mpi-launcher
            securityContext:
              runAsUser: 1000
            command: [mpirun]
            args: ["-n", "2", /home/mpiuser/pi]
    Worker:
      replicas: 2
      template:
        spec:
          containers:
          - image: mpioperator/mpi-pi:openmpi
            name: mpi-worker
            command: [/usr/sbin/sshd]
            args: [-De, -f, /home/mpiuser/.sshd_config]
status:
  conditions: []
"""
    path = tmp_path / "pi.yaml"
    path.write_text("---\n# a comment document\n---\n" + upstream)
    job = MPIJob.from_yaml(path)
    d = job.to_dict()
    assert d["metadata"] == {"name": "pi"}
    assert "status" not in d
    assert d["spec"] == yaml.safe_load(upstream)["spec"]
    assert job.workers == 2


@pytest.mark.parametrize(
    ("doc", "field_path"),
    [
        ({"apiVersion": "kubeflow.org/v1", "kind": "MPIJob", "metadata": {"name": "a"}, "spec": {}}, "apiVersion"),
        ({"apiVersion": "kubeflow.org/v2beta1", "kind": "TFJob", "metadata": {"name": "a"}, "spec": {}}, "kind"),
        ({"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {}, "spec": {}}, "metadata.name"),
        ({"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": "a"}}, "spec"),
    ],
)
def test_from_dict_refuses_what_is_not_a_v2beta1_mpijob(doc: Dict[str, Any], field_path: str) -> None:
    with pytest.raises(ValidationError) as err:
        MPIJob.from_dict(doc)
    assert err.value.field_path == field_path


def test_from_yaml_needs_exactly_one_mpijob(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    with pytest.raises(ValidationError, match="expected exactly one MPIJob, found 0"):
        MPIJob.from_yaml(path)


def test_to_dict_is_a_copy() -> None:
    job = MPIJob("copy", "img", "mpirun x")
    job.to_dict()["metadata"]["name"] = "changed"
    assert job.name == "copy"
