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
}

// Objects lists the operator's objects in apply order.
func (o *Operator) Objects() []client.Object {
	return []client.Object{o.ServiceAccount, o.ClusterRole, o.ClusterRoleBinding, o.Role, o.RoleBinding, o.Deployment, o.Service}
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
		Role: &rbacv1.Role{ObjectMeta: meta(OperatorName + "-leader-election"), Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
			{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		}},
		RoleBinding: &rbacv1.RoleBinding{
			ObjectMeta: meta(OperatorName + "-leader-election"),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: OperatorName + "-leader-election"},
			Subjects:   subjects,
		},
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
