package v2beta1

import "k8s.io/utils/ptr"

// SetDefaults fills the fields upstream defaults, with upstream's values:
// cleanPodPolicy None, one slot per worker, SSH under /root/.ssh, OpenMPI,
// launcher created at startup, one launcher restarting OnFailure, workers
// never restarting. It is idempotent and leaves set fields alone.
func SetDefaults(job *MPIJob) {
	spec := &job.Spec
	if spec.RunPolicy.CleanPodPolicy == nil {
		spec.RunPolicy.CleanPodPolicy = ptr.To(CleanPodPolicyNone)
	}
	if spec.SlotsPerWorker == nil {
		spec.SlotsPerWorker = ptr.To[int32](1)
	}
	if spec.SSHAuthMountPath == "" {
		spec.SSHAuthMountPath = DefaultSSHAuthMountPath
	}
	if spec.MPIImplementation == "" {
		spec.MPIImplementation = MPIImplementationOpenMPI
	}
	if spec.LauncherCreationPolicy == "" {
		spec.LauncherCreationPolicy = LauncherCreationPolicyAtStartup
	}
	if l := spec.MPIReplicaSpecs[MPIReplicaTypeLauncher]; l != nil {
		if l.RestartPolicy == "" {
			l.RestartPolicy = RestartPolicyOnFailure
		}
		if l.Replicas == nil {
			l.Replicas = ptr.To[int32](1)
		}
	}
	if w := spec.MPIReplicaSpecs[MPIReplicaTypeWorker]; w != nil {
		if w.RestartPolicy == "" {
			w.RestartPolicy = RestartPolicyNever
		}
		if w.Replicas == nil {
			w.Replicas = ptr.To[int32](0)
		}
	}
}

// Workers returns the number of worker replicas (0 when unset).
func (j *MPIJob) Workers() int32 {
	if w := j.Spec.MPIReplicaSpecs[MPIReplicaTypeWorker]; w != nil && w.Replicas != nil {
		return *w.Replicas
	}
	return 0
}

// LauncherIsWorker reports whether the launcher is also a rank.
func (j *MPIJob) LauncherIsWorker() bool { return ptr.Deref(j.Spec.RunLauncherAsWorker, false) }

// IsSuspended reports whether runPolicy.suspend is true.
func (j *MPIJob) IsSuspended() bool { return ptr.Deref(j.Spec.RunPolicy.Suspend, false) }

// ManagedByUs reports whether this controller reconciles the job.
func (j *MPIJob) ManagedByUs() bool {
	m := j.Spec.RunPolicy.ManagedBy
	return m == nil || *m == KubeflowJobController
}
