package mpijob

import (
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// Environment that mpirun of each implementation reads: the hostfile, SSH
// retries while workers' sshd starts, and slots per host.
func mpiEnv(job *kubeflow.MPIJob) []corev1.EnvVar {
	hostfilePath := configMountPath + "/" + hostfileName
	slots := strconv.Itoa(int(ptr.Deref(job.Spec.SlotsPerWorker, 1)))
	switch job.Spec.MPIImplementation {
	case kubeflow.MPIImplementationIntel:
		return []corev1.EnvVar{
			{Name: "I_MPI_HYDRA_HOST_FILE", Value: hostfilePath},
			{Name: "I_MPI_HYDRA_BOOTSTRAP_EXEC_EXTRA_ARGS", Value: "-o ConnectionAttempts=10"},
			{Name: "I_MPI_PERHOST", Value: slots},
		}
	case kubeflow.MPIImplementationMPICH:
		// MPICH's Hydra reads HYDRA_LAUNCHER_EXTRA_ARGS; upstream sets
		// HYDRA_LAUNCH_EXTRA_ARGS, which Hydra ignores, so ssh never retried
		// a worker whose sshd was still starting (a real MPICH run showed
		// it). Upstream's name stays for images that read it themselves.
		return []corev1.EnvVar{
			{Name: "HYDRA_HOST_FILE", Value: hostfilePath},
			{Name: "HYDRA_LAUNCH_EXTRA_ARGS", Value: "-o ConnectionAttempts=10"},
			{Name: "HYDRA_LAUNCHER_EXTRA_ARGS", Value: "-o ConnectionAttempts=10"},
		}
	default:
		// Open MPI 4 launches through ORTE and reads OMPI_MCA_orte_*; Open
		// MPI 5 launches through PRRTE, which ignores those and reads
		// PRTE_MCA_* (without them mpirun of Open MPI 5 never sees the
		// hostfile and starts every rank on the launcher). Each reads only
		// its own, so both sets are always given (test/e2e/realmpi runs
		// both for real). PRRTE's keep_fqdn_hostnames stays at its default,
		// false, stated so that an image's prte-mca-params.conf cannot turn
		// it on: with short names in a hostfile that makes the launcher ssh
		// to itself (kubeflow/trainer#4028).
		return []corev1.EnvVar{
			{Name: "OMPI_MCA_orte_keep_fqdn_hostnames", Value: "true"},
			{Name: "OMPI_MCA_orte_default_hostfile", Value: hostfilePath},
			{Name: "OMPI_MCA_plm_rsh_args", Value: "-o ConnectionAttempts=10"},
			{Name: "OMPI_MCA_orte_set_default_slots", Value: slots},
			{Name: "PRTE_MCA_prte_keep_fqdn_hostnames", Value: "false"},
			{Name: "PRTE_MCA_prte_default_hostfile", Value: hostfilePath},
			{Name: "PRTE_MCA_plm_ssh_args", Value: "-o ConnectionAttempts=10"},
			{Name: "PRTE_MCA_prte_set_default_slots", Value: slots},
		}
	}
}

// desiredLauncherJob is the <job>-launcher batch/v1 Job. Deadline and retry
// limits pass through to it; its TTL does not, because the MPIJob's TTL
// deletes the whole MPIJob (mpi-operator#643). It starts suspended when the
// MPIJob is suspended.
func desiredLauncherJob(job *kubeflow.MPIJob, cfg Config) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: childMeta(job, launcherName(job), appLabels(job)),
		Spec: batchv1.JobSpec{
			ActiveDeadlineSeconds: job.Spec.RunPolicy.ActiveDeadlineSeconds,
			BackoffLimit:          job.Spec.RunPolicy.BackoffLimit,
			Suspend:               ptr.To(job.IsSuspended()),
			Template:              desiredLauncherTemplate(job, cfg),
		},
	}
}

func desiredLauncherTemplate(job *kubeflow.MPIJob, cfg Config) corev1.PodTemplateSpec {
	spec := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher]
	tmpl := spec.Template.DeepCopy()
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	for k, v := range roleLabels(job, kubeflow.RoleLauncher) {
		tmpl.Labels[k] = v
	}
	if job.LauncherIsWorker() {
		tmpl.Labels[kubeflow.ReplicaIndexLabel] = "0"
	}
	tmpl.Spec.Hostname = launcherName(job)
	tmpl.Spec.Subdomain = serviceName(job)
	if tmpl.Spec.HostNetwork {
		tmpl.Spec.DNSPolicy = corev1.DNSClusterFirstWithHostNet
	}
	tmpl.Spec.RestartPolicy = podRestartPolicy(spec.RestartPolicy)

	c := &tmpl.Spec.Containers[0]
	setEnv(c, corev1.EnvVar{Name: "K_MPI_JOB_ROLE", Value: kubeflow.RoleLauncher})
	setEnv(c, mpiEnv(job)...)
	if !job.LauncherIsWorker() {
		// A launcher that is not a rank needs no GPU; blank NVIDIA's
		// variables so it never grabs one through the runtime by accident.
		setEnv(c, corev1.EnvVar{Name: "NVIDIA_VISIBLE_DEVICES"}, corev1.EnvVar{Name: "NVIDIA_DRIVER_CAPABILITIES"})
	}
	addSSHVolume(job, &tmpl.Spec)
	tmpl.Spec.Volumes = append(tmpl.Spec.Volumes, corev1.Volume{
		Name: configVolumeName,
		VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: configMapName(job)},
			Items: []corev1.KeyToPath{
				{Key: hostfileName, Path: hostfileName, Mode: ptr.To[int32](0o444)},
				{Key: discoverHostsScriptName, Path: discoverHostsScriptName, Mode: ptr.To[int32](0o555)},
			},
		}},
	})
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: configVolumeName, MountPath: configMountPath})
	joinPodGroup(job, tmpl, cfg.GangScheduler)
	applyJobDefaults(job, tmpl, kubeflow.RoleLauncher, cfg)
	return *tmpl
}

// syncSchedulingDirectives copies what Kueue may change on a suspended job
// (KEP-2926: node selector, tolerations, scheduling gates, labels and
// annotations) from the desired launcher template to the existing Job. It
// reports whether anything changed.
func syncSchedulingDirectives(launcher *batchv1.Job, desired *corev1.PodTemplateSpec) bool {
	t := &launcher.Spec.Template
	changed := false
	for k, v := range desired.Labels {
		if t.Labels[k] != v {
			if t.Labels == nil {
				t.Labels = map[string]string{}
			}
			t.Labels[k], changed = v, true
		}
	}
	for k, v := range desired.Annotations {
		if t.Annotations[k] != v {
			if t.Annotations == nil {
				t.Annotations = map[string]string{}
			}
			t.Annotations[k], changed = v, true
		}
	}
	if !equalJSON(t.Spec.NodeSelector, desired.Spec.NodeSelector) {
		t.Spec.NodeSelector, changed = desired.Spec.NodeSelector, true
	}
	if !equalJSON(t.Spec.Tolerations, desired.Spec.Tolerations) {
		t.Spec.Tolerations, changed = desired.Spec.Tolerations, true
	}
	if !equalJSON(t.Spec.SchedulingGates, desired.Spec.SchedulingGates) {
		t.Spec.SchedulingGates, changed = desired.Spec.SchedulingGates, true
	}
	return changed
}

// equalJSON compares API values treating nil and empty as equal.
func equalJSON(a, b any) bool { return apiequality.Semantic.DeepEqual(a, b) }
