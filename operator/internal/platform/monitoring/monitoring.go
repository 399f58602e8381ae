// Package monitoring is the platform's monitoring component: a
// ServiceMonitor that has Prometheus scrape the MPIJob controller, and a
// PrometheusRule with the platform's alerts. Both need prometheus-operator's
// CRDs; without them the component is degraded and names what to install.
// (Grafana dashboards and the full rule set come with the observability
// work and will be added here.)
package monitoring

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/component"
)

// Component is monitoring.
type Component struct{}

var _ component.Component = Component{}

var (
	serviceMonitorGVK = schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}
	prometheusRuleGVK = schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "PrometheusRule"}
)

func (Component) Name() string { return "Monitoring" }
func (Component) Key() string  { return "monitoring" }

func (Component) State(spec *platformv1.MPIJobPlatformSpec) string {
	return string(spec.Monitoring.ManagementState)
}

func (Component) Kinds() []schema.GroupVersionKind {
	return []schema.GroupVersionKind{serviceMonitorGVK, prometheusRuleGVK}
}

// OptionalKinds: prometheus-operator's CRDs may be absent.
func (Component) OptionalKinds() map[schema.GroupKind]string {
	const what = "prometheus-operator (monitoring.coreos.com/v1 CRDs)"
	return map[schema.GroupKind]string{serviceMonitorGVK.GroupKind(): what, prometheusRuleGVK.GroupKind(): what}
}

// Desired renders the ServiceMonitor and the rules.
func (Component) Desired(in component.Inputs) ([]client.Object, error) {
	sm := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{
		"selector":  map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": component.ControllerName}},
		"endpoints": []any{map[string]any{"port": "metrics", "path": "/metrics", "interval": "30s"}},
	}}}
	sm.SetGroupVersionKind(serviceMonitorGVK)
	sm.SetNamespace(in.Namespace)
	sm.SetName(component.ControllerName)

	rule := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"groups": []any{
		map[string]any{"name": "mpijob-platform.controller", "rules": []any{
			map[string]any{
				"alert":  "MPIJobControllerDown",
				"expr":   `absent(up{service="` + component.MetricsService + `"} == 1)`,
				"for":    "5m",
				"labels": map[string]any{"severity": "critical"},
				"annotations": map[string]any{
					"summary":     "The MPIJob controller is down: MPIJobs are not reconciled.",
					"description": "No MPIJob controller replica has been scraped for 5 minutes. Check the mpijob-controller Deployment in " + in.Namespace + ".",
				},
			},
		}},
	}}}}
	rule.SetGroupVersionKind(prometheusRuleGVK)
	rule.SetNamespace(in.Namespace)
	rule.SetName("mpijob-platform")
	return []client.Object{sm, rule}, nil
}

// Ready once applied: Prometheus picks them up by itself.
func (Component) Ready(context.Context, client.Reader, component.Inputs) (bool, string, error) {
	return true, "ServiceMonitor and PrometheusRule installed", nil
}
