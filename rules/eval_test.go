package rules

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"
)

// series are what kube-state-metrics, DCGM, the controller and a training
// job export for two jobs in team-a: "bert" on two full GPUs, "resnet" on
// MIG slices (no DCGM_FI_DEV_GPU_UTIL, only graphics-engine activity), and
// the scaling example of docs/observability.md.
const series = `
load 1m
  kube_pod_labels{namespace="team-a",pod="bert-worker-0",label_training_kubeflow_org_job_name="bert"} 1x20
  kube_pod_labels{namespace="team-a",pod="bert-worker-1",label_training_kubeflow_org_job_name="bert"} 1x20
  kube_pod_labels{namespace="team-a",pod="resnet-worker-0",label_training_kubeflow_org_job_name="resnet"} 1x20
  kube_pod_labels{namespace="team-a",pod="notebook",label_training_kubeflow_org_job_name=""} 1x20
  kube_pod_container_resource_requests{namespace="team-a",pod="bert-worker-0",resource="nvidia_com_gpu"} 1x20
  kube_pod_container_resource_requests{namespace="team-a",pod="bert-worker-1",resource="nvidia_com_gpu"} 1x20
  kube_pod_container_resource_requests{namespace="team-a",pod="resnet-worker-0",resource="nvidia_com_gpu"} 1x20
  kube_pod_container_resource_requests{namespace="team-a",pod="notebook",resource="nvidia_com_gpu"} 1x20
  DCGM_FI_DEV_GPU_UTIL{namespace="team-a",pod="bert-worker-0",gpu="0"} 90x20
  DCGM_FI_DEV_GPU_UTIL{namespace="team-a",pod="bert-worker-1",gpu="1"} 70x20
  DCGM_FI_PROF_GR_ENGINE_ACTIVE{namespace="team-a",pod="resnet-worker-0",gpu="2",GPU_I_ID="1"} 0.02x20
  mpijob_jobs{namespace="team-a",phase="Running"} 2x20
  mpi_operator_jobs_failed_total{namespace="team-a",reason="OOMKilled"} 0x10 1x10
  mpijob_training_samples_per_second{namespace="team-a",mpijob="resnet"} 8160x20
  mpijob_training_workers{namespace="team-a",mpijob="resnet"} 8x20
  mpijob_training_baseline_samples_per_second{namespace="team-a",mpijob="resnet"} 1200x20
`

// eval runs expr at minute m on a real PromQL engine and returns
// "labels => value" lines, sorted.
func eval(t *testing.T, expr string, m int) []string {
	t.Helper()
	storage := promqltest.LoadedStorage(t, series)
	engine := promqltest.NewTestEngine(t, false, 5*time.Minute, 100000)
	q, err := engine.NewInstantQuery(context.Background(), storage, nil, expr, time.Unix(0, 0).Add(time.Duration(m)*time.Minute))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	res := q.Exec(context.Background())
	if res.Err != nil {
		t.Fatalf("%s: %v", expr, res.Err)
	}
	vec, err := res.Vector()
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	var out []string
	for _, s := range vec {
		out = append(out, fmt.Sprintf("%s => %.4g", s.Metric.String(), s.F))
	}
	sort.Strings(out)
	return out
}

func rule(t *testing.T, name string) string {
	t.Helper()
	for _, g := range PrometheusRule("").Spec.Groups {
		for _, r := range g.Rules {
			if r.Record == name || r.Alert == name {
				return r.Expr.String()
			}
		}
	}
	t.Fatalf("no rule %s", name)
	return ""
}

// The recording rules compute what docs/observability.md says, on
// Prometheus' own engine.
func TestRecordingRulesEvaluate(t *testing.T) {
	cases := []struct {
		rule string
		want []string
	}{
		{"mpijob:gpu_utilization:avg", []string{
			`{label_training_kubeflow_org_job_name="bert", namespace="team-a"} => 80`,
			`{label_training_kubeflow_org_job_name="resnet", namespace="team-a"} => 2`, // MIG: 0.02 engine activity
		}},
		{"namespace:mpijob_gpus_requested:sum", []string{`{namespace="team-a"} => 3`}}, // the notebook's GPU is not an MPIJob's
		{"namespace_phase:mpijob_jobs:sum", []string{`{namespace="team-a", phase="Running"} => 2`}},
		{"mpijob:scaling_efficiency:ratio", []string{`{mpijob="resnet", namespace="team-a"} => 0.85`}},
	}
	for _, tc := range cases {
		got := eval(t, rule(t, tc.rule), 15)
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", tc.rule, got, tc.want)
		}
	}
}

// Alerts fire on the series that should fire them and stay silent
// otherwise (the engine evaluates the expression; `for` is Prometheus').
func TestAlertExpressionsFire(t *testing.T) {
	// GPUs idle: the recorded utilisation below 5%; resnet is at 2%.
	idle := strings.ReplaceAll(rule(t, "MPIJobGPUsIdle"), "mpijob:gpu_utilization:avg", "("+rule(t, "mpijob:gpu_utilization:avg")+")")
	if got := eval(t, idle, 15); len(got) != 1 || !strings.Contains(got[0], `"resnet"`) {
		t.Errorf("MPIJobGPUsIdle fired for %v, want resnet only", got)
	}
	// A failure at minute 10: the alert fires within 10 minutes after, not before.
	if got := eval(t, rule(t, "MPIJobFailed"), 5); len(got) != 0 {
		t.Errorf("MPIJobFailed fired before any failure: %v", got)
	}
	if got := eval(t, rule(t, "MPIJobFailed"), 15); len(got) != 1 || !strings.Contains(got[0], `reason="OOMKilled"`) {
		t.Errorf("MPIJobFailed after an OOMKilled job: %v", got)
	}
	// No controller scraped: the absent() alert fires.
	if got := eval(t, rule(t, "MPIJobControllerDown"), 15); len(got) != 1 {
		t.Errorf("MPIJobControllerDown without any up series: %v", got)
	}
}
