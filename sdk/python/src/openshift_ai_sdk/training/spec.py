"""Pure builders: turn the SDK's parameters into a kubeflow.org/v2beta1 MPIJob.

Nothing here talks to a cluster, so every function is unit-tested by
comparing its output with the object upstream mpi-operator v0.8 accepts.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from .errors import ValidationError, parse_quantity

API_VERSION = "kubeflow.org/v2beta1"
KIND = "MPIJob"
GROUP, VERSION, PLURAL = "kubeflow.org", "v2beta1", "mpijobs"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
GPU_RESOURCE = "nvidia.com/gpu"
LAUNCHER_CONTAINER = "mpi-launcher"
WORKER_CONTAINER = "mpi-worker"
METRICS_PORT_NAME = "train-metrics"

MPI_IMPLEMENTATIONS = ("OpenMPI", "Intel", "MPICH")
CLEAN_POD_POLICIES = ("None", "Running", "All")

# The API's limits (operator/api/kubeflow/v2beta1 validation.go), checked here
# so that a job over one fails before any request. Worker pods are named
# <job>-worker-<index> and are hostnames: the longest, <job>-worker-99999, must
# be a DNS label. The name is also the job's headless Service's, so it must be a
# DNS-1035 label (a letter first), as mpi-operator checks too.
_MAX_NAME = 63 - len("-worker-") - 5
_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_ENV_VAR_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
# Every worker is a line of the hostfile in the job's ConfigMap (at most 1 MiB);
# the platform may admit fewer.
_MAX_WORKERS = 1024
_MAX_SLOTS_PER_WORKER = 4096

Quantity = Union[str, int, float]


def _quantity(value: Quantity, path: str) -> str:
    text = str(value).strip()
    try:
        if parse_quantity(text) < 0:
            raise ValueError
    except ValueError:
        raise ValidationError(
            f"{path}: {value!r} is not a Kubernetes quantity (use e.g. 2, 500m, 16Gi)", field_path=path
        ) from None
    return text


@dataclass(frozen=True)
class ResourceRequirements:
    """What each pod asks for.

    ``cpu`` and ``memory`` become both request and limit (a training pod should
    get what it was promised and no more); ``gpu`` becomes the limit of
    ``gpu_resource`` (``nvidia.com/gpu``), the way the device plugin wants it.

    Attributes:
        gpu: GPUs per pod.
        cpu: CPUs per pod, e.g. ``4`` or ``"500m"``.
        memory: memory per pod, e.g. ``"16Gi"``.
        gpu_resource: the extended resource of the GPUs.
        extra: more limits, e.g. ``{"rdma/ib": "1"}``.
    """

    gpu: int = 0
    cpu: Optional[Quantity] = None
    memory: Optional[Quantity] = None
    gpu_resource: str = GPU_RESOURCE
    extra: Mapping[str, Quantity] = field(default_factory=dict)

    def to_dict(self, path: str = "resources") -> Dict[str, Dict[str, str]]:
        """The container ``resources`` object (camelCase, JSON-ready)."""
        if not isinstance(self.gpu, int) or isinstance(self.gpu, bool) or self.gpu < 0:
            raise ValidationError(f"{path}.limits[{self.gpu_resource}]: gpu must be a whole number >= 0, not {self.gpu!r}", field_path=f"{path}.limits[{self.gpu_resource}]")
        requests: Dict[str, str] = {}
        limits: Dict[str, str] = {}
        for name, value in (("cpu", self.cpu), ("memory", self.memory)):
            if value is not None:
                q = _quantity(value, f"{path}.requests.{name}")
                requests[name] = limits[name] = q
        if self.gpu:
            limits[self.gpu_resource] = str(self.gpu)
        for name, value in self.extra.items():
            limits[name] = _quantity(value, f"{path}.limits[{name}]")
        out: Dict[str, Dict[str, str]] = {}
        if requests:
            out["requests"] = requests
        if limits:
            out["limits"] = limits
        return out


@dataclass(frozen=True)
class Volume:
    """A volume mounted into the launcher and every worker.

    Use the constructors: :meth:`pvc` (e.g. checkpoints), :meth:`config_map`,
    :meth:`secret`, :meth:`empty_dir`, :meth:`shared_memory`; or give any
    Kubernetes volume source as ``source`` (``{"nfs": {"server": ..., "path": ...}}``).

    Attributes:
        name: the volume's name in the pod.
        mount_path: where it is mounted.
        source: the Kubernetes volume source, camelCase.
        read_only: mount it read-only.
        sub_path: mount only this path of the volume.
    """

    name: str
    mount_path: str
    source: Mapping[str, Any]
    read_only: bool = False
    sub_path: Optional[str] = None

    @classmethod
    def pvc(cls, claim_name: str, mount_path: str, *, name: Optional[str] = None, read_only: bool = False, sub_path: Optional[str] = None) -> "Volume":
        """A PersistentVolumeClaim, e.g. for checkpoints. Workers on several nodes
        need a ReadWriteMany claim."""
        return cls(name or claim_name, mount_path, {"persistentVolumeClaim": {"claimName": claim_name, **({"readOnly": True} if read_only else {})}}, read_only, sub_path)

    @classmethod
    def config_map(cls, config_map_name: str, mount_path: str, *, name: Optional[str] = None) -> "Volume":
        """A ConfigMap's keys as files, read-only."""
        return cls(name or config_map_name, mount_path, {"configMap": {"name": config_map_name}}, True)

    @classmethod
    def secret(cls, secret_name: str, mount_path: str, *, name: Optional[str] = None) -> "Volume":
        """A Secret's keys as files, read-only."""
        return cls(name or secret_name, mount_path, {"secret": {"secretName": secret_name}}, True)

    @classmethod
    def empty_dir(cls, mount_path: str, *, name: str = "scratch", medium: Optional[str] = None, size_limit: Optional[str] = None) -> "Volume":
        """Scratch space that lives as long as the pod."""
        src: Dict[str, Any] = {}
        if medium:
            src["medium"] = medium
        if size_limit:
            src["sizeLimit"] = size_limit
        return cls(name, mount_path, {"emptyDir": src})

    @classmethod
    def shared_memory(cls, size_limit: Optional[str] = None) -> "Volume":
        """A memory-backed ``/dev/shm``: NCCL and PyTorch data loaders need more
        than the container runtime's 64 MiB default."""
        return cls.empty_dir("/dev/shm", name="dshm", medium="Memory", size_limit=size_limit)

    def volume(self) -> Dict[str, Any]:
        """The pod's ``volumes`` entry."""
        return {"name": self.name, **dict(self.source)}

    def mount(self) -> Dict[str, Any]:
        """The container's ``volumeMounts`` entry."""
        m: Dict[str, Any] = {"name": self.name, "mountPath": self.mount_path}
        if self.read_only:
            m["readOnly"] = True
        if self.sub_path:
            m["subPath"] = self.sub_path
        return m


