package mpijob_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// The upstream pi example, with 4 workers, runs to Succeeded; its children
// carry upstream's names; cleanPodPolicy Running removes the workers.
func TestUpstreamPiExampleSucceeds(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "pi")
	job := framework.UpstreamExample(t, "pi/pi.yaml")
	job.Namespace = ns
	job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Replicas = ptr.To[int32](4)
	finishLauncher(job, "2s", 0)
	if err := env.Client.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, framework.DefaultTimeout, "children with upstream names", func(ctx context.Context) (bool, string, error) {
		var missing []string
		for _, o := range []client.Object{
			&corev1.Secret{}, &corev1.ConfigMap{}, &corev1.Service{}, &batchv1.Job{},
		} {
			name := map[string]string{"*v1.Secret": "pi-ssh", "*v1.ConfigMap": "pi-config", "*v1.Service": "pi", "*v1.Job": "pi-launcher"}[fmt.Sprintf("%T", o)]
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, o); err != nil {
				missing = append(missing, name)
			}
		}
		return len(missing) == 0, fmt.Sprintf("missing %v", missing), nil
	})
	got := waitCondition(t, job, kubeflow.JobSucceeded)
	for _, want := range []kubeflow.JobConditionType{kubeflow.JobCreated, kubeflow.JobRunning} {
		if condition(got, want) == nil {
			t.Errorf("condition %s missing from %+v", want, got.Status.Conditions)
		}
	}
	if got.Status.CompletionTime == nil || got.Status.StartTime == nil {
		t.Errorf("start %v / completion %v times not set", got.Status.StartTime, got.Status.CompletionTime)
	}
	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "pi-config"}, cm); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("pi-worker-3.pi.%s.svc slots=1\n", ns); !strings.Contains(cm.Data["hostfile"], want) {
		t.Errorf("hostfile %q lacks %q", cm.Data["hostfile"], want)
	}
	framework.Eventually(t, framework.DefaultTimeout, "running workers removed (cleanPodPolicy Running)", func(ctx context.Context) (bool, string, error) {
		n := len(jobPods(t, job, kubeflow.RoleWorker))
		return n == 0, fmt.Sprintf("%d workers left", n), nil
	})
}

func TestFailingLauncherFailsTheJobWithItsExitCode(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "fail")
	job := simpleJob(ns, "crash", 2)
	job.Spec.RunPolicy.BackoffLimit = ptr.To[int32](0)
	job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].RestartPolicy = kubeflow.RestartPolicyNever
	finishLauncher(job, "1s", 3)
	if err := env.Client.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, job, kubeflow.JobFailed)
	c := condition(got, kubeflow.JobFailed)
	if !strings.Contains(c.Message, "exited with code 3") {
		t.Errorf("Failed message %q does not give the launcher's exit code 3", c.Message)
	}
	if r := condition(got, kubeflow.JobRunning); r == nil || r.Status != corev1.ConditionFalse {
		t.Errorf("Running condition = %+v, want False once failed", r)
	}
}

