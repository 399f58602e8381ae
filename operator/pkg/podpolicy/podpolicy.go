package podpolicy

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// Policy is what the platform allows in MPIJob pods. The zero value is
// the strict default: nothing privileged, no host network, the API's own
// worker limit, no namespace reserved.
type Policy struct {
	// AllowPrivileged admits privileged containers, and with them what
	// Pod Security's baseline profile refuses.
	AllowPrivileged bool
	// AllowHostNetwork admits pods on the node's network namespace.
	AllowHostNetwork bool
	// MaxWorkers, when set below kubeflow.MaxWorkers (the API's own limit,
	// which the CRD schema and validation enforce), is the most workers
	// this platform admits per MPIJob; 0 leaves the API's limit.
	MaxWorkers int32
	// PlatformNamespace is where the platform runs; no MPIJob may run
	// there (its pods could use the controller's ServiceAccount and reach
	// its webhook certificate). Empty: not checked.
	PlatformNamespace string
}

// baselineCapabilities are the capabilities Pod Security's baseline profile
// lets a container add.
var baselineCapabilities = map[corev1.Capability]bool{
	"AUDIT_WRITE": true, "CHOWN": true, "DAC_OVERRIDE": true, "FOWNER": true, "FSETID": true, "KILL": true, "MKNOD": true,
	"NET_BIND_SERVICE": true, "SETFCAP": true, "SETGID": true, "SETPCAP": true, "SETUID": true, "SYS_CHROOT": true,
}

// Templates returns the job's pod templates in a stable order with the
// field path of each.
func Templates(job *kubeflow.MPIJob) ([]*corev1.PodTemplateSpec, []*field.Path) {
	roles := make([]string, 0, len(job.Spec.MPIReplicaSpecs))
	for role, spec := range job.Spec.MPIReplicaSpecs {
		if spec != nil {
			roles = append(roles, string(role))
		}
	}
	sort.Strings(roles)
	var tmpls []*corev1.PodTemplateSpec
	var paths []*field.Path
	for _, role := range roles {
		tmpls = append(tmpls, &job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaType(role)].Template)
		paths = append(paths, field.NewPath("spec", "mpiReplicaSpecs").Key(role).Child("template"))
	}
	return tmpls, paths
}

// Validate reports everything in the job the policy forbids, each with its
// field path. Each message says what the platform allows and who can
// change it.
func (p Policy) Validate(job *kubeflow.MPIJob) field.ErrorList {
	var errs field.ErrorList
	// Above the API's limit ValidateMPIJob reports it; only a lower
	// platform limit is the policy's to report.
	if n := job.Workers(); p.MaxWorkers > 0 && n > p.MaxWorkers && n <= kubeflow.MaxWorkers {
		errs = append(errs, field.Invalid(field.NewPath("spec", "mpiReplicaSpecs").Key(string(kubeflow.MPIReplicaTypeWorker)).Child("replicas"), n, fmt.Sprintf(
			"this platform admits at most %d workers per MPIJob: use fewer, larger workers (more GPUs and slotsPerWorker each), or split the work into several jobs; an admin can raise it (up to %d) with spec.webhooks.maxWorkers in the MPIJobPlatform",
			p.MaxWorkers, kubeflow.MaxWorkers)))
	}
	if p.PlatformNamespace != "" && job.Namespace == p.PlatformNamespace {
		errs = append(errs, field.Forbidden(field.NewPath("metadata", "namespace"), fmt.Sprintf(
			"namespace %s runs the MPIJob platform itself: submit MPIJobs in a team namespace", p.PlatformNamespace)))
	}
	tmpls, paths := Templates(job)
	for i, t := range tmpls {
		spec := paths[i].Child("spec")
		if !p.AllowPrivileged {
			errs = append(errs, baseline(t, spec)...)
		}
		if t.Spec.HostNetwork && !p.AllowHostNetwork {
			errs = append(errs, field.Forbidden(spec.Child("hostNetwork"), "host networking is not allowed on this platform: remove hostNetwork (MPI and NCCL work over the pod network); an admin can allow it with spec.webhooks.allowHostNetwork=true in the MPIJobPlatform"))
		}
		if !p.AllowPrivileged {
			for _, c := range privilegedContainers(&t.Spec, spec) {
				errs = append(errs, field.Forbidden(c, "privileged containers are not allowed on this platform: remove securityContext.privileged (GPUs are reached through the device plugin, no privilege needed); an admin can allow it with spec.webhooks.allowPrivileged=true in the MPIJobPlatform"))
			}
		}
	}
	return errs
}