@dataclass(frozen=True)
class Toleration:
    """A toleration, e.g. ``Toleration("nvidia.com/gpu", effect="NoSchedule")``.

    ``operator`` defaults to ``Exists`` without a value and ``Equal`` with one.
    """

    key: Optional[str] = None
    value: Optional[str] = None
    effect: Optional[str] = None
    operator: Optional[str] = None
    toleration_seconds: Optional[int] = None

    def to_dict(self) -> Dict[str, Any]:
        """The pod's ``tolerations`` entry."""
        out: Dict[str, Any] = {}
        if self.key is not None:
            out["key"] = self.key
        out["operator"] = self.operator or ("Equal" if self.value is not None else "Exists")
        if self.value is not None:
            out["value"] = self.value
        if self.effect is not None:
            out["effect"] = self.effect
        if self.toleration_seconds is not None:
            out["tolerationSeconds"] = self.toleration_seconds
        return out


def to_plain(obj: Any) -> Any:
    """Turn a Kubernetes client model (``V1Affinity``...) into camelCase JSON;
    mappings and lists are copied, plain values returned as they are."""
    if hasattr(obj, "openapi_types") and hasattr(obj, "attribute_map"):
        from kubernetes.client import ApiClient

        return ApiClient().sanitize_for_serialization(obj)
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj


def split_command(command: Union[str, Sequence[str], None], path: str) -> Optional[List[str]]:
    """A command as argv: a string is split the way a shell would (``shlex``)."""
    if command is None:
        return None
    if isinstance(command, str):
        argv = shlex.split(command)
    else:
        argv = [str(a) for a in command]
    if not argv:
        raise ValidationError(f"{path}: the command must not be empty", field_path=path)
    return argv


