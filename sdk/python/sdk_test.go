// Package python_test runs the Python SDK's checks from `go test ./...`
// (and so `make test`): its pytest unit tests, `mypy --strict`, and that
// docs/reference/sdk-api.md matches the docstrings. They run in the
// virtual environment test/framework.PythonVenv keeps in .cache/python.
// The integration tests against the dev cluster are in test/e2e/sdk.
package python_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

var venv *framework.Venv

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	var err error
	venv, err = framework.PythonVenv(ctx, os.Stderr)
	cancel()
	if err != nil {
		os.Stderr.WriteString("python: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func run(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := venv.Command(ctx, "", name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("%s %s:\n%s", name, strings.Join(args, " "), out.String())
	return out.String(), err
}

var pytestSummary = regexp.MustCompile(`(?m)^=* ?(\d+ passed.*) in [0-9.]+s`)

func TestUnit(t *testing.T) {
	out, err := run(t, 5*time.Minute, "pytest", "tests/unit", "-q", "-p", "no:cacheprovider")
	if err != nil {
		t.Fatalf("pytest tests/unit: %v", err)
	}
	m := pytestSummary.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no pytest summary in the output")
	}
	for _, bad := range []string{"skipped", "failed", "error", "deselected", "xfail"} {
		if strings.Contains(m[1], bad) {
			t.Errorf("pytest summary %q: want only passed tests", m[1])
		}
	}
}

// TestIntegrationNeedsACluster: selected without KUBECONFIG, the
// integration suite fails (every test errors), never skips.
func TestIntegrationNeedsACluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := venv.Command(ctx, "", "pytest", "tests/integration", "-q", "-p", "no:cacheprovider")
	env := cmd.Env[:0:0]
	for _, kv := range cmd.Env {
		if !strings.HasPrefix(kv, "KUBECONFIG=") && !strings.HasPrefix(kv, "SDK_TEST_NAMESPACE=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("pytest tests/integration without KUBECONFIG:\n%s", out.String())
	if err == nil {
		t.Fatal("pytest passed without a cluster")
	}
	text := out.String()
	if !strings.Contains(text, "KUBECONFIG is not set") || strings.Contains(text, "skipped") || !regexp.MustCompile(`\d+ errors? in `).MatchString(text) {
		t.Errorf("want every test to error saying KUBECONFIG is not set, and none skipped")
	}
}

func TestTypes(t *testing.T) {
	// The configuration (strict, files) is in pyproject.toml; the cache
	// stays out of the source tree.
	if _, err := run(t, 5*time.Minute, "mypy", "--strict", "--cache-dir", filepath.Join(venv.CacheDir, "mypy")); err != nil {
		t.Fatalf("mypy --strict: %v", err)
	}
}

func TestAPIReferenceUpToDate(t *testing.T) {
	if _, err := run(t, time.Minute, "python", "tools/gen_api_docs.py", "--check"); err != nil {
		t.Fatalf("docs/reference/sdk-api.md is stale: run `python3 sdk/python/tools/gen_api_docs.py` (make generate): %v", err)
	}
}