func TestOOMKilledWorkerIsDiagnosed(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "oom")
	job := simpleJob(ns, "oom", 4)
	// Every worker is OOMKilled 1 s after it starts; the first reported
	// fails the job.
	annotate(&job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template, map[string]string{
		cluster.FinishAfterAnnotation: "1s", cluster.ExitCodeAnnotation: "137", cluster.ReasonAnnotation: "OOMKilled",
	})
	if err := env.Client.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, job, kubeflow.JobFailed)
	c := condition(got, kubeflow.JobFailed)
	if c.Reason != "OOMKilled" || !strings.Contains(c.Message, "was OOMKilled at 16Gi: raise the worker memory limit or lower the batch size") ||
		!strings.HasPrefix(c.Message, "worker-") {
		t.Errorf("Failed = (%s) %q; want reason OOMKilled and a message naming the worker, its 16Gi limit and the fix", c.Reason, c.Message)
	}
	framework.Eventually(t, framework.DefaultTimeout, "an OOMKilled warning event", func(ctx context.Context) (bool, string, error) {
		evs, err := env.Clientset.EventsV1().Events(ns).List(ctx, metav1ListFor(job.Name))
		if err != nil {
			return false, "", err
		}
		for _, e := range evs.Items {
			if e.Reason == "OOMKilled" && e.Type == corev1.EventTypeWarning {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("%d events", len(evs.Items)), nil
	})
}

func TestSuspendRemovesPodsAndResumeRecreatesThem(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "suspend")
	job := simpleJob(ns, "pause", 2)
	if err := env.Client.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, job, kubeflow.JobRunning)

	running := waitCondition(t, job, kubeflow.JobRunning)
	if running.Status.ObservedGeneration != running.Generation {
		t.Errorf("status.observedGeneration = %d, want the generation %d", running.Status.ObservedGeneration, running.Generation)
	}
	setSuspend(t, job, true)
	suspended := waitCondition(t, job, kubeflow.JobSuspended)
	if suspended.Status.ObservedGeneration != suspended.Generation || suspended.Generation <= running.Generation {
		t.Errorf("suspended: status.observedGeneration %d, generation %d (was %d): want the new generation observed",
			suspended.Status.ObservedGeneration, suspended.Generation, running.Generation)
	}
	framework.Eventually(t, framework.DefaultTimeout, "no pods while suspended, launcher Job suspended", func(ctx context.Context) (bool, string, error) {
		l := &batchv1.Job{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "pause-launcher"}, l); err != nil {
			return false, "", err
		}
		w, lp := len(jobPods(t, job, kubeflow.RoleWorker)), len(jobPods(t, job, kubeflow.RoleLauncher))
		return w == 0 && lp == 0 && ptr.Deref(l.Spec.Suspend, false), fmt.Sprintf("%d workers, %d launcher pods, launcher suspended=%v", w, lp, ptr.Deref(l.Spec.Suspend, false)), nil
	})

	setSuspend(t, job, false)
	got := waitCondition(t, job, kubeflow.JobRunning)
	if c := condition(got, kubeflow.JobSuspended); c == nil || c.Status != corev1.ConditionFalse || c.Reason != "MPIJobResumed" {
		t.Errorf("Suspended condition after resume = %+v, want False/MPIJobResumed", c)
	}
	if n := len(jobPods(t, job, kubeflow.RoleWorker)); n != 2 {
		t.Errorf("%d workers after resume, want 2", n)
	}
}

// A finished job deleted and created again at once under the same name
// (what CI pipelines do) runs: the new job waits until the garbage
// collector has removed the old one's children instead of failing on
// them, and none of the old children is taken over.
func TestRecreatedJobWaitsForItsPredecessorsChildren(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "again")
	first := simpleJob(ns, "nightly", 2)
	finishLauncher(first, "1s", 0)
	if err := env.Client.Create(ctx, first); err != nil {
		t.Fatal(err)
	}
	old := waitCondition(t, first, kubeflow.JobSucceeded)
	if err := env.Client.Delete(ctx, old, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	second := simpleJob(ns, "nightly", 2)
	finishLauncher(second, "1s", 0)
	framework.Eventually(t, framework.DefaultTimeout, "the job created again", func(ctx context.Context) (bool, string, error) {
		err := env.Client.Create(ctx, second.DeepCopy())
		return err == nil, fmt.Sprint(err), client.IgnoreAlreadyExists(err)
	})
	got := waitCondition(t, second, kubeflow.JobSucceeded)
	if got.UID == old.UID {
		t.Fatal("the second job is the first one")
	}
	if c := condition(got, kubeflow.JobFailed); c != nil && c.Status == corev1.ConditionTrue {
		t.Errorf("the second job failed: %+v", c)
	}
	l := &batchv1.Job{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "nightly-launcher"}, l); err != nil {
		t.Fatal(err)
	}
	if !metav1.IsControlledBy(l, got) {
		t.Errorf("the launcher Job is controlled by %v, not the second job %s", metav1.GetControllerOf(l), got.UID)
	}
}

func TestTTLDeletesTheWholeJob(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "ttl")
	job := simpleJob(ns, "short", 1)
	// Long enough to see Succeeded before the TTL deletes it.
	job.Spec.RunPolicy.TTLSecondsAfterFinished = ptr.To[int32](5)
	job.Spec.RunPolicy.CleanPodPolicy = ptr.To(kubeflow.CleanPodPolicyAll)
	finishLauncher(job, "1s", 0)
	if err := env.Client.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, job, kubeflow.JobSucceeded)
	framework.Eventually(t, framework.DefaultTimeout, "the MPIJob, its launcher Job and every pod gone", func(ctx context.Context) (bool, string, error) {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(job), &kubeflow.MPIJob{})
		lerr := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "short-launcher"}, &batchv1.Job{})
		pods := &corev1.PodList{}
		if err := env.Client.List(ctx, pods, client.InNamespace(ns)); err != nil {
			return false, "", err
		}
		return apierrors.IsNotFound(err) && apierrors.IsNotFound(lerr) && len(pods.Items) == 0,
			fmt.Sprintf("job err %v, launcher err %v, %d pods", err, lerr, len(pods.Items)), nil
	})
}

