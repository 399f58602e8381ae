package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// promql is Prometheus' own parser.
var promql = parser.NewParser(parser.Options{})

// Every expression parses with Prometheus' own parser.
func TestExpressionsParse(t *testing.T) {
	for _, g := range PrometheusRule("x").Spec.Groups {
		for _, r := range g.Rules {
			if _, err := promql.ParseExpr(r.Expr.String()); err != nil {
				t.Errorf("%s%s: %v\n%s", r.Record, r.Alert, err, r.Expr.String())
			}
		}
	}
}

// So does every query of every dashboard, and the metric names they use
// are listed.
func TestDashboardQueriesParse(t *testing.T) {
	exprs, err := Expressions()
	if err != nil {
		t.Fatal(err)
	}
	if len(exprs) <= len(PrometheusRule("").Spec.Groups[0].Rules)+len(PrometheusRule("").Spec.Groups[1].Rules) {
		t.Fatal("no dashboard queries found")
	}
	for _, e := range exprs {
		if _, err := promql.ParseExpr(e); err != nil {
			t.Errorf("%v\n%s", err, e)
		}
	}
	names, err := MetricNames()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mpijob_jobs", "DCGM_FI_DEV_GPU_UTIL", "kueue_pending_workloads", "mpijob_create_to_running_seconds_bucket"} {
		if !contains(names, want) {
			t.Errorf("metric names %v lack %s", names, want)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Every alert links to its own runbook page, which exists.
func TestAlertsHaveRunbooks(t *testing.T) {
	for _, r := range PrometheusRule("x").Spec.Groups[1].Rules {
		url := r.Annotations["runbook_url"]
		doc, err := os.ReadFile(filepath.Join("..", RunbookDir, strings.TrimPrefix(url, RunbookBase)))
		if r.Alert == "" || !strings.HasPrefix(url, RunbookBase) || err != nil || !strings.HasPrefix(string(doc), "# "+r.Alert+"\n") {
			t.Errorf("alert %q: runbook %q does not start with '# %s' (%v)", r.Alert, url, r.Alert, err)
		}
		if r.Annotations["summary"] == "" || r.Labels["severity"] == "" {
			t.Errorf("alert %q lacks a summary or severity", r.Alert)
		}
	}
}

// The committed files are what the Go source generates.
func TestGeneratedYAMLIsCurrent(t *testing.T) {
	groups := func() ([]byte, error) { return RenderGroups("") }
	for file, render := range map[string]func() ([]byte, error){File: Render, GroupsFile: groups} {
		want, err := render()
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s is stale: run make generate", file)
		}
	}
}
