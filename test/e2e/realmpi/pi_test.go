package realmpi_test

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

// realTimeout bounds a real MPI run on two shared cores: a failure bound,
// never a performance assertion.
const realTimeout = 3 * time.Minute

// TestUpstreamPi runs upstream's pi example for every MPI implementation:
// the job must succeed, print pi to 6 decimals, name the implementation
// that ran, and show one rank on each distinct worker.
func TestUpstreamPi(t *testing.T) {
	cases := []struct {
		name, manifest, image, library string
	}{
		{"openmpi4", "pi/pi.yaml", "", "Open MPI v4."},
		{"openmpi5", "pi/pi.yaml", "mpioperator/mpi-pi:openmpi5", "Open MPI v5."},
		{"mpich", "pi/pi-mpich.yaml", "", "MPICH Version:"},
		{"intel", "pi/pi-intel.yaml", "", "Intel(R) MPI Library"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := env.CreateRealNamespace(t, "pi-"+tc.name)
			job := framework.UpstreamExample(t, tc.manifest)
			job.Namespace = ns
			if tc.image != "" {
				for _, spec := range job.Spec.MPIReplicaSpecs {
					spec.Template.Spec.Containers[0].Image = tc.image
				}
			}
			log := runToSuccess(t, job)
			checkPi(t, log, tc.library, job.Name, 2)
		})
	}
}

// runToSuccess creates the job, waits until it Succeeded and returns the
// launcher's log as the API server serves it (through the node's kubelet
// API). On failure it prints every pod's log.
func runToSuccess(t *testing.T, job *kubeflow.MPIJob) string {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	if err := env.Client.Create(ctx, job); err != nil {
		t.Fatalf("creating MPIJob: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpPods(t, job.Namespace)
		}
	})
	got := &kubeflow.MPIJob{}
	logged := false
	framework.Eventually(t, realTimeout, "MPIJob "+job.Name+" Succeeded", func(ctx context.Context) (bool, string, error) {
		if !logged {
			logged = logFailedLauncher(t, job)
		}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(job), got); err != nil {
			return false, "", err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == kubeflow.JobFailed && c.Status == corev1.ConditionTrue {
				return false, "", fmt.Errorf("the job failed: %s: %s", c.Reason, c.Message)
			}
			if c.Type == kubeflow.JobSucceeded && c.Status == corev1.ConditionTrue {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("conditions %+v", got.Status.Conditions), nil
	})
	t.Logf("%s/%s: created to Succeeded in %s", job.Namespace, job.Name, time.Since(start).Round(100*time.Millisecond))
	return launcherLog(t, job)
}

// logFailedLauncher logs, once, the log of a launcher container that has
// failed and restarted: a job that later fails for good has its pods
// deleted, and with them what went wrong. It says whether it logged.
func logFailedLauncher(t *testing.T, job *kubeflow.MPIJob) bool {
	t.Helper()
	pods := &corev1.PodList{}
	if err := env.Client.List(context.Background(), pods, client.InNamespace(job.Namespace),
		client.MatchingLabels{kubeflow.JobNameLabel: job.Name, kubeflow.JobRoleLabel: kubeflow.RoleLauncher}); err != nil {
		return false
	}
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.RestartCount == 0 {
				continue
			}
			data, err := env.Clientset.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: cs.Name}).DoRaw(context.Background())
			t.Logf("launcher %s/%s restarted %d time(s), last state %+v; its log (err %v):\n%s", p.Name, cs.Name, cs.RestartCount, cs.LastTerminationState.Terminated, err, data)
			return true
		}
	}
	return false
}

func launcherLog(t *testing.T, job *kubeflow.MPIJob) string {
	t.Helper()
	pods := &corev1.PodList{}
	if err := env.Client.List(context.Background(), pods, client.InNamespace(job.Namespace),
		client.MatchingLabels{kubeflow.JobNameLabel: job.Name, kubeflow.JobRoleLabel: kubeflow.RoleLauncher}); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		t.Fatalf("no launcher pod of %s", job.Name)
	}
	p := pods.Items[len(pods.Items)-1]
	data, err := env.Clientset.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(context.Background())
	if err != nil {
		t.Fatalf("reading the launcher's log: %v", err)
	}
	return string(data)
}

var (
	piLine   = regexp.MustCompile(`pi is approximately (3\.14159\d+)`)
	rankLine = regexp.MustCompile(`(?m)^Rank (\d+) of (\d+) on host (\S+)$`)
)

// checkPi asserts the pi program's output: the implementation, pi to 6
// decimals, and `ranks` ranks on as many distinct worker hosts.
func checkPi(t *testing.T, log, library, jobName string, ranks int) {
	t.Helper()
	checkPiHosts(t, log, library, jobName, ranks, jobName+"-worker-")
}

// checkPiHosts is checkPi with the prefix every rank's host must have.
func checkPiHosts(t *testing.T, log, library, jobName string, ranks int, hostPrefix string) {
	t.Helper()
	if !strings.Contains(log, "MPI library: "+library) {
		t.Errorf("the launcher did not run %q; log:\n%s", library, log)
	}
	if !piLine.MatchString(log) {
		t.Errorf("no pi to 6 decimals in the launcher's log:\n%s", log)
	}
	hosts := map[string]bool{}
	for _, m := range rankLine.FindAllStringSubmatch(log, -1) {
		if !strings.HasPrefix(m[3], hostPrefix) {
			t.Errorf("rank %s ran on %q, not on a worker of %s", m[1], m[3], jobName)
		}
		hosts[m[3]] = true
	}
	if len(hosts) != ranks {
		names := make([]string, 0, len(hosts))
		for h := range hosts {
			names = append(names, h)
		}
		sort.Strings(names)
		t.Errorf("want %d ranks on %d distinct workers, got hosts %v; log:\n%s", ranks, ranks, names, log)
	}
}

// dumpPods logs every pod's status and log in ns, for a failed test.
func dumpPods(t *testing.T, ns string) {
	pods, err := env.Clientset.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Logf("listing pods: %v", err)
		return
	}
	for _, p := range pods.Items {
		t.Logf("pod %s on %s: phase %s, statuses %+v", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.ContainerStatuses)
		for _, c := range p.Spec.Containers {
			data, err := env.Clientset.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name}).DoRaw(context.Background())
			t.Logf("log of %s/%s (err %v):\n%s", p.Name, c.Name, err, data)
		}
	}
}
