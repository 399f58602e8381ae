package mpijob

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// desiredWorker is worker pod i: the Worker template plus the stable
// hostname in the job's Service, SSH credentials, the role environment,
// membership of the job's PodGroup (with a gang scheduler) and the
// platform's job defaults. A worker without a command runs sshd.
func desiredWorker(job *kubeflow.MPIJob, i int, cfg Config) *corev1.Pod {
	spec := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker]
	tmpl := spec.Template.DeepCopy()
	name := workerName(job, i)
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	for k, v := range roleLabels(job, kubeflow.RoleWorker) {
		tmpl.Labels[k] = v
	}
	tmpl.Labels[kubeflow.ReplicaIndexLabel] = workerIndexLabel(job, i)
	tmpl.Spec.Hostname = name
	tmpl.Spec.Subdomain = serviceName(job)
	if tmpl.Spec.HostNetwork {
		tmpl.Spec.DNSPolicy = corev1.DNSClusterFirstWithHostNet
	}
	// Intel MPI and MPICH address the launcher by its short hostname.
	search := fmt.Sprintf("%s.%s.svc.cluster.local", serviceName(job), job.Namespace)
	if cfg.ClusterDomain != "" {
		search = fmt.Sprintf("%s.%s.svc.%s", serviceName(job), job.Namespace, cfg.ClusterDomain)
	}
	if tmpl.Spec.DNSConfig == nil {
		tmpl.Spec.DNSConfig = &corev1.PodDNSConfig{}
	}
	tmpl.Spec.DNSConfig.Searches = append(tmpl.Spec.DNSConfig.Searches, search)
	tmpl.Spec.RestartPolicy = podRestartPolicy(spec.RestartPolicy)

	c := &tmpl.Spec.Containers[0]
	if len(c.Command) == 0 && len(c.Args) == 0 {
		c.Command = []string{"/usr/sbin/sshd", "-De"}
	}
	setEnv(c, corev1.EnvVar{Name: "K_MPI_JOB_ROLE", Value: kubeflow.RoleWorker})
	addSSHVolume(job, &tmpl.Spec)
	joinPodGroup(job, tmpl, cfg.GangScheduler)
	applyJobDefaults(job, tmpl, kubeflow.RoleWorker, cfg)

	meta := childMeta(job, name, tmpl.Labels)
	meta.Annotations = tmpl.Annotations
	return &corev1.Pod{ObjectMeta: meta, Spec: tmpl.Spec}
}

// podRestartPolicy maps a replica restart policy to the pod's: ExitCode
// pods never restart in place; the controller decides from the exit code.
func podRestartPolicy(p kubeflow.RestartPolicy) corev1.RestartPolicy {
	if p == kubeflow.RestartPolicyExitCode || p == "" {
		return corev1.RestartPolicyNever
	}
	return corev1.RestartPolicy(p)
}
