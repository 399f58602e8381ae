package cli_test

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// -o wide on a queued job: the POSITION column exists, and without Kueue's
// visibility API (the dev cluster runs Kueue with VisibilityOnDemand off)
// it is empty and nothing warns.
func TestGetWideQueued(t *testing.T) {
	ns := env.CreateNamespace(t, "cli-wide")
	alice := dataScientist(t, ns)
	env.CreateGPUQueue(t, ns, "one-gpu", 1)
	// The first job takes the queue's only GPU and keeps it; the second
	// waits.
	for _, name := range []string{"first", "second"} {
		r := odh(t, alice, "", "mpijob", "create", name, "-n", ns, "--image=example.invalid/mpi:1", "--workers=1", "--gpus-per-worker=1", "--queue=one-gpu", "--command=mpirun sleep 3600")
		if r.code != 0 {
			t.Fatalf("create %s: %s", name, r)
		}
	}
	framework.Eventually(t, 2*time.Minute, "first Running, second Queued", func(ctx context.Context) (bool, string, error) {
		r := odh(t, alice, "", "mpijob", "get", "-n", ns, "-o", "wide")
		if r.code != 0 || r.stderr != "" {
			return false, "", fmt.Errorf("get -o wide: %s", r)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 3 || !strings.HasSuffix(strings.TrimSpace(lines[0]), "GPUS   POSITION") {
			return false, r.stdout, nil
		}
		first, second := strings.Fields(lines[1]), strings.Fields(lines[2])
		ok := first[0] == "first" && first[1] == "Running" &&
			second[0] == "second" && second[1] == "Queued" && second[len(second)-1] == "<none>"
		return ok, r.stdout, nil
	})
}

// -w prints a row for every change of a job created after the watch began,
// through to Succeeded.
func TestGetWatch(t *testing.T) {
	ns := env.CreateNamespace(t, "cli-watch")
	alice := dataScientist(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl-odh"), "--kubeconfig="+alice.Kubeconfig, "mpijob", "get", "-n", ns, "-w")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := make(chan string)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	// Give the watch a moment to start, then create the job.
	time.Sleep(time.Second)
	if r := odh(t, alice, jobYAML(ns, "watched", 0), "mpijob", "create", "-f", "-"); r.code != 0 {
		t.Fatalf("create: %s", r)
	}
	var seen []string
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("get -w ended before the job succeeded; it printed:\n%s", strings.Join(seen, "\n"))
			}
			seen = append(seen, line)
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "watched" {
				continue
			}
			if f[1] == "Succeeded" {
				if len(seen) < 3 {
					t.Errorf("get -w printed no row before Succeeded:\n%s", strings.Join(seen, "\n"))
				}
				if !strings.HasPrefix(seen[0], "NAME") {
					t.Errorf("get -w printed no header first:\n%s", strings.Join(seen, "\n"))
				}
				return
			}
		case <-ctx.Done():
			t.Fatalf("no Succeeded row within 3 minutes; get -w printed:\n%s", strings.Join(seen, "\n"))
		}
	}
}

// logs --follow right after create waits for the pods to start, reads
// every pod's log, and ends once the job is over, although its workers
// keep running (cleanPodPolicy None).
func TestLogsFollow(t *testing.T) {
	ns := env.CreateNamespace(t, "cli-follow")
	alice := dataScientist(t, ns)
	if r := odh(t, alice, strings.Replace(jobYAML(ns, "followed", 0), "cleanPodPolicy: Running", "cleanPodPolicy: None", 1), "mpijob", "create", "-f", "-"); r.code != 0 {
		t.Fatalf("create: %s", r)
	}
	r := odh(t, alice, "", "mpijob", "logs", "followed", "-n", ns, "--all", "--follow")
	if r.code != 0 {
		t.Fatalf("logs --follow: %s", r)
	}
	for _, pod := range []string{"followed-launcher", "followed-worker-0", "followed-worker-1"} {
		if !strings.Contains(r.stdout, "["+pod) {
			t.Errorf("logs --follow has nothing from %s: %s", pod, r)
		}
	}
	if n := strings.Count(r.stdout, "] "+cluster.ContainerLogLines[len(cluster.ContainerLogLines)-1]+"\n"); n != 3 {
		t.Errorf("logs --follow: %d pods' last line, want 3: %s", n, r)
	}
	finished := false
	for _, c := range getJob(t, ns, "followed").Status.Conditions {
		finished = finished || c.Type == kubeflow.JobSucceeded && c.Status == corev1.ConditionTrue
	}
	if !finished {
		t.Errorf("logs --follow ended before the job succeeded")
	}
}
