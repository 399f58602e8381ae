package webhook

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// IstioInjectKey is honoured by Istio both as a pod label and annotation.
const IstioInjectKey = "sidecar.istio.io/inject"

// Policy is what the platform allows in MPIJob pod templates. The platform
// operator sets it from MPIJobPlatform's webhooks settings.
type Policy struct {
	// EnforceIstioSidecarOptOut makes every launcher and worker template
	// carry sidecar.istio.io/inject: "false" (added when missing) and
	// rejects templates that ask for the sidecar: it breaks SSH between
	// launcher and workers and adds a proxy hop to NCCL traffic.
	EnforceIstioSidecarOptOut bool
	// AllowPrivileged admits privileged containers.
	AllowPrivileged bool
	// AllowHostNetwork admits pods on the node's network namespace.
	AllowHostNetwork bool
}

// DefaultPolicy is the policy of a platform nobody configured.
func DefaultPolicy() Policy { return Policy{EnforceIstioSidecarOptOut: true} }

// replicaTemplates returns the job's templates in a stable order with the
// field path of each.
func replicaTemplates(job *kubeflow.MPIJob) ([]*corev1.PodTemplateSpec, []*field.Path) {
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

// applyIstioOptOut adds the opt-out annotation to templates that say
// nothing about the sidecar.
func (p Policy) applyIstioOptOut(job *kubeflow.MPIJob) {
	if !p.EnforceIstioSidecarOptOut {
		return
	}
	tmpls, _ := replicaTemplates(job)
	for _, t := range tmpls {
		_, inAnnotations := t.Annotations[IstioInjectKey]
		_, inLabels := t.Labels[IstioInjectKey]
		if !inAnnotations && !inLabels {
			if t.Annotations == nil {
				t.Annotations = map[string]string{}
			}
			t.Annotations[IstioInjectKey] = "false"
		}
	}
}

// validate reports every template field the policy forbids. Each message
// says what the platform allows and who can change it.
func (p Policy) validate(job *kubeflow.MPIJob) field.ErrorList {
	var errs field.ErrorList
	tmpls, paths := replicaTemplates(job)
	for i, t := range tmpls {
		path := paths[i]
		if p.EnforceIstioSidecarOptOut {
			for _, where := range []struct {
				kv   map[string]string
				path *field.Path
			}{{t.Annotations, path.Child("metadata", "annotations")}, {t.Labels, path.Child("metadata", "labels")}} {
				if v, ok := where.kv[IstioInjectKey]; ok && v != "false" {
					errs = append(errs, field.Forbidden(where.path.Key(IstioInjectKey), "this platform runs MPI pods without the Istio sidecar (it breaks SSH between launcher and workers and slows NCCL): remove the key or set it to \"false\"; an admin can lift this with spec.webhooks.enforceIstioSidecarOptOut=false in the MPIJobPlatform"))
				}
			}
		}
		spec := path.Child("spec")
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
