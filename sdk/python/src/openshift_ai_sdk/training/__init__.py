"""Distributed MPI training jobs (kubeflow.org/v2beta1 MPIJob) from Python.

Submit, wait, read logs::

    from openshift_ai_sdk.training import MPIJob, ResourceRequirements

    job = MPIJob("pi", image="mpioperator/mpi-pi:openmpi", command="mpirun -n 2 /home/mpiuser/pi",
                 workers=2, resources=ResourceRequirements(cpu=1, memory="1Gi"))
    job.create()
    job.wait_for_completion(timeout=600)
    print(job.get_logs())

Errors subclass Python built-ins and keep the server's reason:
:class:`ValidationError` (``ValueError``, with the field path),
:class:`QuotaExceededError` (``ValueError``, with requested/used/available),
:class:`JobFailedError` (``RuntimeError``, with the diagnosis and remediation),
:class:`WaitTimeoutError` (``TimeoutError``), :class:`NotFoundError`
(``LookupError``), :class:`ForbiddenError` (``PermissionError``).
"""

from .client import Discovery, TrainingClient, configure, default_client, discover
from .errors import (
    AdmissionWarning,
    AlreadyExistsError,
    APIError,
    ClusterUnreachableError,
    FieldError,
    ForbiddenError,
    JobFailedError,
    LogsUnavailableError,
    NotFoundError,
    QuotaExceededError,
    QuotaShortfall,
    TrainingError,
    ValidationError,
    WaitTimeoutError,
)
from .job import MPIJob
from .metrics import ThroughputReporter
from .retry import RetryPolicy
from .spec import ResourceRequirements, Toleration, Volume
from .status import Condition, JobStatus, ReplicaStatus, WorkerStatus

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "AdmissionWarning",
    "AlreadyExistsError",
    "ClusterUnreachableError",
    "Condition",
    "Discovery",
    "FieldError",
    "ForbiddenError",
    "JobFailedError",
    "JobStatus",
    "LogsUnavailableError",
    "MPIJob",
    "NotFoundError",
    "QuotaExceededError",
    "QuotaShortfall",
    "ReplicaStatus",
    "ResourceRequirements",
    "RetryPolicy",
    "ThroughputReporter",
    "Toleration",
    "TrainingClient",
    "TrainingError",
    "ValidationError",
    "Volume",
    "WaitTimeoutError",
    "WorkerStatus",
    "configure",
    "default_client",
    "discover",
]
