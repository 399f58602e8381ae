// Package rules holds the platform's Prometheus recording rules and alerts,
// built with prometheus-operator's Go types. `make generate` writes them to
// mpijob-platform.rules.yaml (go run ./tools/rules), which the platform's
// monitoring component ships as a PrometheusRule. Every alert links to its
// runbook page under docs/troubleshooting/alerts/. It also writes the same
// groups as a plain Prometheus rule file (GroupsFile), which promtool checks
// and unit-tests (tests/) and which Prometheus without the operator loads.
package rules

import (
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// Name of the PrometheusRule.
const Name = "mpijob-platform"

// RunbookDir is the folder of the alerts' runbooks in the repository: one
// page per alert, named after the alert in lower case.
const RunbookDir = "docs/troubleshooting/alerts/"

// RunbookBase is where alert notifications link to: the runbooks as the
// project publishes them.
const RunbookBase = "https://github.com/mpijob-platform/mpijob-platform/blob/main/" + RunbookDir

// jobPods joins any per-pod series to the MPIJob its pod belongs to, using
// kube-state-metrics' kube_pod_labels (with the training.kubeflow.org/job-name
// label allowed, see the docs).
const jobPods = `max by (namespace, pod, label_training_kubeflow_org_job_name) (kube_pod_labels{label_training_kubeflow_org_job_name!=""})`

func record(name, expr string) monitoringv1.Rule {
	return monitoringv1.Rule{Record: name, Expr: intstr.FromString(expr)}
}

func alert(name, expr string, forDuration monitoringv1.Duration, severity, summary, description string) monitoringv1.Rule {
	return monitoringv1.Rule{
		Alert:  name,
		Expr:   intstr.FromString(expr),
		For:    ptr.To(forDuration),
		Labels: map[string]string{"severity": severity},
		Annotations: map[string]string{
			"summary":     summary,
			"description": description,
			"runbook_url": RunbookBase + strings.ToLower(name) + ".md",
		},
	}
}

// Recording rules.
var recordingRules = []monitoringv1.Rule{
	// MPIJobs by namespace and phase, from the controller's own gauge.
	record("namespace_phase:mpijob_jobs:sum", `sum by (namespace, phase) (mpijob_jobs)`),
	// GPUs held by MPIJob pods, per namespace: kube-state-metrics reports
	// requests of finished pods too, so only Pending and Running pods count.
	record("namespace:mpijob_gpus_requested:sum",
		`sum by (namespace) (kube_pod_container_resource_requests{resource="nvidia_com_gpu"} * on (namespace, pod) group_left () `+jobPods+` * on (namespace, pod) group_left () (max by (namespace, pod) (kube_pod_status_phase{phase=~"Pending|Running"}) == 1))`),
	// GPU utilisation per job (0-100): DCGM_FI_DEV_GPU_UTIL where the
	// exporter has it, else the MIG-aware graphics-engine activity (0-1,
	// scaled to percent).
	record("mpijob:gpu_utilization:avg",
		`avg by (namespace, label_training_kubeflow_org_job_name) ((DCGM_FI_DEV_GPU_UTIL or (DCGM_FI_PROF_GR_ENGINE_ACTIVE * 100)) * on (namespace, pod) group_left (label_training_kubeflow_org_job_name) `+jobPods+`)`),
	// Training throughput per job (samples/s), from the mpijob_training_samples_per_second gauge
	// a training job exposes (see docs), and scaling efficiency against the job's one-worker
	// baseline mpijob_training_baseline_samples_per_second: throughput / (workers x baseline).
	record("mpijob:training_samples_per_second:sum", `sum by (namespace, mpijob) (mpijob_training_samples_per_second)`),
	record("mpijob:scaling_efficiency:ratio",
		`sum by (namespace, mpijob) (mpijob_training_samples_per_second) / on (namespace, mpijob) (max by (namespace, mpijob) (mpijob_training_workers) * max by (namespace, mpijob) (mpijob_training_baseline_samples_per_second))`),
}

// Alerts.
var alerts = []monitoringv1.Rule{
	alert("MPIJobControllerDown", `absent(up{service="mpijob-controller-metrics"} == 1)`, "5m", "critical",
		"The MPIJob controller is down: MPIJobs are not reconciled.",
		"No MPIJob controller replica has been scraped for 5 minutes."),
	// A reason's counter appears at 1 on its first failure (and again after
	// a controller restart), which increase() cannot see: a series that did
	// not exist 10 minutes ago counts as new failures too.
	alert("MPIJobFailed", `(sum by (namespace, reason) (increase(mpi_operator_jobs_failed_total[10m])) > 0) or ((sum by (namespace, reason) (mpi_operator_jobs_failed_total) > 0) unless sum by (namespace, reason) (mpi_operator_jobs_failed_total offset 10m))`, "0m", "warning",
		"MPIJobs failed in {{ $labels.namespace }} ({{ $labels.reason }}).",
		"{{ $value }} MPIJob(s) failed in the last 10 minutes with reason {{ $labels.reason }}; `kubectl describe mpijob` shows the diagnosis and what to change."),
	// Workloads pend and either the median admission waited over an hour,
	// or nothing was admitted in the last hour at all (a stuck queue records
	// no wait times).
	alert("MPIJobQueuedTooLong", `sum by (cluster_queue) (kueue_pending_workloads) > 0 and on (cluster_queue) ((histogram_quantile(0.5, sum by (cluster_queue, le) (rate(kueue_admission_wait_time_seconds_bucket[1h]))) > 3600) or (sum by (cluster_queue) (kueue_pending_workloads) unless on (cluster_queue) (sum by (cluster_queue) (increase(kueue_admission_wait_time_seconds_count[1h])) > 0)))`, "30m", "warning",
		"Workloads wait over an hour in ClusterQueue {{ $labels.cluster_queue }}.",
		"Jobs queue for more than an hour before admission: the queue's quota is too small for its demand."),
	alert("MPIJobGPUsIdle", `mpijob:gpu_utilization:avg < 5`, "30m", "warning",
		"MPIJob {{ $labels.namespace }}/{{ $labels.label_training_kubeflow_org_job_name }} holds GPUs it does not use.",
		"Its GPUs have been under 5% busy for 30 minutes: the job may be stuck (NCCL hang, data loading) or oversized."),
	// Counted by the API server, which sees every failed call (TLS, no
	// endpoints, timeouts); controller-runtime answers even its own errors
	// with HTTP 200, so the controller's counters cannot tell.
	alert("MPIJobWebhookErrors", `sum by (name) (rate(apiserver_admission_webhook_rejection_count{name=~"mpijobs[.](defaulting|validation)[.]mpijob[.]io",error_type=~"calling_webhook_error|apiserver_internal_error"}[5m])) > 0.1`, "10m", "warning",
		"The API server fails to call the MPIJob admission webhook {{ $labels.name }}.",
		"More than one error every 10 seconds for 10 minutes: MPIJob creation may fail for users."),
	alert("MPIJobWebhookSlow", `histogram_quantile(0.99, sum by (webhook, le) (rate(controller_runtime_webhook_latency_seconds_bucket[5m]))) > 0.5`, "10m", "warning",
		"The MPIJob admission webhook {{ $labels.webhook }} is slow (p99 > 500 ms).",
		"Admission p99 over 500 ms for 10 minutes; the API server times the webhook out at 10 s."),
	alert("MPIJobReconcileErrors", `sum by (controller) (rate(controller_runtime_reconcile_errors_total{controller=~"mpijob-controller|mpijobplatform"}[10m])) > 0`, "15m", "warning",
		"The {{ $labels.controller }} controller keeps failing to reconcile.",
		"Reconcile errors for 15 minutes: see the controller's log for the API error."),
}

// PrometheusRule returns the rules as prometheus-operator's resource, in
// namespace.
func PrometheusRule(namespace string) *monitoringv1.PrometheusRule {
	return &monitoringv1.PrometheusRule{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.PrometheusRuleKind},
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: namespace},
		Spec: monitoringv1.PrometheusRuleSpec{Groups: []monitoringv1.RuleGroup{
			{Name: "mpijob-platform.recording", Interval: ptr.To(monitoringv1.Duration("30s")), Rules: recordingRules},
			{Name: "mpijob-platform.alerts", Rules: alerts},
		}},
	}
}

