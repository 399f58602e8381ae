// Package controller is the platform's mpiJobController component: the
// MPIJob controller Deployment (the manager image, role mpijob-controller,
// configured from the MPIJobPlatform's job defaults and toggles), its
// ServiceAccount, the binding to its least-privilege ClusterRole (which
// ships with the operator), its namespaced Role, metrics Service and the
// ConfigMap holding its ControllerConfiguration.
package controller

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1alpha1 "github.com/mpijob-platform/mpijob-platform/operator/api/config/v1alpha1"
	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/component"
	"github.com/mpijob-platform/mpijob-platform/operator/pkg/identity"
)

// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete

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
		corev1.SchemeGroupVersion.WithKind("ConfigMap"),
		corev1.SchemeGroupVersion.WithKind("ServiceAccount"),
		corev1.SchemeGroupVersion.WithKind("Service"),
		rbacv1.SchemeGroupVersion.WithKind("ClusterRoleBinding"),
		rbacv1.SchemeGroupVersion.WithKind("Role"),
		rbacv1.SchemeGroupVersion.WithKind("RoleBinding"),
		policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"),
	}
}

const (
	certDir = "/tmp/k8s-webhook-server/serving-certs"
	// configDir holds config.yaml, the ControllerConfiguration.
	configDir  = "/etc/mpijob-controller"
	configFile = "config.yaml"
	// ConfigMapName is the ConfigMap of the controller's configuration.
	ConfigMapName = "mpijob-controller-config"
	// configHashAnnotation rolls the Deployment when its configuration
	// changes (the controller reads it once, at start).
	configHashAnnotation = "mpijob.io/config-hash"
)

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
	cm, err := configMap(in)
	if err != nil {
		return nil, err
	}
	return append(id.Bindings(), metrics, cm, deployment(in, cm), disruptionBudget(ns)), nil
}

// disruptionBudget lets a voluntary disruption (a node drain, a cluster
// upgrade) take one controller pod at a time, so that with two or more
// replicas the webhooks, which fail closed, always have one to answer.
func disruptionBudget(ns string) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: component.ControllerName, Namespace: ns, Labels: component.ControllerSelector()},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: component.ControllerSelector()},
		},
	}
}

// Configuration is the platform's settings for the controller and its
// webhooks, as the controller's configuration file carries them.
func Configuration(in component.Inputs) *configv1alpha1.ControllerConfiguration {
	spec := &in.Platform.Spec
	c := spec.MPIJobController
	w := spec.Webhooks
	cfg := configv1alpha1.New()
	cfg.Workers = c.Workers
	cfg.SSHKeyType = c.SSHKeyType
	cfg.GangScheduling = c.GangScheduling
	cfg.NetworkPolicy = spec.NetworkPolicy.ManagementState == platformv1.Managed
	cfg.JobDefaults = configv1alpha1.JobDefaults{
		IstioSidecarOptOut: ptr.To(ptr.Deref(spec.JobDefaults.IstioSidecarOptOut, true)),
		NCCLEnv:            spec.JobDefaults.NCCLEnv,
		SpreadWorkers:      spec.JobDefaults.SpreadWorkers,
	}
	// The pod policy binds the controller as well as the webhooks, so a
	// platform whose webhooks are Removed (or bypassed) still enforces it:
	// the controller fails a job that breaks it instead of creating pods.
	cfg.PodPolicy = configv1alpha1.PodPolicy{AllowPrivilegedPods: w.AllowPrivileged, AllowHostNetwork: w.AllowHostNetwork, MaxWorkers: w.MaxWorkers}
	cfg.Webhooks.EnforceIstioSidecarOptOut = ptr.To(ptr.Deref(w.EnforceIstioSidecarOptOut, true))
	return cfg
}

func configMap(in component.Inputs) (*corev1.ConfigMap, error) {
	data, err := Configuration(in).Marshal()
	if err != nil {
		return nil, err
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: in.Namespace, Labels: map[string]string{"app.kubernetes.io/name": component.ControllerName}},
		Data:       map[string]string{configFile: string(data)},
	}, nil
}

