package webhook

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/operator/pkg/podpolicy"
)

// IstioInjectKey is honoured by Istio both as a pod label and annotation.
const IstioInjectKey = "sidecar.istio.io/inject"

// Policy is what the platform allows in MPIJob pod templates. The platform
// operator sets it from MPIJobPlatform's webhooks settings. All but the
// Istio opt-out is podpolicy's, which the controller applies too.
type Policy struct {
	// EnforceIstioSidecarOptOut makes every launcher and worker template
	// carry sidecar.istio.io/inject: "false" (added when missing) and
	// rejects templates that ask for the sidecar: it breaks SSH between
	// launcher and workers and adds a proxy hop to NCCL traffic.
	EnforceIstioSidecarOptOut bool
	// AllowPrivileged, AllowHostNetwork, MaxWorkers and PlatformNamespace
	// are podpolicy.Policy's fields, documented there.
	AllowPrivileged   bool
	AllowHostNetwork  bool
	MaxWorkers        int32
	PlatformNamespace string
}

// DefaultPolicy is the policy of a platform nobody configured.
func DefaultPolicy() Policy { return Policy{EnforceIstioSidecarOptOut: true} }

// PodPolicy is the part of the policy that the MPIJob controller enforces
// too, for jobs that reach it without the webhooks: every rule but the
// Istio opt-out, whose annotation is defaulting (the controller adds it to
// pods itself) and whose refusal protects only the job's own traffic.
func (p Policy) PodPolicy() podpolicy.Policy {
	return podpolicy.Policy{
		AllowPrivileged:   p.AllowPrivileged,
		AllowHostNetwork:  p.AllowHostNetwork,
		MaxWorkers:        p.MaxWorkers,
		PlatformNamespace: p.PlatformNamespace,
	}
}

// applyIstioOptOut adds the opt-out annotation to templates that say
// nothing about the sidecar.
func (p Policy) applyIstioOptOut(job *kubeflow.MPIJob) {
	if !p.EnforceIstioSidecarOptOut {
		return
	}
	tmpls, _ := podpolicy.Templates(job)
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

// validate reports every template field the policy forbids: the pod
// policy shared with the controller, then the Istio opt-out. Each message
// says what the platform allows and who can change it.
func (p Policy) validate(job *kubeflow.MPIJob) field.ErrorList {
	errs := p.PodPolicy().Validate(job)
	if !p.EnforceIstioSidecarOptOut {
		return errs
	}
	tmpls, paths := podpolicy.Templates(job)
	for i, t := range tmpls {
		for _, where := range []struct {
			kv   map[string]string
			path *field.Path
		}{{t.Annotations, paths[i].Child("metadata", "annotations")}, {t.Labels, paths[i].Child("metadata", "labels")}} {
			if v, ok := where.kv[IstioInjectKey]; ok && v != "false" {
				errs = append(errs, field.Forbidden(where.path.Key(IstioInjectKey), "this platform runs MPI pods without the Istio sidecar (it breaks SSH between launcher and workers and slows NCCL): remove the key or set it to \"false\"; an admin can lift this with spec.webhooks.enforceIstioSidecarOptOut=false in the MPIJobPlatform"))
			}
		}
	}
	return errs
}
