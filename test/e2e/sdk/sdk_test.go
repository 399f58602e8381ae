package sdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// python runs a program of the SDK's virtual environment in dir (the
// repository root when empty) against the cluster named by kubeconfig.
func python(t *testing.T, timeout time.Duration, kubeconfig, dir string, extraEnv []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if dir == "" {
		dir = venv.Repo
	}
	c := venv.Command(ctx, dir, name, args...)
	home := t.TempDir()
	c.Env = append(c.Env, append([]string{
		"KUBECONFIG=" + kubeconfig,
		// Jupyter and IPython write their state here, not in $HOME.
		"JUPYTER_RUNTIME_DIR=" + filepath.Join(home, "jupyter"),
		"IPYTHONDIR=" + filepath.Join(home, "ipython"),
		"MPLCONFIGDIR=" + filepath.Join(home, "mpl"),
	}, extraEnv...)...)
	var out, errOut bytes.Buffer
	c.Stdout, c.Stderr = &out, &errOut
	err := c.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("running %s %s: %v", name, strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %s ran past %s:\n%s", name, strings.Join(args, " "), timeout, result{code, out.String(), errOut.String()})
	}
	r := result{code, out.String(), errOut.String()}
	t.Logf("%s %s: %s", name, strings.Join(args, " "), r)
	return r
}

// dataScientist is the person who runs the examples in ns: a ServiceAccount
// bound there to edit (which aggregates mpijob-platform-user), whose
// kubeconfig defaults to ns, so that examples that name no namespace (as
// users' code does not) run in the test's namespace.
func dataScientist(t *testing.T, ns string) *framework.User {
	t.Helper()
	return env.CreateUser(t, ns, "alice", framework.DataScientistRole)
}

