package rules

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/mpijob-platform/mpijob-platform/dashboards"
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

// So does every query of every dashboard.
func TestDashboardQueriesParse(t *testing.T) {
	_, files, err := dashboards.Files()
	if err != nil {
		t.Fatal(err)
	}
	expr := regexp.MustCompile(`"expr": "((?:[^"\\]|\\.)*)"`)
	n := 0
	for uid, data := range files {
		for _, m := range expr.FindAllSubmatch(data, -1) {
			q := strings.NewReplacer(`\"`, `"`, `\\`, `\`, "$__rate_interval", "5m").Replace(string(m[1]))
			if _, err := promql.ParseExpr(q); err != nil {
				t.Errorf("dashboard %s: %v\n%s", uid, err, q)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no dashboard queries found")
	}
}

// Every alert has a runbook, and the runbook's anchor exists.
func TestAlertsHaveRunbooks(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", strings.TrimSuffix(RunbookBase, "#")))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range PrometheusRule("x").Spec.Groups[1].Rules {
		url := r.Annotations["runbook_url"]
		anchor := strings.TrimPrefix(url, RunbookBase)
		if r.Alert == "" || anchor == url || !strings.Contains(string(doc), "\n## "+r.Alert+"\n") {
			t.Errorf("alert %q: runbook %q has no '## %s' section in %s", r.Alert, url, r.Alert, RunbookBase)
		}
		if r.Annotations["summary"] == "" || r.Labels["severity"] == "" {
			t.Errorf("alert %q lacks a summary or severity", r.Alert)
		}
	}
}

// The committed YAML is what the Go source generates.
func TestGeneratedYAMLIsCurrent(t *testing.T) {
	want, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(File)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s is stale: run make generate", File)
	}
}
