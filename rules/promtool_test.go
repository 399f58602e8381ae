package rules

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

// testFiles are the promtool unit tests of the rules.
const testFiles = "tests/*.test.yaml"

// promtool finds Prometheus' promtool: Debian's prometheus package, which
// make test-deps installs.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not on PATH: install Debian's prometheus package (apt-get install prometheus), or run make test-deps, which make test runs first")
	}
	return path
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out)
	}
}

// promtool accepts the generated rule file.
func TestPromtoolCheckRules(t *testing.T) {
	runPromtool(t, "check", "rules", GroupsFile)
}

// The promtool unit tests pass.
func TestPromtoolTestRules(t *testing.T) {
	files, err := filepath.Glob(testFiles)
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool tests match %s (%v)", testFiles, err)
	}
	runPromtool(t, append([]string{"test", "rules"}, files...)...)
}

// Every recording rule has a promtool test of its output, and every alert
// a test where it fires and one where it stays silent.
func TestEveryRuleHasAPromtoolTest(t *testing.T) {
	type testFile struct {
		Tests []struct {
			PromQL []struct {
				Expr string `json:"expr"`
			} `json:"promql_expr_test"`
			Alerts []struct {
				Name      string           `json:"alertname"`
				ExpAlerts []map[string]any `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	files, err := filepath.Glob(testFiles)
	if err != nil {
		t.Fatal(err)
	}
	exprs, fires, silent := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tf testFile
		if err := yaml.Unmarshal(data, &tf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range tf.Tests {
			for _, p := range tc.PromQL {
				exprs[p.Expr] = true
			}
			for _, a := range tc.Alerts {
				if len(a.ExpAlerts) > 0 {
					fires[a.Name] = true
				} else {
					silent[a.Name] = true
				}
			}
		}
	}
	for _, g := range Groups("") {
		for _, r := range g.Rules {
			switch {
			case r.Record != "" && !exprs[r.Record]:
				t.Errorf("recording rule %s has no promql_expr_test in %s", r.Record, testFiles)
			case r.Alert != "" && !fires[r.Alert]:
				t.Errorf("alert %s has no alert_rule_test where it fires in %s", r.Alert, testFiles)
			case r.Alert != "" && !silent[r.Alert]:
				t.Errorf("alert %s has no alert_rule_test where it stays silent in %s", r.Alert, testFiles)
			}
		}
	}
}
