// Package webhooks is the platform's webhooks component: the MPIJob
// mutating and validating webhook configurations and the Service in front
// of the controller's webhook server. Certificates come from the
// controller (self-managed: it fills caBundle), OpenShift's service CA or
// cert-manager, as the spec says.
package webhooks

import (
	"context"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mpijob-platform/mpijob-platform/config"
	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/component"
)

// Component is webhooks.
type Component struct{}

var _ component.Component = Component{}

func (Component) Name() string { return "Webhooks" }
func (Component) Key() string  { return "webhooks" }

func (Component) State(spec *platformv1.MPIJobPlatformSpec) string {
	return string(spec.Webhooks.ManagementState)
}

func (Component) Kinds() []schema.GroupVersionKind {
	return []schema.GroupVersionKind{
		admissionregistrationv1.SchemeGroupVersion.WithKind("MutatingWebhookConfiguration"),
		admissionregistrationv1.SchemeGroupVersion.WithKind("ValidatingWebhookConfiguration"),
		corev1.SchemeGroupVersion.WithKind("Service"),
		certificateGVK,
	}
}

// Annotations that make OpenShift's service CA and cert-manager issue the
// certificate and inject their CA.
const (
	serviceCASecretAnnotation = "service.beta.openshift.io/serving-cert-secret-name"
	serviceCAInjectAnnotation = "service.beta.openshift.io/inject-cabundle"
	certManagerInjectFrom     = "cert-manager.io/inject-ca-from"
)

// Desired renders the configurations (pointed at the Service, or at a
// loopback URL on the dev cluster) and the Service.
func (Component) Desired(in component.Inputs) ([]client.Object, error) {
	m, v, err := config.WebhookConfigurations()
	if err != nil {
		return nil, err
	}
	w := in.Platform.Spec.Webhooks
	clientConfig := func(path *string) admissionregistrationv1.WebhookClientConfig {
		if in.LocalWebhookURL != "" {
			return admissionregistrationv1.WebhookClientConfig{URL: ptr.To(in.LocalWebhookURL + ptr.Deref(path, ""))}
		}
		return admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
			Namespace: in.Namespace, Name: component.WebhookService, Path: path, Port: ptr.To[int32](443),
		}}
	}
	annotations := map[string]string{}
	switch w.Certificates {
	case "OpenShiftServiceCA":
		annotations[serviceCAInjectAnnotation] = "true"
	case "CertManager":
		annotations[certManagerInjectFrom] = in.Namespace + "/" + component.WebhookService
	}
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: component.MutatingWebhookConfiguration, Annotations: annotations}}
	for _, h := range m.Webhooks {
		var path *string
		if h.ClientConfig.Service != nil {
			path = h.ClientConfig.Service.Path
		}
		h.ClientConfig = clientConfig(path)
		mutating.Webhooks = append(mutating.Webhooks, h)
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: component.ValidatingWebhookConfiguration, Annotations: annotations}}
	for _, h := range v.Webhooks {
		var path *string
		if h.ClientConfig.Service != nil {
			path = h.ClientConfig.Service.Path
		}
		h.ClientConfig = clientConfig(path)
		validating.Webhooks = append(validating.Webhooks, h)
	}
	objs := []client.Object{mutating, validating}
	if in.LocalWebhookURL == "" {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: component.WebhookService, Namespace: in.Namespace},
			Spec: corev1.ServiceSpec{
				Selector: component.ControllerSelector(),
				Ports:    []corev1.ServicePort{{Name: "webhook", Port: 443, TargetPort: intstr.FromString("webhook"), Protocol: corev1.ProtocolTCP}},
			},
		}
		if w.Certificates == "OpenShiftServiceCA" {
			svc.Annotations = map[string]string{serviceCASecretAnnotation: component.WebhookCertSecret}
		}
		objs = append(objs, svc)
	}
	if w.Certificates == "CertManager" && w.CertManagerIssuer != nil {
		objs = append(objs, certificate(in, w.CertManagerIssuer))
	}
	return objs, nil
}

// Ready when every webhook has a CA bundle, which the certificate source
// puts there once the serving certificate exists.
func (Component) Ready(ctx context.Context, c client.Reader, _ component.Inputs) (bool, string, error) {
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := c.Get(ctx, client.ObjectKey{Name: component.MutatingWebhookConfiguration}, m); err != nil {
		return false, "", client.IgnoreNotFound(err)
	}
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := c.Get(ctx, client.ObjectKey{Name: component.ValidatingWebhookConfiguration}, v); err != nil {
		return false, "", client.IgnoreNotFound(err)
	}
	for _, h := range m.Webhooks {
		if len(h.ClientConfig.CABundle) == 0 {
			return false, fmt.Sprintf("waiting for the serving certificate: webhook %s has no caBundle yet", h.Name), nil
		}
	}
	for _, h := range v.Webhooks {
		if len(h.ClientConfig.CABundle) == 0 {
			return false, fmt.Sprintf("waiting for the serving certificate: webhook %s has no caBundle yet", h.Name), nil
		}
	}
	return true, fmt.Sprintf("%d webhook(s) registered with a CA bundle", len(m.Webhooks)+len(v.Webhooks)), nil
}

// OptionalKinds: cert-manager's Certificate, only when it issues.
func (Component) OptionalKinds() map[schema.GroupKind]string {
	return map[schema.GroupKind]string{certificateGVK.GroupKind(): "cert-manager"}
}

var certificateGVK = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}

// certificate asks cert-manager for the serving certificate of the
// webhook Service, stored where the controller's pods mount it.
func certificate(in component.Inputs, issuer *platformv1.IssuerReference) client.Object {
	svc := component.WebhookService + "." + in.Namespace + ".svc"
	u := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"secretName": component.WebhookCertSecret,
			"dnsNames":   []any{svc, svc + ".cluster.local"},
			"issuerRef":  map[string]any{"name": issuer.Name, "kind": issuer.Kind, "group": "cert-manager.io"},
		},
	}}
	u.SetGroupVersionKind(certificateGVK)
	u.SetNamespace(in.Namespace)
	u.SetName(component.WebhookService)
	return u
}
