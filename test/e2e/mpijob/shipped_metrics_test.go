package mpijob_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mpijob-platform/mpijob-platform/rules"
)

// Every metric of ours that the shipped dashboards and rules query is one
// the manager really exports (dashboards that query metrics nobody exports
// are the usual failure). This runs after the suite's jobs succeeded and
// failed, so every series has appeared. Metrics of other exporters (Kueue,
// kube-state-metrics, DCGM) and of training jobs are outside its reach.
func TestShippedQueriesUseExportedMetrics(t *testing.T) {
	names, err := rules.MetricNames()
	if err != nil {
		t.Fatal(err)
	}
	text, err := scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, n := range names {
		ours := strings.HasPrefix(n, "mpijob_") && !strings.HasPrefix(n, "mpijob_training_") ||
			strings.HasPrefix(n, "mpi_operator_") || strings.HasPrefix(n, "controller_runtime_reconcile")
		if !ours {
			continue
		}
		checked++
		if !strings.Contains(text, "\n"+n+"{") && !strings.Contains(text, "\n"+n+" ") {
			t.Errorf("the shipped dashboards or rules query %s, which the manager does not export", n)
		}
	}
	if checked == 0 {
		t.Fatalf("no metric of ours among %v", names)
	}
	t.Logf("checked %d metric names of ours", checked)
}
