package mpijob

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// istioInjectKey is honoured by Istio both as annotation and label.
const istioInjectKey = "sidecar.istio.io/inject"

// applyJobDefaults applies the platform's job defaults to a pod template
// where the template has not decided: the Istio sidecar opt-out, NCCL
// variables, no API token, and (workers only) spreading across nodes.
func applyJobDefaults(job *kubeflow.MPIJob, tmpl *corev1.PodTemplateSpec, role string, cfg Config) {
	// MPI needs no Kubernetes API: a pod gets a ServiceAccount token only
	// when its template asks for one (automountServiceAccountToken: true),
	// so a compromised rank cannot act as the namespace's ServiceAccount.
	if tmpl.Spec.AutomountServiceAccountToken == nil {
		tmpl.Spec.AutomountServiceAccountToken = ptr.To(false)
	}
	if cfg.IstioSidecarOptOut {
		_, inAnnotations := tmpl.Annotations[istioInjectKey]
		_, inLabels := tmpl.Labels[istioInjectKey]
		if !inAnnotations && !inLabels {
			if tmpl.Annotations == nil {
				tmpl.Annotations = map[string]string{}
			}
			tmpl.Annotations[istioInjectKey] = "false"
		}
	}
	c := &tmpl.Spec.Containers[0]
	for _, name := range cfg.sortedEnvNames() {
		if !hasEnv(c, name) {
			c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: cfg.NCCLEnv[name]})
		}
	}
	// A soft topology spread rather than preferred pod anti-affinity: the
	// same "one worker per node where possible", but the scheduler's
	// inter-pod affinity scoring is far slower with hundreds of workers.
	if role == kubeflow.RoleWorker && cfg.SpreadWorkers && tmpl.Spec.Affinity == nil && len(tmpl.Spec.TopologySpreadConstraints) == 0 {
		tmpl.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew:           1,
			TopologyKey:       corev1.LabelHostname,
			WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector:     &metav1.LabelSelector{MatchLabels: roleLabels(job, kubeflow.RoleWorker)},
		}}
	}
}

func hasEnv(c *corev1.Container, name string) bool {
	for _, e := range c.Env {
		if e.Name == name {
			return true
		}
	}
	return false
}

// setEnv sets a variable the controller owns, replacing any value the
// template gave (upstream semantics for K_MPI_JOB_ROLE and the hostfile
// variables).
func setEnv(c *corev1.Container, vars ...corev1.EnvVar) {
	for _, v := range vars {
		replaced := false
		for i := range c.Env {
			if c.Env[i].Name == v.Name {
				c.Env[i] = v
				replaced = true
			}
		}
		if !replaced {
			c.Env = append(c.Env, v)
		}
	}
}