def validate_name(name: str) -> None:
    """Refuse a name the API server would refuse, saying why."""
    if isinstance(name, str) and len(name) > _MAX_NAME:
        raise ValidationError(
            f"metadata.name: Invalid value: {name!r}: must be at most {_MAX_NAME} characters, not {len(name)}: worker pods are "
            f"named \"<name>-worker-<index>\" and must be DNS labels of at most 63 characters: use a shorter name",
            field_path="metadata.name",
        )
    if not isinstance(name, str) or not _DNS_1035_LABEL.match(name):
        raise ValidationError(
            f"metadata.name: Invalid value: {name!r}: must be a DNS-1035 label: lower-case letters, digits and '-', starting "
            f"with a letter and ending with a letter or digit (e.g. pi or resnet-train): the name is also the name of the "
            f"job's headless Service",
            field_path="metadata.name",
        )


def normalize_implementation(value: str) -> str:
    """``"openmpi"`` -> ``"OpenMPI"``; refuse anything but OpenMPI, Intel or MPICH."""
    for impl in MPI_IMPLEMENTATIONS:
        if str(value).lower() == impl.lower():
            return impl
    raise ValidationError(
        f"spec.mpiImplementation: Unsupported value: {value!r}: supported values: OpenMPI, Intel, MPICH",
        field_path="spec.mpiImplementation",
    )


def env_list(env: Union[Mapping[str, Any], Sequence[Any], None]) -> List[Dict[str, Any]]:
    """Environment variables: a ``{name: value}`` mapping, or a list of
    Kubernetes ``EnvVar`` objects/dicts (for ``valueFrom``)."""
    if env is None:
        return []
    if isinstance(env, Mapping):
        out = []
        for k, v in env.items():
            if not str(k):
                raise ValidationError("env: a variable name must not be empty", field_path="env")
            out.append({"name": str(k), "value": str(v)})
        return out
    return [dict(to_plain(e)) for e in env]


@dataclass
class JobParams:
    """Everything :class:`~openshift_ai_sdk.training.MPIJob` builds a job from."""

    name: str
    image: str
    command: Union[str, Sequence[str]]
    workers: int = 1
    resources: Optional[ResourceRequirements] = None
    slots_per_worker: Optional[int] = None
    env: Union[Mapping[str, Any], Sequence[Any], None] = None
    volumes: Sequence[Volume] = ()
    node_selector: Optional[Mapping[str, str]] = None
    tolerations: Sequence[Union[Toleration, Mapping[str, Any], Any]] = ()
    affinity: Any = None
    queue: Optional[str] = None
    mpi_implementation: str = "OpenMPI"
    namespace: Optional[str] = None
    worker_command: Union[str, Sequence[str], None] = None
    launcher_resources: Optional[ResourceRequirements] = None
    labels: Optional[Mapping[str, str]] = None
    annotations: Optional[Mapping[str, str]] = None
    pod_labels: Optional[Mapping[str, str]] = None
    pod_annotations: Optional[Mapping[str, str]] = None
    clean_pod_policy: str = "Running"
    backoff_limit: Optional[int] = None
    active_deadline_seconds: Optional[int] = None
    ttl_seconds_after_finished: Optional[int] = None
    run_launcher_as_worker: bool = False
    ssh_auth_mount_path: Optional[str] = None
    service_account: Optional[str] = None
    image_pull_secrets: Sequence[str] = ()
    metrics_port: Optional[int] = None


def _int_field(value: Optional[int], path: str, minimum: int, what: str,
               maximum: Optional[int] = None, over: str = "") -> Optional[int]:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValidationError(f"{path}: Invalid value: {value!r}: {what}", field_path=path)
    if maximum is not None and value > maximum:
        raise ValidationError(f"{path}: Invalid value: {value!r}: {over}", field_path=path)
    return value


