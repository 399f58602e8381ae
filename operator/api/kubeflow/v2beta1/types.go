package v2beta1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MPIJob runs one MPI program: a launcher that calls mpirun and the workers
// it reaches over SSH.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=mpij
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.conditions[-1:].type`
type MPIJob struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   MPIJobSpec `json:"spec,omitempty"`
	Status JobStatus  `json:"status,omitempty"`
}

// MPIJobList is a list of MPIJobs.
//
// +kubebuilder:object:root=true
type MPIJobList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []MPIJob `json:"items"`
}

// MPIJobSpec is the desired state of an MPIJob.
type MPIJobSpec struct {
	// SlotsPerWorker is the number of MPI processes per worker (the "slots"
	// of the hostfile), at most 4096 (MaxSlotsPerWorker). Defaults to 1.
	// +kubebuilder:validation:Maximum=4096
	// +optional
	SlotsPerWorker *int32 `json:"slotsPerWorker,omitempty"`

	// RunLauncherAsWorker makes the launcher a rank of the job too: it is
	// listed first in the hostfile and keeps its GPUs. Defaults to false.
	// +optional
	RunLauncherAsWorker *bool `json:"runLauncherAsWorker,omitempty"`

	// RunPolicy covers the job's life cycle: cleanup, TTL, deadlines,
	// retries, gang scheduling, suspension and which controller manages it.
	// +optional
	RunPolicy RunPolicy `json:"runPolicy,omitempty"`

	// MPIReplicaSpecs holds the Launcher (exactly one replica) and the
	// Worker pod specifications.
	MPIReplicaSpecs map[MPIReplicaType]*ReplicaSpec `json:"mpiReplicaSpecs"`

	// SSHAuthMountPath is where the SSH key pair and authorized_keys are
	// mounted in launcher and workers. Defaults to /root/.ssh. With another
	// path the files are readable by the pod's group (fsGroup), never by
	// everyone, so images running as a non-root user work.
	// +optional
	SSHAuthMountPath string `json:"sshAuthMountPath,omitempty"`

	// LauncherCreationPolicy says when the launcher is created: AtStartup
	// (default) or WaitForWorkersReady, once every worker is Ready.
	// +kubebuilder:validation:Enum=AtStartup;WaitForWorkersReady
	// +optional
	LauncherCreationPolicy LauncherCreationPolicy `json:"launcherCreationPolicy,omitempty"`

	// MPIImplementation selects the hostfile format and environment:
	// OpenMPI (default), Intel or MPICH.
	// +kubebuilder:validation:Enum=OpenMPI;Intel;MPICH
	// +optional
	MPIImplementation MPIImplementation `json:"mpiImplementation,omitempty"`
}

// RunPolicy is the life-cycle policy of a job.
type RunPolicy struct {
	// CleanPodPolicy says which pods are deleted when the job finishes:
	// None (default), Running (workers still running) or All (every worker
	// and the launcher's pods).
	// +kubebuilder:validation:Enum=None;Running;All
	// +optional
	CleanPodPolicy *CleanPodPolicy `json:"cleanPodPolicy,omitempty"`

	// TTLSecondsAfterFinished deletes the whole MPIJob (and so its
	// children) this long after it finished. Unset keeps it.
	// +optional
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`

	// ActiveDeadlineSeconds bounds the job's run time, counted from its
	// start; the job fails with reason DeadlineExceeded after it.
	// +optional
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`

	// BackoffLimit is the number of launcher retries before the job fails.
	// +optional
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`

	// SchedulingPolicy configures gang scheduling (PodGroup) for
	// scheduler-plugins or Volcano.
	// +optional
	SchedulingPolicy *SchedulingPolicy `json:"schedulingPolicy,omitempty"`

	// Suspend removes the job's pods and keeps the launcher Job suspended
	// until it is set back to false. Kueue uses it to gate admission.
	// +optional
	Suspend *bool `json:"suspend,omitempty"`

	// ManagedBy names the controller that reconciles this job. Only
	// kubeflow.org/mpi-operator (ours, the default) and
	// kueue.x-k8s.io/multikueue are accepted; jobs managed by another
	// controller are left alone. Immutable.
	// +optional
	ManagedBy *string `json:"managedBy,omitempty"`
}

// SchedulingPolicy configures gang scheduling.
type SchedulingPolicy struct {
	// MinAvailable is the number of pods that must be schedulable together.
	// Defaults to workers + 1 (the launcher).
	// +optional
	MinAvailable *int32 `json:"minAvailable,omitempty"`

	// Queue is the scheduler's queue name (Volcano).
	// +optional
	Queue string `json:"queue,omitempty"`

	// MinResources is the least resources the gang needs.
	// +optional
	MinResources *corev1.ResourceList `json:"minResources,omitempty"`

	// PriorityClass of the PodGroup.
	// +optional
	PriorityClass string `json:"priorityClass,omitempty"`

	// ScheduleTimeoutSeconds is how long the gang may wait to be scheduled
	// (scheduler-plugins).
	// +optional
	ScheduleTimeoutSeconds *int32 `json:"scheduleTimeoutSeconds,omitempty"`
}

// CleanPodPolicy says which pods are deleted when a job finishes.
type CleanPodPolicy string

