// Package monitoring is the platform's monitoring component: a
// ServiceMonitor that has Prometheus scrape the MPIJob controller, a
// PrometheusRule with the platform's alerts (both need prometheus-operator's
// CRDs; without them the component is degraded and names what to install),
// and the Grafana dashboards of package dashboards, as ConfigMaps labelled
// for Grafana's dashboard sidecar and, when grafana-operator's CRD exists,
// as GrafanaDashboard resources.
package monitoring

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mpijob-platform/mpijob-platform/dashboards"
	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/component"
	"github.com/mpijob-platform/mpijob-platform/rules"
)

// Component is monitoring.
type Component struct{}

var _ component.Component = Component{}

var (
	serviceMonitorGVK   = schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}
	prometheusRuleGVK   = schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "PrometheusRule"}
	grafanaDashboardGVK = schema.GroupVersionKind{Group: "grafana.integreatly.org", Version: "v1beta1", Kind: "GrafanaDashboard"}
)

// Labels and selectors the dashboards are found by.
const (
	// GrafanaSidecarLabel is the label Grafana's dashboard sidecar (the
	// Grafana Helm chart's default) loads ConfigMaps by.
	GrafanaSidecarLabel = "grafana_dashboard"
	// GrafanaInstanceLabel selects the Grafana instances of grafana-operator
	// that get the GrafanaDashboards: label your Grafana with dashboards=mpijob-platform.
	GrafanaInstanceLabel = "dashboards"
)

func (Component) Name() string { return "Monitoring" }
func (Component) Key() string  { return "monitoring" }

func (Component) State(spec *platformv1.MPIJobPlatformSpec) string {
	return string(spec.Monitoring.ManagementState)
}

func (Component) Kinds() []schema.GroupVersionKind {
	return []schema.GroupVersionKind{serviceMonitorGVK, prometheusRuleGVK, grafanaDashboardGVK, corev1.SchemeGroupVersion.WithKind("ConfigMap")}
}

// SoftKinds: GrafanaDashboards are made only where grafana-operator runs.
func (Component) SoftKinds() map[schema.GroupKind]bool {
	return map[schema.GroupKind]bool{grafanaDashboardGVK.GroupKind(): true}
}

// OptionalKinds: prometheus-operator's CRDs may be absent.
func (Component) OptionalKinds() map[schema.GroupKind]string {
	const what = "prometheus-operator (monitoring.coreos.com/v1 CRDs)"
	return map[schema.GroupKind]string{serviceMonitorGVK.GroupKind(): what, prometheusRuleGVK.GroupKind(): what, grafanaDashboardGVK.GroupKind(): "grafana-operator"}
}

// operatorName is the platform operator's app.kubernetes.io/name.
const operatorName = "mpijob-platform-operator"

// Desired renders the ServiceMonitor and the rules.
func (Component) Desired(in component.Inputs) ([]client.Object, error) {
	// The controller's metrics Service, and the operator's (the Helm chart
	// and the OLM bundle name it operatorName), whose reconcile errors
	// MPIJobReconcileErrors watches too.
	sm := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{
		"selector": map[string]any{"matchExpressions": []any{map[string]any{
			"key": "app.kubernetes.io/name", "operator": "In", "values": []any{component.ControllerName, operatorName},
		}}},
		// HTTPS with the scraping Prometheus' own ServiceAccount token,
		// which needs the shipped mpijob-platform-metrics-reader
		// ClusterRole. The managers' certificates are self-signed (made
		// at start), so the scrape does not verify them; the token goes
		// only to the Service's own endpoints.
		"endpoints": []any{map[string]any{
			"port": "metrics", "path": "/metrics", "interval": "30s", "scheme": "https",
			"bearerTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token",
			"tlsConfig":       map[string]any{"insecureSkipVerify": true},
		}},
	}}}
	sm.SetGroupVersionKind(serviceMonitorGVK)
	sm.SetNamespace(in.Namespace)
	sm.SetName(component.ControllerName)

	// The rules of package rules (recording rules and alerts with runbooks).
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(rules.PrometheusRule(in.Namespace))
	if err != nil {
		return nil, err
	}
	rule := &unstructured.Unstructured{Object: content}
	rule.SetGroupVersionKind(prometheusRuleGVK)
	objs := []client.Object{sm, rule}

	uids, files, err := dashboards.Files()
	if err != nil {
		return nil, err
	}
	for _, uid := range uids {
		objs = append(objs, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "dashboard-" + uid, Namespace: in.Namespace, Labels: map[string]string{GrafanaSidecarLabel: "1"}},
			Data:       map[string]string{uid + ".json": string(files[uid])},
		})
		gd := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{
			"instanceSelector": map[string]any{"matchLabels": map[string]any{GrafanaInstanceLabel: "mpijob-platform"}},
			"json":             string(files[uid]),
		}}}
		gd.SetGroupVersionKind(grafanaDashboardGVK)
		gd.SetNamespace(in.Namespace)
		gd.SetName(uid)
		objs = append(objs, gd)
	}
	return objs, nil
}

// Ready once applied: Prometheus and Grafana pick them up by themselves.
func (Component) Ready(ctx context.Context, c client.Reader, _ component.Inputs) (bool, string, error) {
	msg := "ServiceMonitor, PrometheusRule and dashboards (ConfigMaps and GrafanaDashboards) installed"
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(grafanaDashboardGVK.GroupVersion().WithKind("GrafanaDashboardList"))
	if err := c.List(ctx, list, client.Limit(1)); meta.IsNoMatchError(err) {
		msg = "ServiceMonitor, PrometheusRule and dashboard ConfigMaps (for Grafana's sidecar) installed; no GrafanaDashboards: grafana-operator is not installed"
	}
	return true, msg, nil
}
