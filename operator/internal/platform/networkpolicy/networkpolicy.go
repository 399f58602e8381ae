// Package networkpolicy is the platform's networkPolicy component: the
// controller's pods accept only webhook and probe traffic, and metrics
// scrapes from the monitoring namespaces, and the
// controller gives every MPIJob a NetworkPolicy that admits only the job's
// own pods to its workers (networkPolicy in its configuration file, set by the
// mpiJobController component from this toggle).
package networkpolicy

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/component"
)

// Component is networkPolicy.
type Component struct{}

var _ component.Component = Component{}

func (Component) Name() string { return "NetworkPolicy" }
func (Component) Key() string  { return "network-policy" }

func (Component) State(spec *platformv1.MPIJobPlatformSpec) string {
	return string(spec.NetworkPolicy.ManagementState)
}

func (Component) Kinds() []schema.GroupVersionKind {
	return []schema.GroupVersionKind{networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy")}
}

// Desired isolates the controller's pods.
func (Component) Desired(in component.Inputs) ([]client.Object, error) {
	port := func(p int) networkingv1.NetworkPolicyPort {
		return networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt(p))}
	}
	return []client.Object{&networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: component.ControllerName, Namespace: in.Namespace},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: component.ControllerSelector()},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				// The API server calls the webhooks from wherever it runs.
				{Ports: []networkingv1.NetworkPolicyPort{port(component.WebhookPort), port(component.ProbePort)}},
				// /metrics only from the monitoring stack's namespaces.
				{Ports: []networkingv1.NetworkPolicyPort{port(component.MetricsPort)}, From: MonitoringPeers()},
			},
		},
	}}, nil
}

// MetricsScraperLabel, set to "true" on a namespace, admits its pods to
// the controller's /metrics: for a Prometheus outside the namespaces
// MonitoringPeers knows.
const MetricsScraperLabel = "mpijob.io/metrics-scraper"

// MonitoringPeers are the namespaces whose pods may reach /metrics:
// OpenShift's monitoring namespaces (labelled
// network.openshift.io/policy-group=monitoring), a namespace named
// monitoring (kube-prometheus' default), and any namespace labelled
// MetricsScraperLabel=true.
func MonitoringPeers() []networkingv1.NetworkPolicyPeer {
	ns := func(labels map[string]string) networkingv1.NetworkPolicyPeer {
		return networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: labels}}
	}
	return []networkingv1.NetworkPolicyPeer{
		ns(map[string]string{"network.openshift.io/policy-group": "monitoring"}),
		ns(map[string]string{corev1.LabelMetadataName: "monitoring"}),
		ns(map[string]string{MetricsScraperLabel: "true"}),
	}
}

// Ready once applied.
func (Component) Ready(context.Context, client.Reader, component.Inputs) (bool, string, error) {
	return true, "controller pods isolated; per-job NetworkPolicies on", nil
}
