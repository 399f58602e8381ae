package console

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/component"
	"github.com/mpijob-platform/mpijob-platform/operator/pkg/identity"
)

// Component is console.
type Component struct{}

var _ component.Component = Component{}

func (Component) Name() string { return "Console" }
func (Component) Key() string  { return "console" }

func (Component) State(spec *platformv1.MPIJobPlatformSpec) string {
	return string(spec.Console.ManagementState)
}

var routeGVK = schema.GroupVersionKind{Group: "route.openshift.io", Version: "v1", Kind: "Route"}

func (Component) Kinds() []schema.GroupVersionKind {
	return []schema.GroupVersionKind{
		appsv1.SchemeGroupVersion.WithKind("Deployment"),
		corev1.SchemeGroupVersion.WithKind("ServiceAccount"),
		corev1.SchemeGroupVersion.WithKind("Service"),
		rbacv1.SchemeGroupVersion.WithKind("ClusterRoleBinding"),
		networkingv1.SchemeGroupVersion.WithKind("Ingress"),
		routeGVK,
	}
}

// OptionalKinds: Routes exist only on OpenShift.
func (Component) OptionalKinds() map[schema.GroupKind]string {
	return map[schema.GroupKind]string{routeGVK.GroupKind(): "OpenShift (route.openshift.io/v1)"}
}

// SoftKinds: without OpenShift the Route is simply not made.
func (Component) SoftKinds() map[schema.GroupKind]bool {
	return map[schema.GroupKind]bool{routeGVK.GroupKind(): true}
}

// Names and ports of the console's objects.
const (
	// Name is the Deployment, ServiceAccount, Service, Route and Ingress.
	Name = "mpijob-console"
	// TLSSecret holds the service CA's serving certificate for oauth-proxy.
	TLSSecret = "mpijob-console-tls"
	// HTTPPort is the console's own listener; ProxyPort is oauth-proxy's.
	HTTPPort  = 8080
	ProxyPort = 8443
	// DefaultAuthProxyImage is OpenShift's oauth-proxy.
	DefaultAuthProxyImage = "quay.io/openshift/origin-oauth-proxy:4.16"
)

// Annotations OpenShift reads.
const (
	servingCertAnnotation = "service.beta.openshift.io/serving-cert-secret-name"
	oauthRedirectRef      = "serviceaccounts.openshift.io/oauth-redirectreference.primary"
)

// Selector selects the console's pods.
func Selector() map[string]string {
	return map[string]string{"app.kubernetes.io/name": Name}
}

func oauth(spec platformv1.ConsoleSpec) bool { return spec.AuthProxy == "OpenShiftOAuth" }

// Desired renders the console's objects.
func (Component) Desired(in component.Inputs) ([]client.Object, error) {
	spec := in.Platform.Spec.Console
	ns := in.Namespace
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: ns}}
	port := corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: ns, Labels: Selector()},
		Spec:       corev1.ServiceSpec{Selector: Selector(), Ports: []corev1.ServicePort{port}},
	}
	if oauth(spec) {
		// oauth-proxy is the OAuth client named by the ServiceAccount and
		// redirects back through the Route.
		sa.Annotations = map[string]string{oauthRedirectRef: `{"kind":"OAuthRedirectReference","apiVersion":"v1","reference":{"kind":"Route","name":"` + Name + `"}}`}
		svc.Annotations = map[string]string{servingCertAnnotation: TLSSecret}
		svc.Spec.Ports = []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromString("https"), Protocol: corev1.ProtocolTCP}}
	}
	objs := []client.Object{sa, identity.ConsoleBinding(ns, Name), svc, deployment(in)}
	if spec.Route != nil {
		objs = append(objs, route(in))
	}
	if spec.Ingress != nil {
		objs = append(objs, ingress(in))
	}
	return objs, nil
}

// Args are the manager flags of the console container.
func Args(spec platformv1.ConsoleSpec) []string {
	args := []string{"--role=console", fmt.Sprintf("--console-bind-address=:%d", HTTPPort)}
	if spec.PrometheusURL != "" {
		args = append(args, "--console-prometheus-url="+spec.PrometheusURL)
	}
	if spec.GrafanaURL != "" {
		args = append(args, "--console-grafana-url="+spec.GrafanaURL)
	}
	return args
}

func deployment(in component.Inputs) *appsv1.Deployment {
	spec := in.Platform.Spec.Console
	image := in.ImageOr(spec.Image)
	resources := component.ResourcesOr(spec.Resources, "50m", "64Mi", "512Mi")
	probe := func(period int32) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}, PeriodSeconds: period}
	}
	console := corev1.Container{
		Name:            "console",
		Image:           image,
		Command:         []string{"/manager"},
		Args:            Args(spec),
		Resources:       resources,
		Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: HTTPPort, Protocol: corev1.ProtocolTCP}},
		LivenessProbe:   probe(20),
		ReadinessProbe:  probe(10),
		SecurityContext: component.RestrictedContainer(),
	}
	pod := corev1.PodSpec{
		ServiceAccountName: Name,
		SecurityContext:    component.RestrictedPod(),
		Containers:         []corev1.Container{console},
	}
	if oauth(spec) {
		addOAuthProxy(&pod, spec, image)
	}
	labels := Selector()
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: in.Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(max(spec.Replicas, 1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod},
		},
	}
}