def build_manifest(p: JobParams) -> Dict[str, Any]:
    """Build the MPIJob (JSON-ready, camelCase) from the parameters, checking on
    the way what the API server would refuse, so mistakes surface before any
    request, each as a :class:`ValidationError` with the field path."""
    validate_name(p.name)
    if not isinstance(p.image, str) or not p.image.strip():
        raise ValidationError("spec.mpiReplicaSpecs[Launcher].template.spec.containers[0].image: an image is required", field_path="spec.mpiReplicaSpecs[Launcher].template.spec.containers[0].image")
    workers = _int_field(p.workers, "spec.mpiReplicaSpecs[Worker].replicas", 1,
                         "must be at least 1; set run_launcher_as_worker=True to also train on the launcher",
                         _MAX_WORKERS,
                         f"must be at most {_MAX_WORKERS} workers per MPIJob (every worker is a line of the hostfile in the "
                         "job's ConfigMap, which Kubernetes caps at 1 MiB): use fewer, larger workers (more GPUs and "
                         "slots_per_worker each), or split the work into several jobs")
    resources = (p.resources or ResourceRequirements()).to_dict("spec.mpiReplicaSpecs[Worker].template.spec.containers[0].resources")
    slots = p.slots_per_worker
    if slots is None:
        slots = p.resources.gpu if p.resources and p.resources.gpu else 1
    _int_field(slots, "spec.slotsPerWorker", 1, "must be at least 1: the MPI processes per worker, usually its GPUs",
               _MAX_SLOTS_PER_WORKER,
               f"must be at most {_MAX_SLOTS_PER_WORKER} MPI processes per worker: set it to the GPUs (or CPU cores) of one worker")
    impl = normalize_implementation(p.mpi_implementation)
    if p.queue is not None and (len(p.queue) > 253 or not _DNS_1123_SUBDOMAIN.match(p.queue)):
        raise ValidationError(
            f"metadata.labels[kueue.x-k8s.io/queue-name]: Invalid value: {p.queue!r}: is not a LocalQueue name: lower-case "
            "letters, digits, '-' and '.'",
            field_path="metadata.labels[kueue.x-k8s.io/queue-name]",
        )
    if p.clean_pod_policy not in CLEAN_POD_POLICIES:
        raise ValidationError(f"spec.runPolicy.cleanPodPolicy: Unsupported value: {p.clean_pod_policy!r}: supported values: None, Running, All", field_path="spec.runPolicy.cleanPodPolicy")
    backoff = _int_field(p.backoff_limit, "spec.runPolicy.backoffLimit", 0, "must be greater than or equal to 0")
    deadline = _int_field(p.active_deadline_seconds, "spec.runPolicy.activeDeadlineSeconds", 1, "must be a positive number of seconds")
    ttl = _int_field(p.ttl_seconds_after_finished, "spec.runPolicy.ttlSecondsAfterFinished", 0, "must be greater than or equal to 0")
    port = _int_field(p.metrics_port, "metrics_port", 1, "must be a TCP port, 1-65535")
    if port is not None and port > 65535:
        raise ValidationError(f"metrics_port: Invalid value: {port}: must be a TCP port, 1-65535", field_path="metrics_port")
    launcher_cmd = split_command(p.command, "spec.mpiReplicaSpecs[Launcher].template.spec.containers[0].command")
    worker_cmd = split_command(p.worker_command, "spec.mpiReplicaSpecs[Worker].template.spec.containers[0].command")
    env = env_list(p.env)
    for i, e in enumerate(env):
        name = str(e.get("name", ""))
        if not _ENV_VAR_NAME.match(name):
            raise ValidationError(
                f"env[{i}].name: Invalid value: {name!r}: is not a valid variable name: letters, digits, '_', '-' and '.', "
                "not starting with a digit",
                field_path=f"env[{i}].name",
            )
    volumes = list(p.volumes)
    names = [v.name for v in volumes]
    if len(set(names)) != len(names):
        raise ValidationError(f"spec.mpiReplicaSpecs[*].template.spec.volumes: Duplicate value: volume names must be unique, got {names}", field_path="spec.mpiReplicaSpecs[Worker].template.spec.volumes")

    def container(name: str, argv: Optional[List[str]], res: Dict[str, Any]) -> Dict[str, Any]:
        c: Dict[str, Any] = {"name": name, "image": p.image}
        if argv:
            c["command"] = list(argv)
        if env:
            c["env"] = [dict(e) for e in env]
        if res:
            c["resources"] = res
        if volumes:
            c["volumeMounts"] = [v.mount() for v in volumes]
        if port is not None:
            c["ports"] = [{"name": METRICS_PORT_NAME, "containerPort": port, "protocol": "TCP"}]
        return c

    def template(c: Dict[str, Any]) -> Dict[str, Any]:
        spec: Dict[str, Any] = {"containers": [c]}
        if volumes:
            spec["volumes"] = [v.volume() for v in volumes]
        if p.node_selector:
            spec["nodeSelector"] = {str(k): str(v) for k, v in p.node_selector.items()}
        if p.tolerations:
            spec["tolerations"] = [t.to_dict() if isinstance(t, Toleration) else dict(to_plain(t)) for t in p.tolerations]
        if p.affinity is not None:
            spec["affinity"] = to_plain(p.affinity)
        if p.service_account:
            spec["serviceAccountName"] = p.service_account
        if p.image_pull_secrets:
            spec["imagePullSecrets"] = [{"name": s} for s in p.image_pull_secrets]
        t: Dict[str, Any] = {}
        meta: Dict[str, Any] = {}
        if p.pod_labels:
            meta["labels"] = dict(p.pod_labels)
        if p.pod_annotations:
            meta["annotations"] = dict(p.pod_annotations)
        if meta:
            t["metadata"] = meta
        t["spec"] = spec
        return t

    launcher_res = p.launcher_resources.to_dict("spec.mpiReplicaSpecs[Launcher].template.spec.containers[0].resources") if p.launcher_resources else {}
    run_policy: Dict[str, Any] = {"cleanPodPolicy": p.clean_pod_policy}
    if backoff is not None:
        run_policy["backoffLimit"] = backoff
    if deadline is not None:
        run_policy["activeDeadlineSeconds"] = deadline
    if ttl is not None:
        run_policy["ttlSecondsAfterFinished"] = ttl

    spec: Dict[str, Any] = {"slotsPerWorker": slots, "runPolicy": run_policy, "mpiImplementation": impl}
    if p.run_launcher_as_worker:
        spec["runLauncherAsWorker"] = True
    if p.ssh_auth_mount_path:
        spec["sshAuthMountPath"] = p.ssh_auth_mount_path
    spec["mpiReplicaSpecs"] = {
        "Launcher": {"replicas": 1, "template": template(container(LAUNCHER_CONTAINER, launcher_cmd, launcher_res))},
        "Worker": {"replicas": workers, "template": template(container(WORKER_CONTAINER, worker_cmd, resources))},
    }

    metadata: Dict[str, Any] = {"name": p.name}
    if p.namespace:
        metadata["namespace"] = p.namespace
    labels = dict(p.labels or {})
    if p.queue:
        labels[QUEUE_LABEL] = p.queue
    if labels:
        metadata["labels"] = labels
    if p.annotations:
        metadata["annotations"] = dict(p.annotations)
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


