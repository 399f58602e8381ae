package mpijob_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

func scrape(ctx context.Context) (string, error) { return manager.Scrape(ctx) }

// /metrics names every tenant's jobs: it answers only over HTTPS, only to
// a bearer token the API server authenticates (401 otherwise) and
// authorizes for GET /metrics (403 otherwise), which the shipped
// mpijob-platform-metrics-reader ClusterRole grants.
func TestMetricsAnswerOnlyAuthorizedScrapers(t *testing.T) {
	ctx := context.Background()
	if !strings.HasPrefix(manager.MetricsURL, "https://") {
		t.Fatalf("metrics at %s, want https", manager.MetricsURL)
	}
	plain := "http://" + strings.TrimPrefix(manager.MetricsURL, "https://")
	if code, err := framework.ScrapeStatus(ctx, plain, ""); err == nil && code == http.StatusOK {
		t.Errorf("plain HTTP scrape of %s answered 200", plain)
	}
	ns := env.CreateNamespace(t, "scraper")
	stranger := env.ServiceAccountToken(t, ns, "not-prometheus")
	reader, err := env.MetricsReaderToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for who, tc := range map[string]struct {
		token string
		want  int
	}{
		"anonymous":                           {"", http.StatusUnauthorized},
		"a token the API server never issued": {"not-a-token", http.StatusUnauthorized},
		"a ServiceAccount without the role":   {stranger, http.StatusForbidden},
		"a ServiceAccount with the role":      {reader, http.StatusOK},
	} {
		code, err := framework.ScrapeStatus(ctx, manager.MetricsURL, tc.token)
		if err != nil {
			t.Fatalf("%s: %v", who, err)
		}
		if code != tc.want {
			t.Errorf("%s: %d, want %d", who, code, tc.want)
		}
	}
}

// The manager exports upstream's metric names, so existing dashboards keep
// working, and ours: time to running, jobs by phase, failures by reason.
func TestMetricsKeepUpstreamNamesAndAddOurs(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "metrics")
	ok := simpleJob(ns, "ok", 1)
	finishLauncher(ok, "1s", 0)
	bad := simpleJob(ns, "bad", 1)
	bad.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].RestartPolicy = kubeflow.RestartPolicyNever
	bad.Spec.RunPolicy.BackoffLimit = ptr.To[int32](0)
	finishLauncher(bad, "1s", 9)
	for _, j := range []*kubeflow.MPIJob{ok, bad} {
		if err := env.Client.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	waitCondition(t, ok, kubeflow.JobSucceeded)
	waitCondition(t, bad, kubeflow.JobFailed)
	want := []string{
		fmt.Sprintf(`mpi_operator_jobs_created_total{namespace=%q} 2`, ns),
		fmt.Sprintf(`mpi_operator_jobs_successful_total{namespace=%q} 1`, ns),
		fmt.Sprintf(`mpi_operator_jobs_failed_total{namespace=%q,reason="BackoffLimitExceeded"} 1`, ns),
		fmt.Sprintf(`mpi_operator_job_info{launcher="ok-launcher",namespace=%q} 1`, ns),
		`mpi_operator_is_leader 1`,
		fmt.Sprintf(`mpijob_jobs{namespace=%q,phase="Succeeded"} 1`, ns),
		fmt.Sprintf(`mpijob_jobs{namespace=%q,phase="Failed"} 1`, ns),
		`mpijob_create_to_running_seconds_count`,
	}
	framework.Eventually(t, framework.DefaultTimeout, "the metrics", func(ctx context.Context) (bool, string, error) {
		body, err := scrape(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		var missing []string
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = append(missing, w)
			}
		}
		return len(missing) == 0, fmt.Sprintf("missing %q", missing), nil
	})
}