// addOAuthProxy puts oauth-proxy in front of the console: it signs users
// in with OpenShift's OAuth server (scope user:full, so the token may act
// as the user on the API) and forwards their token in
// X-Forwarded-Access-Token. An init container of the manager image writes
// the session cookie secret into a memory volume, so no Secret holds it;
// replicas then differ in secret, which the Route's sticky sessions (the
// OpenShift router's default) make harmless.
func addOAuthProxy(pod *corev1.PodSpec, spec platformv1.ConsoleSpec, image string) {
	proxyImage := spec.AuthProxyImage
	if proxyImage == "" {
		proxyImage = DefaultAuthProxyImage
	}
	const tlsDir, cookieDir = "/etc/tls/private", "/etc/oauth-proxy"
	pod.InitContainers = []corev1.Container{{
		Name:            "cookie-secret",
		Image:           image,
		Command:         []string{"/manager"},
		Args:            []string{"--role=console", "--console-write-cookie-secret=" + cookieDir + "/cookie-secret"},
		VolumeMounts:    []corev1.VolumeMount{{Name: "cookie", MountPath: cookieDir}},
		SecurityContext: component.RestrictedContainer(),
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
		},
	}}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/oauth/healthz", Port: intstr.FromString("https"), Scheme: corev1.URISchemeHTTPS}}, PeriodSeconds: 10}
	pod.Containers = append(pod.Containers, corev1.Container{
		Name:  "oauth-proxy",
		Image: proxyImage,
		Args: []string{
			"--provider=openshift",
			fmt.Sprintf("--https-address=:%d", ProxyPort),
			fmt.Sprintf("--upstream=http://127.0.0.1:%d", HTTPPort),
			"--openshift-service-account=" + Name,
			"--scope=user:full",
			"--pass-access-token",
			"--pass-user-bearer-token",
			"--tls-cert=" + tlsDir + "/tls.crt",
			"--tls-key=" + tlsDir + "/tls.key",
			"--cookie-secret-file=" + cookieDir + "/cookie-secret",
			"--cookie-secure=true",
			"--skip-auth-regex=^/healthz$",
		},
		Ports:          []corev1.ContainerPort{{Name: "https", ContainerPort: ProxyPort, Protocol: corev1.ProtocolTCP}},
		LivenessProbe:  probe,
		ReadinessProbe: probe,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "tls", MountPath: tlsDir, ReadOnly: true},
			{Name: "cookie", MountPath: cookieDir, ReadOnly: true},
		},
		SecurityContext: component.RestrictedContainer(),
	})
	pod.Volumes = []corev1.Volume{
		{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: TLSSecret}}},
		{Name: "cookie", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("1Mi"))}}},
	}
}

// route is the OpenShift Route: reencrypt to oauth-proxy's service-CA
// certificate, or edge TLS in front of the console's HTTP port.
func route(in component.Inputs) client.Object {
	spec := in.Platform.Spec.Console
	tls := map[string]any{"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}
	port := "http"
	if oauth(spec) {
		tls["termination"], port = "reencrypt", "https"
	}
	routeSpec := map[string]any{
		"to":   map[string]any{"kind": "Service", "name": Name, "weight": int64(100)},
		"port": map[string]any{"targetPort": port},
		"tls":  tls,
	}
	if spec.Route.Host != "" {
		routeSpec["host"] = spec.Route.Host
	}
	u := &unstructured.Unstructured{Object: map[string]any{"spec": routeSpec}}
	u.SetGroupVersionKind(routeGVK)
	u.SetNamespace(in.Namespace)
	u.SetName(Name)
	return u
}

func ingress(in component.Inputs) client.Object {
	spec := in.Platform.Spec.Console
	ing := spec.Ingress
	port := "http"
	annotations := map[string]string{}
	if oauth(spec) {
		port = "https"
		annotations["nginx.ingress.kubernetes.io/backend-protocol"] = "HTTPS"
	}
	keys := make([]string, 0, len(ing.Annotations))
	for k := range ing.Annotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		annotations[k] = ing.Annotations[k]
	}
	if len(annotations) == 0 {
		annotations = nil
	}
	obj := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: in.Namespace, Annotations: annotations},
		Spec: networkingv1.IngressSpec{
			Rules: []networkingv1.IngressRule{{
				Host: ing.Host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path:     "/",
					PathType: ptr.To(networkingv1.PathTypePrefix),
					Backend:  networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: Name, Port: networkingv1.ServiceBackendPort{Name: port}}},
				}}}},
			}},
		},
	}
	if ing.ClassName != "" {
		obj.Spec.IngressClassName = ptr.To(ing.ClassName)
	}
	if ing.TLSSecretName != "" {
		obj.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{ing.Host}, SecretName: ing.TLSSecretName}}
	}
	return obj
}

// Ready when the Deployment has rolled out and is Available.
func (Component) Ready(ctx context.Context, c client.Reader, in component.Inputs) (bool, string, error) {
	return component.DeploymentReady(ctx, c, in.Namespace, Name)
}