def check_manifest(obj: Any) -> Dict[str, Any]:
    """Check that ``obj`` is an MPIJob of kubeflow.org/v2beta1 with a name, and
    return a copy keeping only what is submitted (no status or server fields)."""
    if not isinstance(obj, Mapping):
        raise ValidationError(f"an MPIJob must be a mapping, not {type(obj).__name__}")
    if obj.get("apiVersion") != API_VERSION:
        hint = " (v1 MPIJobs of the training operator must be migrated: see docs/operations/upgrade.md)" if str(obj.get("apiVersion", "")).startswith("kubeflow.org/") else ""
        raise ValidationError(f"apiVersion: Unsupported value: {obj.get('apiVersion')!r}: supported values: {API_VERSION}{hint}", field_path="apiVersion")
    if obj.get("kind") != KIND:
        raise ValidationError(f"kind: Unsupported value: {obj.get('kind')!r}: supported values: {KIND}", field_path="kind")
    meta = obj.get("metadata") or {}
    if not isinstance(meta, Mapping) or not meta.get("name"):
        raise ValidationError("metadata.name: Required value: a job needs a name", field_path="metadata.name")
    if not isinstance(obj.get("spec"), Mapping):
        raise ValidationError("spec: Required value: a job needs a spec with mpiReplicaSpecs", field_path="spec")
    keep_meta = {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if meta.get(k)}
    out: Dict[str, Any] = {"apiVersion": API_VERSION, "kind": KIND, "metadata": to_plain(keep_meta), "spec": to_plain(obj["spec"])}
    return out
