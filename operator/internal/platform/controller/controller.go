// Package controller is the platform's mpiJobController component: the
// MPIJob controller Deployment (the manager image, role mpijob-controller,
// configured from the MPIJobPlatform's job defaults and toggles), its
// ServiceAccount, the binding to its least-privilege ClusterRole (which
// ships with the operator), its namespaced Role and metrics Service.
package controller

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/component"
	"github.com/mpijob-platform/mpijob-platform/operator/pkg/identity"
)

// Component is mpiJobController.
type Component struct{}

var _ component.Component = Component{}

func (Component) Name() string { return "MPIJobController" }
func (Component) Key() string  { return "mpijob-controller" }

func (Component) State(spec *platformv1.MPIJobPlatformSpec) string {
	return string(spec.MPIJobController.ManagementState)
}

func (Component) Kinds() []schema.GroupVersionKind {
	return []schema.GroupVersionKind{
		appsv1.SchemeGroupVersion.WithKind("Deployment"),
		corev1.SchemeGroupVersion.WithKind("ServiceAccount"),
		corev1.SchemeGroupVersion.WithKind("Service"),
		rbacv1.SchemeGroupVersion.WithKind("ClusterRoleBinding"),
		rbacv1.SchemeGroupVersion.WithKind("Role"),
		rbacv1.SchemeGroupVersion.WithKind("RoleBinding"),
	}
}

const certDir = "/tmp/k8s-webhook-server/serving-certs"

// Desired renders the controller's objects.
func (Component) Desired(in component.Inputs) ([]client.Object, error) {
	ns := in.Namespace
	id, err := identity.NewController(ns)
	if err != nil {
		return nil, err
	}
	metrics := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: component.MetricsService, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/name": component.ControllerName}},
		Spec: corev1.ServiceSpec{
			Selector: component.ControllerSelector(),
			Ports:    []corev1.ServicePort{{Name: "metrics", Port: component.MetricsPort, TargetPort: intstr.FromString("metrics"), Protocol: corev1.ProtocolTCP}},
		},
	}
	return append(id.Bindings(), metrics, deployment(in)), nil
}

// Args are the manager flags that carry the platform's configuration to
// the controller.
func Args(in component.Inputs) []string {
	spec := &in.Platform.Spec
	c := spec.MPIJobController
	args := []string{
		"--role=mpijob-controller",
		"--leader-elect=true",
		fmt.Sprintf("--metrics-bind-address=:%d", component.MetricsPort),
		fmt.Sprintf("--health-probe-bind-address=:%d", component.ProbePort),
		"--workers=" + strconv.Itoa(int(c.Workers)),
		"--ssh-key-type=" + c.SSHKeyType,
		"--istio-sidecar-opt-out=" + strconv.FormatBool(ptr.Deref(spec.JobDefaults.IstioSidecarOptOut, true)),
		"--spread-workers=" + strconv.FormatBool(spec.JobDefaults.SpreadWorkers),
		"--network-policy=" + strconv.FormatBool(spec.NetworkPolicy.ManagementState == platformv1.Managed),
	}
	if c.GangScheduling != "" {
		args = append(args, "--gang-scheduling="+c.GangScheduling)
	}
	names := make([]string, 0, len(spec.JobDefaults.NCCLEnv))
	for n := range spec.JobDefaults.NCCLEnv {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		args = append(args, "--nccl-env="+n+"="+spec.JobDefaults.NCCLEnv[n])
	}
	// The pod policy binds the controller as well as the webhooks, so a
	// platform whose webhooks are Removed (or bypassed) still enforces it:
	// the controller fails a job that breaks it instead of creating pods.
	w := spec.Webhooks
	args = append(args,
		"--allow-privileged-pods="+strconv.FormatBool(w.AllowPrivileged),
		"--allow-host-network="+strconv.FormatBool(w.AllowHostNetwork),
	)
	if w.MaxWorkers > 0 {
		args = append(args, "--max-workers="+strconv.Itoa(int(w.MaxWorkers)))
	}
	if in.Namespace != "" {
		args = append(args, "--namespace="+in.Namespace) // no MPIJob runs in the platform's namespace
	}
	if w.ManagementState == platformv1.Managed && in.LocalWebhookURL == "" {
		args = append(args,
			fmt.Sprintf("--webhook-bind-address=:%d", component.WebhookPort),
			"--webhook-cert-dir="+certDir,
			"--enforce-istio-sidecar-opt-out="+strconv.FormatBool(ptr.Deref(w.EnforceIstioSidecarOptOut, true)),
		)
		if w.Certificates == "" || w.Certificates == "SelfManaged" {
			svc := component.WebhookService + "." + in.Namespace + ".svc"
			args = append(args,
				"--webhook-cert-secret="+in.Namespace+"/"+component.WebhookCertSecret,
				"--webhook-cert-names="+strings.Join([]string{svc, svc + ".cluster.local"}, ","),
			)
		}
	}
	return args
}

func deployment(in component.Inputs) *appsv1.Deployment {
	c := in.Platform.Spec.MPIJobController
	image := in.ImageOr(c.Image)
	resources := component.ResourcesOr(c.Resources, "100m", "128Mi", "1Gi")
	labels := component.ControllerSelector()
	container := corev1.Container{
		Name:      "manager",
		Image:     image,
		Command:   []string{"/manager"},
		Args:      Args(in),
		Resources: resources,
		Ports: []corev1.ContainerPort{
			{Name: "metrics", ContainerPort: component.MetricsPort, Protocol: corev1.ProtocolTCP},
			{Name: "probes", ContainerPort: component.ProbePort, Protocol: corev1.ProtocolTCP},
		},
		LivenessProbe:   &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("probes")}}, PeriodSeconds: 20},
		ReadinessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("probes")}}, PeriodSeconds: 10},
		SecurityContext: component.RestrictedContainer(),
	}
	pod := corev1.PodSpec{
		ServiceAccountName: component.ControllerName,
		SecurityContext:    component.RestrictedPod(),
		Containers:         []corev1.Container{container},
	}
	if w := in.Platform.Spec.Webhooks; w.ManagementState == platformv1.Managed && in.LocalWebhookURL == "" {
		pod.Containers[0].Ports = append(pod.Containers[0].Ports, corev1.ContainerPort{Name: "webhook", ContainerPort: component.WebhookPort, Protocol: corev1.ProtocolTCP})
		source := corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
		if w.Certificates == "OpenShiftServiceCA" || w.Certificates == "CertManager" {
			source = corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: component.WebhookCertSecret}}
		}
		pod.Volumes = []corev1.Volume{{Name: "webhook-certs", VolumeSource: source}}
		pod.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "webhook-certs", MountPath: certDir}}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: component.ControllerName, Namespace: in.Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(c.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod},
		},
	}
}

// Ready when the Deployment has rolled out and is Available.
func (Component) Ready(ctx context.Context, c client.Reader, in component.Inputs) (bool, string, error) {
	return component.DeploymentReady(ctx, c, in.Namespace, component.ControllerName)
}
