package component

import "github.com/mpijob-platform/mpijob-platform/operator/pkg/identity"

// Names of the objects components share.
const (
	// ControllerName is the MPIJob controller's Deployment, ServiceAccount
	// and ClusterRole(Binding) name, and its pods' app.kubernetes.io/name.
	ControllerName = identity.ControllerServiceAccount
	// MetricsService exposes the controller's /metrics.
	MetricsService = "mpijob-controller-metrics"
	// WebhookService fronts the controller's webhook server.
	WebhookService = "mpijob-webhook"
	// WebhookCertSecret holds the webhook serving certificate.
	WebhookCertSecret = identity.WebhookCertSecret
	// MutatingWebhookConfiguration and ValidatingWebhookConfiguration are
	// the MPIJob webhook configurations.
	MutatingWebhookConfiguration   = "mpijob-platform-mutating"
	ValidatingWebhookConfiguration = "mpijob-platform-validating"
	// WebhookPort and MetricsPort are the controller container's ports.
	WebhookPort = 9443
	MetricsPort = 8080
	// ProbePort serves /healthz and /readyz.
	ProbePort = 8081
)

// ControllerSelector selects the controller's pods.
func ControllerSelector() map[string]string {
	return map[string]string{"app.kubernetes.io/name": ControllerName}
}