// File is the generated rules file, relative to this package.
const File = "mpijob-platform.rules.yaml"

// GroupsFile is the generated plain Prometheus rule file, relative to this
// package: the PrometheusRule's groups alone.
const GroupsFile = "mpijob-platform.groups.yaml"

// Groups returns the rule groups; interval, when set, replaces every
// group's evaluation interval (tests evaluate every second).
func Groups(interval string) []monitoringv1.RuleGroup {
	groups := PrometheusRule("").Spec.Groups
	if interval != "" {
		for i := range groups {
			groups[i].Interval = ptr.To(monitoringv1.Duration(interval))
		}
	}
	return groups
}

// RenderGroups is a plain Prometheus rule file of the groups (see Groups).
func RenderGroups(interval string) ([]byte, error) {
	data, err := yaml.Marshal(struct {
		Groups []monitoringv1.RuleGroup `json:"groups"`
	}{Groups(interval)})
	if err != nil {
		return nil, err
	}
	return append([]byte("# Generated by `go run ./tools/rules` (make generate) from rules/rules.go; do not edit.\n"), data...), nil
}

// Render is the content of File: the PrometheusRule without a namespace,
// as YAML (promtool reads the spec's groups; kubectl applies the whole).
func Render() ([]byte, error) {
	data, err := yaml.Marshal(PrometheusRule(""))
	if err != nil {
		return nil, err
	}
	return append([]byte("# Generated by `go run ./tools/rules` (make generate) from rules/rules.go; do not edit.\n"), data...), nil
}
