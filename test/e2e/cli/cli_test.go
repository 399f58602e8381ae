package cli_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

func getJob(t *testing.T, ns, name string) *kubeflow.MPIJob {
	t.Helper()
	job := &kubeflow.MPIJob{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, job); err != nil {
		t.Fatal(err)
	}
	return job
}

// TestFlagsLifecycle: create from flags, get, describe, wait (timeout),
// suspend, resume, delete.
func TestFlagsLifecycle(t *testing.T) {
	ns := env.CreateNamespace(t, "cli-flags")
	alice := dataScientist(t, ns)
	r := odh(t, alice, "", "mpijob", "create", "pi", "-n", ns, "--image", "example.invalid/mpi:1", "--workers", "2",
		"--cpu", "1", "--memory", "1Gi", "--command", "mpirun -n 2 python train.py")
	if r.code != 0 || r.stdout != "mpijob.kubeflow.org/pi created\n" {
		t.Fatalf("create: %s", r)
	}
	job := getJob(t, ns, "pi")
	if got := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Spec.Containers[0].Command; strings.Join(got, " ") != "mpirun -n 2 python train.py" {
		t.Errorf("launcher command %q", got)
	}

	r = odh(t, alice, "", "mpijob", "get", "-n", ns)
	if r.code != 0 || !strings.Contains(r.stdout, "WORKERS READY") || !strings.Contains(r.stdout, "pi ") {
		t.Errorf("get: %s", r)
	}
	framework.Eventually(t, time.Minute, "workers ready in get -o wide", func(context.Context) (bool, string, error) {
		r := odh(t, alice, "", "mpijob", "get", "pi", "-n", ns, "-o", "wide", "--no-headers")
		return r.code == 0 && strings.Contains(r.stdout, "2/2") && strings.Contains(r.stdout, "Running"), r.stdout, nil
	})
	r = odh(t, alice, "", "mpijob", "get", "pi", "-n", ns, "-o", "name")
	if r.code != 0 || r.stdout != "mpijob.kubeflow.org/pi\n" {
		t.Errorf("get -o name: %s", r)
	}
	r = odh(t, alice, "", "mpijob", "describe", "pi", "-n", ns)
	if r.code != 0 || !strings.Contains(r.stdout, "Image:              example.invalid/mpi:1") || !strings.Contains(r.stdout, "pi-worker-1") {
		t.Errorf("describe: %s", r)
	}
	// kwok serves every container's log through the kubelet API (the dev
	// cluster's ClusterLogs), so the apiserver streams real logs.
	log := strings.Join(cluster.ContainerLogLines, "\n") + "\n"
	r = odh(t, alice, "", "mpijob", "logs", "pi", "-n", ns)
	if r.code != 0 || r.stdout != log {
		t.Errorf("logs (the launcher's): %s", r)
	}
	r = odh(t, alice, "", "mpijob", "logs", "pi", "-n", ns, "--worker", "1", "--tail", "1")
	if r.code != 0 || r.stdout != cluster.ContainerLogLines[len(cluster.ContainerLogLines)-1]+"\n" {
		t.Errorf("logs --worker 1 --tail 1: %s", r)
	}
	r = odh(t, alice, "", "mpijob", "logs", "pi", "-n", ns, "--all")
	for _, pod := range []string{"pi-launcher", "pi-worker-0", "pi-worker-1"} {
		for _, line := range cluster.ContainerLogLines {
			if !strings.Contains(r.stdout, "["+pod) || !strings.Contains(r.stdout, "] "+line+"\n") {
				t.Errorf("logs --all lacks %q from %s: %s", line, pod, r)
			}
		}
	}
	if r.code != 0 || strings.Count(r.stdout, "\n") != 3*len(cluster.ContainerLogLines) {
		t.Errorf("logs --all: want %d lines: %s", 3*len(cluster.ContainerLogLines), r)
	}
	r = odh(t, alice, "", "mpijob", "logs", "pi", "-n", ns, "--worker", "7")
	if r.code != 2 || !strings.Contains(r.stderr, "--worker takes 0 to 1") {
		t.Errorf("logs of a worker the job does not have: %s", r)
	}
	oneErrorLine(t, r)
	r = odh(t, alice, "", "mpijob", "wait", "pi", "-n", ns, "--for=completion", "--timeout=2s")
	if r.code != 3 || !strings.Contains(r.stderr, "still running") {
		t.Errorf("wait on a running job: %s", r)
	}
	oneErrorLine(t, r)

	r = odh(t, alice, "", "mpijob", "suspend", "pi", "-n", ns)
	if r.code != 0 || !ptr.Deref(getJob(t, ns, "pi").Spec.RunPolicy.Suspend, false) {
		t.Errorf("suspend: %s", r)
	}
	r = odh(t, alice, "", "mpijob", "wait", "pi", "-n", ns, "--timeout=1s")
	if r.code != 3 || !strings.Contains(r.stderr, "suspended") {
		t.Errorf("wait on a suspended job: %s", r)
	}
	r = odh(t, alice, "", "mpijob", "resume", "pi", "-n", ns)
	if r.code != 0 || ptr.Deref(getJob(t, ns, "pi").Spec.RunPolicy.Suspend, false) {
		t.Errorf("resume: %s", r)
	}

	r = odh(t, alice, "", "mpijob", "delete", "pi", "-n", ns)
	if r.code != 0 || r.stdout != "mpijob.kubeflow.org/pi deleted\n" {
		t.Errorf("delete: %s", r)
	}
	framework.Eventually(t, time.Minute, "the job is gone", func(ctx context.Context) (bool, string, error) {
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "pi"}, &kubeflow.MPIJob{})
		return apierrors.IsNotFound(err), "", client.IgnoreNotFound(err)
	})
	r = odh(t, alice, "", "mpijob", "get", "pi", "-n", ns)
	if r.code != 4 {
		t.Errorf("get after delete: %s", r)
	}
}