// Args are the manager's process flags; the platform's settings travel in
// the configuration file (Configuration).
func Args(in component.Inputs) []string {
	w := in.Platform.Spec.Webhooks
	args := []string{
		"--role=mpijob-controller",
		"--leader-elect=true",
		fmt.Sprintf("--metrics-bind-address=:%d", component.MetricsPort),
		fmt.Sprintf("--health-probe-bind-address=:%d", component.ProbePort),
		"--config=" + configDir + "/" + configFile,
	}
	if in.Namespace != "" {
		args = append(args, "--namespace="+in.Namespace) // no MPIJob runs in the platform's namespace
	}
	if w.ManagementState == platformv1.Managed && in.LocalWebhookURL == "" {
		args = append(args,
			fmt.Sprintf("--webhook-bind-address=:%d", component.WebhookPort),
			"--webhook-cert-dir="+certDir,
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

func deployment(in component.Inputs, cm *corev1.ConfigMap) *appsv1.Deployment {
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
		// The pod's name makes the replica's leader identity and its API
		// user agent, so the audit log tells the replicas apart.
		Env: []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		},
	}
	container.VolumeMounts = []corev1.VolumeMount{{Name: "config", MountPath: configDir, ReadOnly: true}}
	pod := corev1.PodSpec{
		ServiceAccountName: component.ControllerName,
		SecurityContext:    component.RestrictedPod(),
		// Replicas on different nodes where the scheduler can: one node's
		// loss leaves the webhooks an answer.
		Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{
				TopologyKey:   corev1.LabelHostname,
				LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
			}}},
		}},
		// and in different zones, where the cluster has them.
		TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
		}},
		Containers: []corev1.Container{container},
		Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name}},
		}}},
	}
	if w := in.Platform.Spec.Webhooks; w.ManagementState == platformv1.Managed && in.LocalWebhookURL == "" {
		pod.Containers[0].Ports = append(pod.Containers[0].Ports, corev1.ContainerPort{Name: "webhook", ContainerPort: component.WebhookPort, Protocol: corev1.ProtocolTCP})
		source := corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
		if w.Certificates == "OpenShiftServiceCA" || w.Certificates == "CertManager" {
			source = corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: component.WebhookCertSecret}}
		}
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "webhook-certs", VolumeSource: source})
		pod.Containers[0].VolumeMounts = append(pod.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "webhook-certs", MountPath: certDir})
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: component.ControllerName, Namespace: in.Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(c.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{
				configHashAnnotation: fmt.Sprintf("%x", sha256.Sum256([]byte(cm.Data[configFile]))),
			}}, Spec: pod},
		},
	}
}

// Ready when the Deployment has rolled out and is Available. The message
// says when fewer than two replicas are ready: the webhooks fail closed,
// so then one pod's loss stops every MPIJob write in the cluster.
func (Component) Ready(ctx context.Context, c client.Reader, in component.Inputs) (bool, string, error) {
	ok, msg, err := component.DeploymentReady(ctx, c, in.Namespace, component.ControllerName)
	if !ok || err != nil {
		return ok, msg, err
	}
	d := &appsv1.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: in.Namespace, Name: component.ControllerName}, d); err != nil {
		return false, "", client.IgnoreNotFound(err)
	}
	return true, msg + redundancy(ptr.Deref(d.Spec.Replicas, 1), d.Status.ReadyReplicas), nil
}

// redundancy is what the Ready message adds about the controller's
// replicas: nothing with two or more ready.
func redundancy(want, ready int32) string {
	switch {
	case ready >= 2:
		return ""
	case want < 2:
		return "; running without redundancy: spec.mpiJobController.replicas is 1, so while its pod is away (a drain, an upgrade, a crash) the API server refuses every MPIJob create and update, Kueue's included; set 2 or more"
	default:
		return fmt.Sprintf("; running without redundancy for now: %d of %d replicas ready, so one more pod's loss would stop every MPIJob create and update", ready, want)
	}
}