// Clean pod policies.
const (
	CleanPodPolicyUndefined CleanPodPolicy = ""
	CleanPodPolicyAll       CleanPodPolicy = "All"
	CleanPodPolicyRunning   CleanPodPolicy = "Running"
	CleanPodPolicyNone      CleanPodPolicy = "None"
)

// Controllers that may manage an MPIJob (RunPolicy.ManagedBy).
const (
	KubeflowJobController = "kubeflow.org/mpi-operator"
	MultiKueueController  = "kueue.x-k8s.io/multikueue"
)

// LauncherCreationPolicy says when the launcher is created.
type LauncherCreationPolicy string

// Launcher creation policies.
const (
	LauncherCreationPolicyAtStartup           LauncherCreationPolicy = "AtStartup"
	LauncherCreationPolicyWaitForWorkersReady LauncherCreationPolicy = "WaitForWorkersReady"
)

// MPIReplicaType is a role in the job: Launcher or Worker.
type MPIReplicaType string

// Replica types.
const (
	MPIReplicaTypeLauncher MPIReplicaType = "Launcher"
	MPIReplicaTypeWorker   MPIReplicaType = "Worker"
)

// MPIImplementation is the MPI library the image uses.
type MPIImplementation string

// MPI implementations.
const (
	MPIImplementationOpenMPI MPIImplementation = "OpenMPI"
	MPIImplementationIntel   MPIImplementation = "Intel"
	MPIImplementationMPICH   MPIImplementation = "MPICH"
)

// ReplicaSpec describes the pods of one role.
type ReplicaSpec struct {
	// Replicas is the number of pods: exactly 1 for the launcher, at least
	// 1 and at most 1024 (MaxWorkers; the platform may allow fewer) for
	// workers. Defaults to 1 for the launcher and 0 for workers.
	// +kubebuilder:validation:Maximum=1024
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Template is the pod template. Its first container is the MPI one.
	// +optional
	Template corev1.PodTemplateSpec `json:"template,omitempty"`

	// RestartPolicy of the pods: Always, OnFailure, Never or ExitCode
	// (Never, with retryable exit codes left to the launcher Job).
	// Defaults to OnFailure for the launcher and Never for workers.
	// +optional
	RestartPolicy RestartPolicy `json:"restartPolicy,omitempty"`
}

// RestartPolicy of a replica.
type RestartPolicy string

// Restart policies.
const (
	RestartPolicyAlways    RestartPolicy = "Always"
	RestartPolicyOnFailure RestartPolicy = "OnFailure"
	RestartPolicyNever     RestartPolicy = "Never"
	RestartPolicyExitCode  RestartPolicy = "ExitCode"
)

// JobStatus is the observed state of an MPIJob.
type JobStatus struct {
	// Conditions of the job (Created, Running, Restarting, Succeeded,
	// Suspended, Failed), newest last.
	// +optional
	// +listType=atomic
	Conditions []JobCondition `json:"conditions,omitempty"`

	// ReplicaStatuses counts pods by role.
	// +optional
	ReplicaStatuses map[MPIReplicaType]*ReplicaStatus `json:"replicaStatuses,omitempty"`

	// StartTime is when the job was first acknowledged (or resumed).
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// CompletionTime is when the job finished.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// LastReconcileTime is kept for compatibility; this controller does not
	// write it (writing a timestamp on every pass costs an API write).
	// +optional
	LastReconcileTime *metav1.Time `json:"lastReconcileTime,omitempty"`

	// ObservedGeneration is the metadata.generation of the spec this status
	// describes: the controller has acted on every spec change up to it (a
	// suspension, a resume). Not in upstream mpi-operator; since 1.1.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// ReplicaStatus counts the pods of one role.
type ReplicaStatus struct {
	// Active pods (pending or running).
	// +optional
	Active int32 `json:"active,omitempty"`
	// Succeeded pods.
	// +optional
	Succeeded int32 `json:"succeeded,omitempty"`
	// Failed pods.
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// LabelSelector selects the role's pods.
	// +optional
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
	// Selector is LabelSelector in string form, for the scale subresource.
	// +optional
	Selector string `json:"selector,omitempty"`
}

// JobCondition is one aspect of the job's state.
type JobCondition struct {
	// Type of the condition.
	Type JobConditionType `json:"type"`
	// Status: True, False or Unknown.
	Status corev1.ConditionStatus `json:"status"`
	// Reason is a CamelCase word for machines (e.g. OOMKilled).
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message says what happened and what to do, for humans.
	// +optional
	Message string `json:"message,omitempty"`
	// LastUpdateTime is when the condition last changed in any way.
	// +optional
	LastUpdateTime metav1.Time `json:"lastUpdateTime,omitempty"`
	// LastTransitionTime is when Status last changed.
	// +optional
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`
}

// JobConditionType is the type of a JobCondition.
type JobConditionType string

// Condition types, as upstream defines them.
const (
	JobCreated    JobConditionType = "Created"
	JobRunning    JobConditionType = "Running"
	JobRestarting JobConditionType = "Restarting"
	JobSucceeded  JobConditionType = "Succeeded"
	JobSuspended  JobConditionType = "Suspended"
	JobFailed     JobConditionType = "Failed"
)