func TestWaitSucceeded(t *testing.T) {
	ns := env.CreateNamespace(t, "cli-ok")
	alice := dataScientist(t, ns)
	file := writeFile(t, "job.yaml", jobYAML(ns, "ok", 0))
	r := odh(t, alice, "", "mpijob", "create", "-f", file, "-o", "name")
	if r.code != 0 || r.stdout != "mpijob.kubeflow.org/ok\n" {
		t.Fatalf("create: %s", r)
	}
	r = odh(t, alice, "", "mpijob", "wait", "ok", "-n", ns, "--for=completion", "--timeout=2m")
	if r.code != 0 {
		t.Fatalf("wait: %s", r)
	}
	r = odh(t, alice, "", "mpijob", "get", "ok", "-n", ns)
	if r.code != 0 || !strings.Contains(r.stdout, "Succeeded") {
		t.Errorf("get: %s", r)
	}
	// create --wait --logs: the launcher's log follows the creation, and the
	// exit code is the outcome.
	r = odh(t, alice, jobYAML(ns, "waited", 0), "mpijob", "create", "-f", "-", "--wait", "--logs", "--timeout=2m")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "mpijob.kubeflow.org/waited created\n") || !strings.Contains(r.stdout, cluster.ContainerLogLines[0]) || strings.Contains(r.stderr, "error:") {
		t.Errorf("create --wait --logs: %s", r)
	}
	r = odh(t, alice, jobYAML(ns, "waited-fail", 1), "mpijob", "create", "-f", "-", "--wait", "--timeout=2m")
	if r.code != 1 || !strings.Contains(r.stderr, "error: mpijob waited-fail failed: ") {
		t.Errorf("create --wait of a failing job: %s", r)
	}
}

func TestWaitFailed(t *testing.T) {
	ns := env.CreateNamespace(t, "cli-fail")
	alice := dataScientist(t, ns)
	r := odh(t, alice, jobYAML(ns, "bad", 1), "mpijob", "create", "-f", "-")
	if r.code != 0 {
		t.Fatalf("create: %s", r)
	}
	r = odh(t, alice, "", "mpijob", "wait", "bad", "-n", ns, "--for=completion", "--timeout=3m")
	if r.code != 1 {
		t.Fatalf("wait: %s", r)
	}
	var msg string
	for _, c := range getJob(t, ns, "bad").Status.Conditions {
		if c.Type == kubeflow.JobFailed && c.Status == corev1.ConditionTrue {
			msg = c.Message
		}
	}
	if msg == "" || !strings.Contains(r.stderr, msg) || !strings.HasPrefix(r.stderr, "error: mpijob bad failed: ") {
		t.Errorf("stderr %q lacks the Failed message %q", r.stderr, msg)
	}
	oneErrorLine(t, r)
	r = odh(t, alice, "", "mpijob", "describe", "bad", "-n", ns)
	if r.code != 0 || !strings.Contains(r.stdout, "Status:       Failed") || !strings.Contains(r.stdout, "Failure:      "+msg) {
		t.Errorf("describe: %s", r)
	}
	// The Job controller deletes a failed launcher Job's pods (restartPolicy
	// OnFailure), and cleanPodPolicy Running the workers: logs says so in
	// one line.
	r = odh(t, alice, "", "mpijob", "logs", "bad", "-n", ns, "--all")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: ") {
		t.Errorf("logs of a finished job without pods: %s", r)
	}
	oneErrorLine(t, r)
}

func TestErrors(t *testing.T) {
	ns := env.CreateNamespace(t, "cli-err")
	alice := dataScientist(t, ns)
	r := odh(t, alice, "", "mpijob", "get", "missing", "-n", ns)
	if r.code != 4 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("get missing: %s", r)
	}
	oneErrorLine(t, r)
	file := writeFile(t, "bad.yaml", "apiVersion: kubeflow.org/v2beta1\nkind: MPIJob\nmetadata: [oops\n")
	r = odh(t, alice, "", "mpijob", "create", "-f", file, "-n", ns)
	if r.code != 2 {
		t.Errorf("malformed file: %s", r)
	}
	oneErrorLine(t, r)
	// The API server's own validation (422) is a usage error too.
	r = odh(t, alice, strings.Replace(jobYAML(ns, "invalid", 0), "replicas: 2", "replicas: -1", 1), "mpijob", "create", "-f", "-")
	if r.code != 2 || !strings.HasPrefix(r.stderr, "error: ") {
		t.Errorf("invalid job: %s", r)
	}
}

func TestPipelineScript(t *testing.T) {
	ns := env.CreateNamespace(t, "cli-pipeline")
	alice := dataScientist(t, ns)
	script := filepath.Join(repo, "docs", "examples", "cicd-pipeline.sh")
	for _, tc := range []struct {
		name string
		exit int
	}{{"pipeline-ok", 0}, {"pipeline-fail", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeFile(t, "job.yaml", jobYAML(ns, tc.name, tc.exit))
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			c := exec.CommandContext(ctx, "bash", script, file, "3m")
			c.Env = append(os.Environ(), "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"), "KUBECONFIG="+alice.Kubeconfig)
			out, err := c.CombinedOutput()
			t.Logf("%s:\n%s", tc.name, out)
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.exit {
				t.Errorf("exit %d, want %d", code, tc.exit)
			}
			if tc.exit != 0 && !strings.Contains(string(out), "Status:       Failed") {
				t.Errorf("the failure report lacks describe's output")
			}
		})
	}
}