// finishLaunchers plays the training program for examples that cannot carry
// kwok's annotations (the README, the notebook): every launcher pod in ns
// is told to exit 0 five seconds after it runs, as a real mpirun would when
// training ends; five, so that a poll sees the job Running first. It
// returns a function that stops it.
func finishLaunchers(t *testing.T, ns string) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			var pods corev1.PodList
			if err := env.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{kubeflow.JobRoleLabel: kubeflow.RoleLauncher}); err == nil {
				for i := range pods.Items {
					p := &pods.Items[i]
					if _, ok := p.Annotations[cluster.FinishAfterAnnotation]; ok {
						continue
					}
					patch := client.MergeFrom(p.DeepCopy())
					if p.Annotations == nil {
						p.Annotations = map[string]string{}
					}
					p.Annotations[cluster.FinishAfterAnnotation] = "5s"
					_ = env.Client.Patch(ctx, p, patch)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return func() { cancel(); <-done }
}

// jobsIn returns the MPIJobs of a namespace.
func jobsIn(t *testing.T, ns string) []kubeflow.MPIJob {
	t.Helper()
	var list kubeflow.MPIJobList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func conditionTrue(job *kubeflow.MPIJob, typ kubeflow.JobConditionType) *kubeflow.JobCondition {
	for i := range job.Status.Conditions {
		if c := &job.Status.Conditions[i]; c.Type == typ && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

var pytestSummary = regexp.MustCompile(`(?m)^=+ (.*) in [0-9.]+s.*=+$`)

// TestIntegrationSuite runs sdk/python/tests/integration with pytest.
func TestIntegrationSuite(t *testing.T) {
	ns := env.CreateNamespace(t, "sdk-it")
	// The suite asserts the lines every kwok container logs.
	logLines, err := json.Marshal(cluster.ContainerLogLines)
	if err != nil {
		t.Fatal(err)
	}
	// KUBECONFIG is the admin's, for the suite's set-up; the SDK under test
	// acts as the data scientist.
	alice := dataScientist(t, ns)
	r := python(t, 10*time.Minute, env.Kubeconfig, filepath.Join(venv.Repo, "sdk", "python"),
		[]string{"SDK_TEST_NAMESPACE=" + ns, "SDK_TEST_LOG_LINES=" + string(logLines),
			"SDK_TEST_USER_KUBECONFIG=" + alice.Kubeconfig, "SDK_TEST_USER=" + alice.Name},
		"pytest", "tests/integration", "-v", "-s", "-rA", "-p", "no:cacheprovider")
	m := pytestSummary.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("pytest failed: %s", r)
	}
	summary := m[1]
	if !strings.Contains(summary, " passed") || strings.Contains(summary, "skipped") || strings.Contains(summary, "failed") ||
		strings.Contains(summary, "error") || strings.Contains(summary, "deselected") {
		t.Errorf("pytest summary %q: want only passed tests", summary)
	}
	t.Logf("pytest: %s", summary)
	for _, line := range strings.Split(r.stderr, "\n") {
		if strings.Contains(line, "SDK create()") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

// readmeExample returns the first python code block of sdk/python/README.md.
func readmeExample(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(venv.Repo, "sdk", "python", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```python\n(.*?)```").FindSubmatch(data)
	if m == nil {
		t.Fatal("sdk/python/README.md has no ```python block")
	}
	return string(m[1])
}

// containerLog is the log of every simulated container, as get_logs()
// returns it: kwok serves it through the kubelet API.
var containerLog = strings.Join(cluster.ContainerLogLines, "\n") + "\n"

func TestReadmeQuickExample(t *testing.T) {
	code := readmeExample(t)
	lines := 0
	for _, l := range strings.Split(code, "\n") {
		if strings.TrimSpace(l) != "" {
			lines++
		}
	}
	if lines > 10 {
		t.Errorf("the README's quick example has %d lines of code, want at most 10:\n%s", lines, code)
	}
	ns := env.CreateNamespace(t, "sdk-readme")
	defer finishLaunchers(t, ns)()
	dir := t.TempDir()
	codeFile := filepath.Join(dir, "example.py")
	if err := os.WriteFile(codeFile, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	// The README's code as it is, every line of it succeeding: its last line
	// prints the launcher's log.
	r := python(t, 5*time.Minute, dataScientist(t, ns).Kubeconfig, dir, nil, "python", codeFile)
	if r.code != 0 {
		t.Fatalf("the README example failed: %s", r)
	}
	jobs := jobsIn(t, ns)
	if len(jobs) != 1 || conditionTrue(&jobs[0], kubeflow.JobSucceeded) == nil {
		t.Fatalf("want one Succeeded MPIJob in %s after the README example, got %+v", ns, jobs)
	}
	if !strings.HasSuffix(r.stdout, containerLog+"\n") {
		t.Errorf("the README example should print the launcher's log %q (and print's newline); stdout:\n%s", containerLog, r.stdout)
	}
}

// jobYAML is an upstream-style manifest whose pods kwok ends: the launcher
// after 1 s with exit code 0, and, with oom, worker 0... after 1 s as
// OOMKilled (exit 137) with a 1Gi memory limit.
func jobYAML(name string, oom bool) string {
	workerAnnotations := "{}"
	if oom {
		workerAnnotations = fmt.Sprintf(`{%q: 1s, %q: "137", %q: OOMKilled}`, cluster.FinishAfterAnnotation, cluster.ExitCodeAnnotation, cluster.ReasonAnnotation)
	}
	launcherAnnotations := fmt.Sprintf(`{%q: 1s}`, cluster.FinishAfterAnnotation)
	if oom {
		launcherAnnotations = "{}"
	}
	return fmt.Sprintf(`apiVersion: kubeflow.org/v2beta1
kind: MPIJob
metadata:
  name: %s
spec:
  slotsPerWorker: 1
  runPolicy:
    cleanPodPolicy: Running
  mpiReplicaSpecs:
    Launcher:
      replicas: 1
      template:
        metadata:
          annotations: %s
        spec:
          containers:
          - name: mpi-launcher
            image: mpioperator/mpi-pi:openmpi
            command: [mpirun, -n, "2", /home/mpiuser/pi]
    Worker:
      replicas: 2
      template:
        metadata:
          annotations: %s
        spec:
          containers:
          - name: mpi-worker
            image: mpioperator/mpi-pi:openmpi
            resources:
              requests: {cpu: "1", memory: 1Gi}
              limits: {cpu: "1", memory: 1Gi}
`, name, launcherAnnotations, workerAnnotations)
}

func TestPipelineExample(t *testing.T) {
	ns := env.CreateNamespace(t, "sdk-pipeline")
	kubeconfig := dataScientist(t, ns).Kubeconfig
	script := filepath.Join(venv.Repo, "docs", "examples", "sdk-pipeline.py")
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name, file string
		wantCode   int
		wantOut    []string
		wantErr    []string
	}{
		{name: "succeeds", file: write("ok.yaml", jobYAML("pipeline-ok", false)), wantCode: 0,
			wantOut: []string{"mpijob " + ns + "/pipeline-ok created", "Succeeded", containerLog}},
		{name: "fails-with-diagnosis", file: write("oom.yaml", jobYAML("pipeline-oom", true)), wantCode: 1,
			wantErr: []string{"OOMKilled", "was OOMKilled at 1Gi", "what to do: raise the memory limit of the pods that were killed, or lower the batch size"}},
		{name: "invalid", file: write("bad.yaml", strings.Replace(jobYAML("pipeline-bad", false), "slotsPerWorker: 1", "slotsPerWorker: 0", 1)), wantCode: 2,
			wantErr: []string{"spec.slotsPerWorker"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := python(t, 5*time.Minute, kubeconfig, "", nil, "python", script, "--file", tc.file, "--timeout", "180")
			if r.code != tc.wantCode {
				t.Fatalf("exit %d, want %d: %s", r.code, tc.wantCode, r)
			}
			for _, s := range tc.wantOut {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q", s)
				}
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q", s)
				}
			}
			if strings.Contains(r.stdout, "log unavailable") {
				t.Errorf("the launcher's log should be readable")
			}
		})
	}
	// A second run of the succeeded job replaces the finished one.
	r := python(t, 5*time.Minute, kubeconfig, "", nil, "python", script, "--file", filepath.Join(dir, "ok.yaml"), "--timeout", "180", "--delete-after", "--tail", "1")
	if r.code != 0 || !strings.Contains(r.stdout, "replacing the finished mpijob") || !strings.Contains(r.stdout, "deleted") {
		t.Errorf("rerun: %s", r)
	}
	// --tail 1: only the launcher's last line.
	last := cluster.ContainerLogLines[len(cluster.ContainerLogLines)-1]
	if !strings.Contains(r.stdout, "\n"+last+"\n") || strings.Contains(r.stdout, cluster.ContainerLogLines[0]) {
		t.Errorf("rerun --tail 1: want the log's last line %q alone: %s", last, r)
	}
}

// notebookHarness executes a notebook headless, as CI would, and prints its
// text outputs.
const notebookHarness = `
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
for cell in nb.cells:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            print(out["text"], end="")
        elif "data" in out and "text/plain" in out["data"]:
            print(out["data"]["text/plain"])
`

func TestNotebook(t *testing.T) {
	ns := env.CreateNamespace(t, "sdk-notebook")
	defer finishLaunchers(t, ns)()
	notebook := filepath.Join(venv.Repo, "docs", "examples", "sdk-quickstart.ipynb")
	r := python(t, 8*time.Minute, dataScientist(t, ns).Kubeconfig, "", nil, "python", "-c", notebookHarness, notebook, t.TempDir())
	if r.code != 0 {
		t.Fatalf("the notebook failed: %s", r)
	}
	for _, want := range []string{"phase: Succeeded", "Worker 0", containerLog, "deleted"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the notebook's output lacks %q", want)
		}
	}
	// Following every pod of the finished job: the launcher's lines, each
	// prefixed with its pod, and the follow ended (the cells after it ran).
	for _, line := range cluster.ContainerLogLines {
		if !regexp.MustCompile(`(?m)^\[quickstart-launcher-[a-z0-9]+\] ` + regexp.QuoteMeta(line) + `$`).MatchString(r.stdout) {
			t.Errorf("the notebook's output lacks the launcher's line %q prefixed with its pod", line)
		}
	}
	if strings.Contains(r.stdout, "log unavailable") {
		t.Errorf("the notebook could not read the logs")
	}
	framework.Eventually(t, time.Minute, "the notebook's job deleted", func(context.Context) (bool, string, error) {
		jobs := jobsIn(t, ns)
		return len(jobs) == 0, fmt.Sprint(len(jobs), " jobs"), nil
	})
}
