package mpijob

import (
	"fmt"
	"strconv"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// Child names and mounts, as upstream names them.
const (
	configSuffix            = "-config"
	sshSecretSuffix         = "-ssh"
	launcherSuffix          = kubeflow.LauncherNameSuffix
	workerInfix             = kubeflow.WorkerNameInfix
	configVolumeName        = "mpi-job-config"
	configMountPath         = "/etc/mpi"
	hostfileName            = "hostfile"
	discoverHostsScriptName = "discover_hosts.sh"
	sshVolumeName           = "ssh-auth"
	sshPublicKeyKey         = "ssh-publickey"
	sshPrivateKeyFile       = "id_rsa"
	sshPublicKeyFile        = "id_rsa.pub"
	sshAuthorizedKeysFile   = "authorized_keys"
)

func configMapName(job *kubeflow.MPIJob) string { return job.Name + configSuffix }
func sshSecretName(job *kubeflow.MPIJob) string { return job.Name + sshSecretSuffix }
func launcherName(job *kubeflow.MPIJob) string  { return job.Name + launcherSuffix }
func serviceName(job *kubeflow.MPIJob) string   { return job.Name }
func workerName(job *kubeflow.MPIJob, i int) string {
	return fmt.Sprintf("%s%s%d", job.Name, workerInfix, i)
}

// workerIndexLabel pads by one when the launcher is rank 0, so that every
// pod of the gang has a distinct index (Kueue's topology-aware scheduling
// relies on it).
func workerIndexLabel(job *kubeflow.MPIJob, i int) string {
	if job.LauncherIsWorker() {
		return strconv.Itoa(i + 1)
	}
	return strconv.Itoa(i)
}

// roleLabels are the labels every pod of a role carries.
func roleLabels(job *kubeflow.MPIJob, role string) map[string]string {
	return map[string]string{
		kubeflow.OperatorNameLabel: kubeflow.OperatorName,
		kubeflow.JobNameLabel:      job.Name,
		kubeflow.JobRoleLabel:      role,
	}
}

// appLabels are the labels of the non-pod children: upstream's "app", and
// the operator-name label that lets our cache hold only our children.
func appLabels(job *kubeflow.MPIJob) map[string]string {
	return map[string]string{"app": job.Name, kubeflow.OperatorNameLabel: kubeflow.OperatorName}
}