func privilegedContainers(spec *corev1.PodSpec, path *field.Path) []*field.Path {
	var out []*field.Path
	check := func(cs []corev1.Container, name string) {
		for i := range cs {
			if sc := cs[i].SecurityContext; sc != nil && ptr.Deref(sc.Privileged, false) {
				out = append(out, path.Child(name).Index(i).Child("securityContext", "privileged"))
			}
		}
	}
	check(spec.InitContainers, "initContainers")
	check(spec.Containers, "containers")
	return out
}

// baseline reports what Pod Security's baseline profile refuses beyond
// privileged containers and host networking (checked on their own): the
// node's PID and IPC namespaces, hostPath volumes, host ports, added
// capabilities outside baseline's list, and an unconfined seccomp profile.
// Each can reach the node, the other tenants' pods and the controller's
// credentials; only a platform that allows privileged pods admits them.
func baseline(t *corev1.PodTemplateSpec, spec *field.Path) field.ErrorList {
	const lift = "; an admin can allow it (with privileged pods) with spec.webhooks.allowPrivileged=true in the MPIJobPlatform"
	var errs field.ErrorList
	if t.Spec.HostPID {
		errs = append(errs, field.Forbidden(spec.Child("hostPID"), "the node's process namespace is not allowed on this platform: remove hostPID"+lift))
	}
	if t.Spec.HostIPC {
		errs = append(errs, field.Forbidden(spec.Child("hostIPC"), "the node's IPC namespace is not allowed on this platform: remove hostIPC (use an emptyDir with medium Memory at /dev/shm for NCCL's shared memory)"+lift))
	}
	for i, v := range t.Spec.Volumes {
		if v.HostPath != nil {
			errs = append(errs, field.Forbidden(spec.Child("volumes").Index(i).Child("hostPath"), "hostPath volumes are not allowed on this platform: use a PersistentVolumeClaim, a ConfigMap or an emptyDir"+lift))
		}
	}
	if sc := t.Spec.SecurityContext; sc != nil && sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeUnconfined {
		errs = append(errs, field.Forbidden(spec.Child("securityContext", "seccompProfile", "type"), "an Unconfined seccomp profile is not allowed on this platform: use RuntimeDefault or leave it unset"+lift))
	}
	check := func(cs []corev1.Container, name string) {
		for i := range cs {
			c := &cs[i]
			cpath := spec.Child(name).Index(i)
			for j, port := range c.Ports {
				if port.HostPort != 0 {
					errs = append(errs, field.Forbidden(cpath.Child("ports").Index(j).Child("hostPort"), "host ports are not allowed on this platform: remove hostPort (workers reach each other through the job's Service)"+lift))
				}
			}
			sc := c.SecurityContext
			if sc == nil {
				continue
			}
			if sc.Capabilities != nil {
				for j, capability := range sc.Capabilities.Add {
					if !baselineCapabilities[capability] {
						errs = append(errs, field.Forbidden(cpath.Child("securityContext", "capabilities", "add").Index(j), fmt.Sprintf("capability %s is not allowed on this platform (Pod Security baseline)%s", capability, lift)))
					}
				}
			}
			if sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeUnconfined {
				errs = append(errs, field.Forbidden(cpath.Child("securityContext", "seccompProfile", "type"), "an Unconfined seccomp profile is not allowed on this platform: use RuntimeDefault or leave it unset"+lift))
			}
		}
	}
	check(t.Spec.InitContainers, "initContainers")
	check(t.Spec.Containers, "containers")
	return errs
}
