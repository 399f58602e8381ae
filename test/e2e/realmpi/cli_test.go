package realmpi_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// TestCLIShowsTheRealRun: a data scientist's kubectl odh reads what the
// real processes printed (through the API server and the runtime's kubelet
// API) and the job's outcome, with an honest exit code.
func TestCLIShowsTheRealRun(t *testing.T) {
	ctx := context.Background()
	repo, err := cluster.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "kubectl-odh")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cli/cmd/kubectl-odh")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building kubectl-odh: %v\n%s", err, out)
	}
	if err := env.InstallUserRoles(ctx); err != nil {
		t.Fatal(err)
	}
	ns := env.CreateRealNamespace(t, "cli")
	alice := env.CreateUser(t, ns, "alice", framework.DataScientistRole)
	job := framework.UpstreamExample(t, "pi/pi.yaml")
	job.Namespace = ns
	runToSuccess(t, job)

	odh := func(args ...string) (string, int) {
		t.Helper()
		c := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig=" + alice.Kubeconfig}, args...)...)
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, os.Stderr
		err := c.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), code
	}
	logs, code := odh("mpijob", "logs", job.Name, "-n", ns)
	if code != 0 || !strings.Contains(logs, "pi is approximately 3.14159") || !strings.Contains(logs, "on host pi-worker-1") {
		t.Errorf("kubectl odh mpijob logs: exit %d, output:\n%s", code, logs)
	}
	get, code := odh("mpijob", "get", job.Name, "-n", ns)
	if code != 0 || !strings.Contains(get, "Succeeded") {
		t.Errorf("kubectl odh mpijob get: exit %d, output:\n%s", code, get)
	}
}
