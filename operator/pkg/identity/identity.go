// Package identity defines the ServiceAccount the MPIJob controller runs as
// and the RBAC it is granted. The platform's mpiJobController component
// creates exactly these objects, and the e2e framework installs the same
// ones to run the controller as it runs in a cluster: one definition, so a
// permission the product needs but does not ship fails a test.
package identity

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mpijob-platform/mpijob-platform/config"
)

// Names of the controller's identity.
const (
	// ControllerServiceAccount is the ServiceAccount of the MPIJob
	// controller (and of its webhooks, which it serves).
	ControllerServiceAccount = "mpijob-controller"
	// ControllerClusterRole is its ClusterRole and ClusterRoleBinding.
	ControllerClusterRole = "mpijob-platform-controller"
	// ControllerNamespaceRole is its Role and RoleBinding in the platform
	// namespace: leader election, events and the webhook certificate.
	ControllerNamespaceRole = "mpijob-controller-leader-election"
	// WebhookCertSecret holds the self-managed webhook serving certificate.
	WebhookCertSecret = "mpijob-webhook-cert"
	// ConsoleClusterRole is the web console's ClusterRole and
	// ClusterRoleBinding: list and watch MPIJobs, for its job index.
	ConsoleClusterRole = "mpijob-platform-console"
)

// ConsoleRole is the console's ClusterRole, which ships with the operator
// like the controller's: it reads MPIJobs in every namespace for its job
// index (console/backend.JobIndex), which shows a caller only the
// namespaces the API server says they may list MPIJobs in. Everything else
// the console does, it does with each caller's own token.
func ConsoleRole() *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ConsoleClusterRole}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"kubeflow.org"}, Resources: []string{"mpijobs"}, Verbs: []string{"list", "watch"}},
	}}
}

// MetricsReaderClusterRole may scrape the operator's and the controller's
// /metrics (served over HTTPS to clients the API server authenticates and
// authorizes). It ships with the operator; bind it to the ServiceAccount
// of the Prometheus that scrapes them.
const MetricsReaderClusterRole = "mpijob-platform-metrics-reader"

// MetricsReaderRole is that ClusterRole: GET on /metrics, nothing else.
func MetricsReaderRole() *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: MetricsReaderClusterRole}, Rules: []rbacv1.PolicyRule{
		{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}},
	}}
}

// ConsoleBinding binds ConsoleRole to the console's ServiceAccount.
func ConsoleBinding(namespace, serviceAccount string) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ConsoleClusterRole},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ConsoleClusterRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: serviceAccount, Namespace: namespace}},
	}
}

// Controller is the controller's identity in namespace.
type Controller struct {
	ServiceAccount     *corev1.ServiceAccount
	ClusterRole        *rbacv1.ClusterRole
	ClusterRoleBinding *rbacv1.ClusterRoleBinding
	Role               *rbacv1.Role
	RoleBinding        *rbacv1.RoleBinding
}

// Objects lists the identity's objects in apply order.
func (c *Controller) Objects() []client.Object {
	return []client.Object{c.ServiceAccount, c.ClusterRole, c.ClusterRoleBinding, c.Role, c.RoleBinding}
}

// Bindings lists what the platform creates of the identity: everything but
// the ClusterRole, which ships with the operator (chart, bundle, kustomize)
// so that the operator needs no escalate, only bind on it by name.
func (c *Controller) Bindings() []client.Object {
	return []client.Object{c.ServiceAccount, c.ClusterRoleBinding, c.Role, c.RoleBinding}
}

// NewController renders the controller's identity in namespace: the
// ClusterRole's rules are config/rbac/mpijob-controller/role.yaml
// (controller-gen, from the code's RBAC markers); the namespaced Role holds
// what the controller needs only in its own namespace.
func NewController(namespace string) (*Controller, error) {
	role, err := config.ControllerRole()
	if err != nil {
		return nil, err
	}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: ControllerServiceAccount, Namespace: namespace}}
	return &Controller{
		ServiceAccount: &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: ControllerServiceAccount, Namespace: namespace}},
		ClusterRole:    &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ControllerClusterRole}, Rules: role.Rules},
		ClusterRoleBinding: &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: ControllerClusterRole},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ControllerClusterRole},
			Subjects:   subjects,
		},
		Role: &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: ControllerNamespaceRole, Namespace: namespace},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
				{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
				// The self-managed webhook certificate: created once, then
				// read and rotated by name. No other Secret of the
				// namespace can be read.
				{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
				{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{WebhookCertSecret}, Verbs: []string{"get", "update"}},
			},
		},
		RoleBinding: &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: ControllerNamespaceRole, Namespace: namespace},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: ControllerNamespaceRole},
			Subjects:   subjects,
		},
	}, nil
}
