package v2beta1

// Labels and names that images and tools built for mpi-operator rely on.
const (
	// OperatorName is the value of OperatorNameLabel on every child.
	OperatorName = "mpi-operator"

	OperatorNameLabel = "training.kubeflow.org/operator-name"
	JobNameLabel      = "training.kubeflow.org/job-name"
	JobRoleLabel      = "training.kubeflow.org/job-role"
	ReplicaIndexLabel = "training.kubeflow.org/replica-index"

	// Role label values.
	RoleLauncher = "launcher"
	RoleWorker   = "worker"

	// Children are named after their job, as upstream names them:
	// <job>-worker-<index> for worker pods and <job>-launcher for the
	// launcher Job (and hostname).
	WorkerNameInfix    = "-worker-"
	LauncherNameSuffix = "-launcher"

	// DefaultSSHAuthMountPath is where SSH credentials are mounted unless
	// the job says otherwise.
	DefaultSSHAuthMountPath = "/root/.ssh"
)
