package packaging

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mpijob-platform/mpijob-platform/config"
	"github.com/mpijob-platform/mpijob-platform/operator/pkg/identity"
)

// Names of the operator's objects.
const (
	OperatorName   = "mpijob-platform-operator"
	MetricsService = "mpijob-platform-operator-metrics"
	// DefaultNamespace is where the kustomize bases install the operator.
	DefaultNamespace = "mpijob-system"
)

// OperatorLabels select the operator's pods.
func OperatorLabels() map[string]string {
	return map[string]string{"app.kubernetes.io/name": OperatorName, "app.kubernetes.io/part-of": "mpijob-platform"}
}

// Operator is what installs the operator in a namespace: every packaging
// format (chart, kustomize, bundle) renders these objects.
type Operator struct {
	ServiceAccount     *corev1.ServiceAccount
	ClusterRole        *rbacv1.ClusterRole
	ClusterRoleBinding *rbacv1.ClusterRoleBinding
	// Role and RoleBinding grant leader election in the namespace.
	Role        *rbacv1.Role
	RoleBinding *rbacv1.RoleBinding
	Deployment  *appsv1.Deployment
	Service     *corev1.Service
	// ShippedRoles are the ClusterRoles installed with the operator for
	// others: the MPIJob controller's (the platform binds it by name), the
	// console's, the metrics reader (for Prometheus) and the users'
	// (config/rbac/user-roles). They grant what the operator
	// never uses itself, so the operator could create them only with
	// escalate.
	ShippedRoles []*rbacv1.ClusterRole
}

// Objects lists the operator's objects in apply order.
func (o *Operator) Objects() []client.Object {
	objs := []client.Object{o.ServiceAccount, o.ClusterRole, o.ClusterRoleBinding, o.Role, o.RoleBinding}
	for _, r := range o.ShippedRoles {
		objs = append(objs, r)
	}
	return append(objs, o.Deployment, o.Service)
}

// shippedRoles are the controller's ClusterRole and the user roles, with
// the operator's part-of label (the rbac component finds them by it).
func shippedRoles(namespace string) ([]*rbacv1.ClusterRole, error) {
	id, err := identity.NewController(namespace)
	if err != nil {
		return nil, err
	}
	users, err := config.UserRoles()
	if err != nil {
		return nil, err
	}
	roles := []*rbacv1.ClusterRole{id.ClusterRole, identity.ConsoleRole(), identity.MetricsReaderRole()}
	for i := range users {
		roles = append(roles, &users[i])
	}
	for _, r := range roles {
		if r.Labels == nil {
			r.Labels = map[string]string{}
		}
		r.Labels["app.kubernetes.io/part-of"] = "mpijob-platform"
		r.TypeMeta = metav1.TypeMeta{}
	}
	return roles, nil
}

// OperatorArgs are the operator container's arguments.
func OperatorArgs() []string {
	return []string{
		"--role=platform",
		"--leader-elect=true",
		"--metrics-bind-address=:8080",
		"--health-probe-bind-address=:8081",
	}
}

// NewOperator builds the operator's objects for namespace and image.
func NewOperator(namespace, image string) (*Operator, error) {
	rules, err := config.OperatorRole()
	if err != nil {
		return nil, err
	}
	shipped, err := shippedRoles(namespace)
	if err != nil {
		return nil, err
	}
	labels := OperatorLabels()
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels}
	}
	clusterMeta := metav1.ObjectMeta{Name: OperatorName, Labels: labels}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: OperatorName, Namespace: namespace}}
	o := &Operator{
		ServiceAccount: &corev1.ServiceAccount{ObjectMeta: meta(OperatorName)},
		ClusterRole:    &rbacv1.ClusterRole{ObjectMeta: clusterMeta, Rules: rules.Rules},
		ClusterRoleBinding: &rbacv1.ClusterRoleBinding{
			ObjectMeta: clusterMeta,
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: OperatorName},
			Subjects:   subjects,
		},
		// In its own namespace the operator also reads its pod (for its
		// image) and holds what the controller's Role there grants, so that
		// it can create that Role without escalate.
		Role: &rbacv1.Role{ObjectMeta: meta(OperatorName + "-leader-election"), Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
			{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{identity.WebhookCertSecret}, Verbs: []string{"get", "update"}},
		}},
		RoleBinding: &rbacv1.RoleBinding{
			ObjectMeta: meta(OperatorName + "-leader-election"),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: OperatorName + "-leader-election"},
			Subjects:   subjects,
		},
		ShippedRoles: shipped,
		Service: &corev1.Service{
			ObjectMeta: meta(MetricsService),
			Spec: corev1.ServiceSpec{
				Selector: labels,
				Ports:    []corev1.ServicePort{{Name: "metrics", Port: 8080, TargetPort: intstr.FromString("metrics"), Protocol: corev1.ProtocolTCP}},
			},
		},
	}
	o.Deployment = &appsv1.Deployment{
		ObjectMeta: meta(OperatorName),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: OperatorName,
					SecurityContext:    &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					Containers: []corev1.Container{{
						Name:    "manager",
						Image:   image,
						Command: []string{"/manager"},
						Args:    OperatorArgs(),
						// The operator reads its own pod for its image, which the
						// MPIJob controller Deployment then runs too.
						Env: []corev1.EnvVar{
							{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
							{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
						},
						Ports: []corev1.ContainerPort{
							{Name: "metrics", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
							{Name: "probes", ContainerPort: 8081, Protocol: corev1.ProtocolTCP},
						},
						LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("probes")}}, PeriodSeconds: 20},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("probes")}}, PeriodSeconds: 10},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
						},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
				},
			},
		},
	}
	return o, nil
}
