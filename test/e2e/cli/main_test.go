// Package cli_test runs the kubectl-odh binary end to end against the dev
// cluster (apiserver, scheduler, kwok nodes, Kueue) with our manager and its
// admission webhooks, as the people who use it: data scientists, viewers and
// platform admins, each a ServiceAccount with its own token and the role the
// product ships for that persona.
package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

var (
	env     *framework.Env
	manager *framework.Manager
	// binDir holds the kubectl-odh built for this run; repo is the root.
	binDir, repo string
)

func init() {
	if err := kubeflow.AddToScheme(framework.Scheme); err != nil {
		panic(err)
	}
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if repo, err = cluster.FindRepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, "finding the repository:", err)
		return 1
	}
	if binDir, err = os.MkdirTemp("", "kubectl-odh-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(binDir)
	build := exec.Command("go", "build", "-o", filepath.Join(binDir, "kubectl-odh"), "./cli/cmd/kubectl-odh")
	build.Dir, build.Stdout, build.Stderr = repo, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building kubectl-odh:", err)
		return 1
	}
	return framework.RunWithCluster(m, framework.ClusterOptions{
		CRDDirs: []string{"config/crd/bases"},
		Setup: func(e *framework.Env) (func(), error) {
			// No platform runs here to install the user roles that edit and
			// view aggregate; install them as the chart would.
			if err := e.InstallUserRoles(context.Background()); err != nil {
				return nil, err
			}
			return framework.ManagerWithWebhooks(&manager, "--role=mpijob-controller")(e)
		},
	}, &env)
}

// dataScientist is the person who runs jobs in ns: a ServiceAccount bound
// there to edit (which aggregates mpijob-platform-user), acting with its
// own token. Cluster-admin only sets up namespaces and queues.
func dataScientist(t *testing.T, ns string) *framework.User {
	t.Helper()
	return env.CreateUser(t, ns, "alice", framework.DataScientistRole)
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// odh runs kubectl-odh against the dev cluster as user.
func odh(t *testing.T, user *framework.User, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl-odh"), append([]string{"--kubeconfig=" + user.Kubeconfig}, args...)...)
	var out, errOut bytes.Buffer
	c.Stdin, c.Stdout, c.Stderr = strings.NewReader(stdin), &out, &errOut
	err := c.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("running kubectl-odh %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	r := result{code, out.String(), errOut.String()}
	t.Logf("kubectl-odh %s: %s", strings.Join(args, " "), r)
	return r
}

// jobYAML is a manifest whose launcher kwok ends after finishAfter with
// exitCode; workers ask for one CPU each.
func jobYAML(ns, name string, exitCode int) string {
	return fmt.Sprintf(`apiVersion: kubeflow.org/v2beta1
kind: MPIJob
metadata:
  name: %s
  namespace: %s
spec:
  slotsPerWorker: 1
  runPolicy:
    cleanPodPolicy: Running
  mpiReplicaSpecs:
    Launcher:
      replicas: 1
      template:
        metadata:
          annotations:
            %s: 3s
            %s: "%d"
        spec:
          containers:
          - name: mpi-launcher
            image: example.invalid/mpi:1
            command: [mpirun, -n, "2", python, train.py]
            resources:
              requests: {cpu: 100m, memory: 256Mi}
    Worker:
      replicas: 2
      template:
        spec:
          containers:
          - name: mpi-worker
            image: example.invalid/mpi:1
            resources:
              requests: {cpu: "1", memory: 1Gi}
`, name, ns, cluster.FinishAfterAnnotation, cluster.ExitCodeAnnotation, exitCode)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func oneErrorLine(t *testing.T, r result) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ") {
		t.Errorf("want exactly one error: line on stderr, got %q", r.stderr)
	}
}
