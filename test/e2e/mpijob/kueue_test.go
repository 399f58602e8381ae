package mpijob_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

// createQueue makes a LocalQueue "team" in ns backed by a ClusterQueue with
// room for gpus GPUs.
func createQueue(t *testing.T, ns string, gpus int) {
	t.Helper()
	env.CreateGPUQueue(t, ns, "team", gpus)
}

func queued(job *kubeflow.MPIJob) *kubeflow.MPIJob {
	if job.Labels == nil {
		job.Labels = map[string]string{}
	}
	job.Labels["kueue.x-k8s.io/queue-name"] = "team"
	return job
}

// Kueue admits a job's launcher and workers as one gang; a job that does
// not fit waits suspended with no pods at all, and runs once quota frees.
func TestKueueAdmitsTheGangOrNothing(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "gang")
	createQueue(t, ns, 4)

	first := queued(simpleJob(ns, "first", 4))
	finishLauncher(first, "3s", 0)
	second := queued(simpleJob(ns, "second", 4))
	finishLauncher(second, "1s", 0)
	if err := env.Client.Create(ctx, first); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, first, kubeflow.JobRunning)
	if n := len(jobPods(t, first, kubeflow.RoleWorker)); n != 4 {
		t.Fatalf("admitted job has %d workers, want all 4", n)
	}
	if err := env.Client.Create(ctx, second); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, framework.DefaultTimeout, "the second job suspended by Kueue, waiting for quota", func(ctx context.Context) (bool, string, error) {
		got := &kubeflow.MPIJob{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(second), got); err != nil {
			return false, "", err
		}
		return got.IsSuspended() && condition(got, kubeflow.JobSuspended) != nil && jobIsRunning(first),
			fmt.Sprintf("suspended=%v conditions=%+v", got.IsSuspended(), got.Status.Conditions), nil
	})
	if w, l := len(jobPods(t, second, kubeflow.RoleWorker)), len(jobPods(t, second, kubeflow.RoleLauncher)); w+l != 0 {
		t.Fatalf("the queued job has %d workers and %d launcher pods, want none", w, l)
	}
	waitCondition(t, first, kubeflow.JobSucceeded)
	got := waitCondition(t, second, kubeflow.JobSucceeded)
	if c := condition(got, kubeflow.JobSuspended); c == nil || c.Reason != "MPIJobResumed" {
		t.Errorf("second job's Suspended condition = %+v, want resumed", c)
	}
}

func jobIsRunning(job *kubeflow.MPIJob) bool {
	got := &kubeflow.MPIJob{}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(job), got); err != nil {
		return false
	}
	c := condition(got, kubeflow.JobRunning)
	return c != nil && c.Status == "True"
}

// Kueue preempts a running job for a higher-priority one: it suspends the
// MPIJob, and the controller (as its own ServiceAccount) removes every pod
// of it at once, which frees its GPUs for the other job; once capacity
// returns the preempted job runs again.
func TestKueuePreemptionFreesGPUsAndTheJobRunsAgain(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "preempt")
	env.CreateWorkloadPriorityClass(t, ns+"-low", 10)
	env.CreateWorkloadPriorityClass(t, ns+"-high", 1000)
	env.CreateGPUQueueWith(t, ns, "team", 4, map[string]any{"preemption": map[string]any{"withinClusterQueue": "LowerPriority"}})

	low := queued(simpleJob(ns, "low", 4))
	low.Labels["kueue.x-k8s.io/priority-class"] = ns + "-low"
	finishLauncher(low, "5s", 0) // counted from its (second) start
	if err := env.Client.Create(ctx, low); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, low, kubeflow.JobRunning)

	high := queued(simpleJob(ns, "high", 4))
	high.Labels["kueue.x-k8s.io/priority-class"] = ns + "-high"
	finishLauncher(high, "5s", 0)
	if err := env.Client.Create(ctx, high); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, framework.DefaultTimeout, "Kueue suspends the low-priority job", func(ctx context.Context) (bool, string, error) {
		got := &kubeflow.MPIJob{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(low), got); err != nil {
			return false, "", err
		}
		return got.IsSuspended(), fmt.Sprintf("suspend=%v", got.IsSuspended()), nil
	})
	// The controller's part: every pod gone, the GPUs free.
	framework.Eventually(t, 10*time.Second, "the preempted job's pods gone", func(context.Context) (bool, string, error) {
		w, l := len(jobPods(t, low, kubeflow.RoleWorker)), len(jobPods(t, low, kubeflow.RoleLauncher))
		return w+l == 0, fmt.Sprintf("%d workers, %d launcher pods", w, l), nil
	})
	waitCondition(t, low, kubeflow.JobSuspended)
	waitCondition(t, high, kubeflow.JobSucceeded)
	// Capacity is back: the preempted job is admitted again and finishes.
	waitCondition(t, low, kubeflow.JobSucceeded)
}