// cleanPodPolicy All removes every pod once the job finished; Running
// (upstream's pi example) removes the workers still running, freeing their
// GPUs, and keeps the finished launcher pod for its log.
func TestCleanPodPolicyLeavesNoPodBehind(t *testing.T) {
	for name, tc := range map[string]struct {
		policy         kubeflow.CleanPodPolicy
		launcherPodsGo bool
	}{
		"All":     {kubeflow.CleanPodPolicyAll, true},
		"Running": {kubeflow.CleanPodPolicyRunning, false},
	} {
		t.Run(name, func(t *testing.T) {
			ns := env.CreateNamespace(t, "clean")
			job := simpleJob(ns, "tidy", 2)
			job.Spec.RunPolicy.CleanPodPolicy = ptr.To(tc.policy)
			finishLauncher(job, "1s", 0)
			if err := env.Client.Create(context.Background(), job); err != nil {
				t.Fatal(err)
			}
			waitCondition(t, job, kubeflow.JobSucceeded)
			framework.Eventually(t, framework.DefaultTimeout, "no worker left, launcher pods as the policy says", func(ctx context.Context) (bool, string, error) {
				w, l := len(jobPods(t, job, kubeflow.RoleWorker)), len(jobPods(t, job, kubeflow.RoleLauncher))
				return w == 0 && (l == 0 || !tc.launcherPodsGo), fmt.Sprintf("%d workers, %d launcher pods", w, l), nil
			})
		})
	}
}

func setSuspend(t *testing.T, job *kubeflow.MPIJob, suspend bool) {
	t.Helper()
	framework.Eventually(t, framework.DefaultTimeout, "updating suspend", func(ctx context.Context) (bool, string, error) {
		got := &kubeflow.MPIJob{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(job), got); err != nil {
			return false, "", err
		}
		got.Spec.RunPolicy.Suspend = ptr.To(suspend)
		if err := env.Client.Update(ctx, got); err != nil {
			return false, err.Error(), nil
		}
		return true, "", nil
	})
}

// A worker that restarts in place (restartPolicy OnFailure) is reported
// with its diagnosis while the job goes on.
func TestRestartingWorkerIsReported(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "restart")
	job := simpleJob(ns, "flaky", 1)
	job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].RestartPolicy = kubeflow.RestartPolicyOnFailure
	annotate(&job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template, map[string]string{
		cluster.FinishAfterAnnotation: "1s", cluster.ExitCodeAnnotation: "137", cluster.ReasonAnnotation: "OOMKilled",
	})
	if err := env.Client.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, framework.DefaultTimeout, "a WorkerRestarted event naming the OOM kill", func(ctx context.Context) (bool, string, error) {
		evs, err := env.Clientset.EventsV1().Events(ns).List(ctx, metav1ListFor(job.Name))
		if err != nil {
			return false, "", err
		}
		for _, e := range evs.Items {
			if e.Reason == "WorkerRestarted" && strings.Contains(e.Note, "worker-0 was OOMKilled at 16Gi") {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("%d events", len(evs.Items)), nil
	})
	got := &kubeflow.MPIJob{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(job), got); err != nil {
		t.Fatal(err)
	}
	if c := condition(got, kubeflow.JobFailed); c != nil {
		t.Errorf("a worker restarting in place failed the job: %+v", c)
	}
}

// Each job gets a NetworkPolicy, owned by it, that admits only the job's
// own pods to its workers.
func TestJobNetworkPolicyAdmitsOnlyItsOwnPods(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "netpol")
	job := simpleJob(ns, "isolated", 2)
	if err := env.Client.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, job, kubeflow.JobRunning)
	np := &networkingv1.NetworkPolicy{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(job), np); err != nil {
		t.Fatal(err)
	}
	if !metav1.IsControlledBy(np, got) {
		t.Errorf("NetworkPolicy owners %+v, want controlled by the MPIJob", np.OwnerReferences)
	}
	wantTarget := map[string]string{kubeflow.OperatorNameLabel: kubeflow.OperatorName, kubeflow.JobNameLabel: job.Name, kubeflow.JobRoleLabel: kubeflow.RoleWorker}
	if diff := cmp.Diff(wantTarget, np.Spec.PodSelector.MatchLabels); diff != "" {
		t.Errorf("NetworkPolicy targets (-want +got):\n%s", diff)
	}
	if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) != 1 || np.Spec.Ingress[0].From[0].PodSelector == nil ||
		np.Spec.Ingress[0].From[0].PodSelector.MatchLabels[kubeflow.JobNameLabel] != job.Name {
		t.Errorf("NetworkPolicy ingress %+v, want only the job's own pods", np.Spec.Ingress)
	}
}
