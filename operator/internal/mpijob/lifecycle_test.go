package mpijob

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
)

// deleteAllOf records the DeleteCollections of worker pods the controller
// asks for (the fake client cannot evaluate field selectors; what matters
// here is what the API server is asked).
type deleteAllOf struct{ calls []client.DeleteAllOfOptions }

func (d *deleteAllOf) funcs() interceptor.Funcs {
	return interceptor.Funcs{DeleteAllOf: func(_ context.Context, _ client.WithWatch, _ client.Object, opts ...client.DeleteAllOfOption) error {
		var o client.DeleteAllOfOptions
		o.ApplyOptions(opts)
		d.calls = append(d.calls, o)
		return nil
	}}
}

func lifecycleJob() *wrappers.MPIJobWrapper {
	return wrappers.MakeMPIJob("pi", "team-a").UID("0000-1111").WorkerResources("1", "1Gi", 1)
}

func (e *fakeEnv) get(t *testing.T) *kubeflow.MPIJob {
	t.Helper()
	job := &kubeflow.MPIJob{}
	if err := e.c.Get(context.Background(), client.ObjectKeyFromObject(e.job), job); err != nil {
		t.Fatal(err)
	}
	return job
}

func (e *fakeEnv) update(t *testing.T, mutate func(*kubeflow.MPIJob)) {
	t.Helper()
	job := e.get(t)
	mutate(job)
	if err := e.c.Update(context.Background(), job); err != nil {
		t.Fatal(err)
	}
}

func (e *fakeEnv) workers(t *testing.T) []corev1.Pod {
	t.Helper()
	var out []corev1.Pod
	for _, p := range e.pods(t) {
		if p.Labels[kubeflow.JobRoleLabel] == kubeflow.RoleWorker {
			out = append(out, p)
		}
	}
	return out
}

// TestSuspendAndResume walks a job through Kueue's life: created
// suspended, resumed with the node selector of the flavor Kueue admitted
// it to, suspended again (preempted).
func TestSuspendAndResume(t *testing.T) {
	var deletes deleteAllOf
	job := lifecycleJob().Queue("gpus").Suspend(true).Defaulted()
	e := newFakeEnvFor(t, job, "", deletes.funcs())

	e.reconcile(t)
	if n := len(e.workers(t)); n != 0 {
		t.Fatalf("a suspended job got %d workers", n)
	}
	if l := e.launcher(t); !ptr.Deref(l.Spec.Suspend, false) {
		t.Error("the launcher Job of a suspended job must be suspended")
	}
	if c := mpijob.TrueCondition(e.get(t), kubeflow.JobSuspended); c == nil {
		t.Errorf("conditions %+v: want Suspended", e.get(t).Status.Conditions)
	}

	flavor := map[string]string{"example.com/gpu-flavor": "h100"}
	e.update(t, func(j *kubeflow.MPIJob) {
		j.Spec.RunPolicy.Suspend = ptr.To(false)
		for _, r := range j.Spec.MPIReplicaSpecs {
			r.Template.Spec.NodeSelector = flavor
		}
	})
	e.reconcile(t)
	workers := e.workers(t)
	if len(workers) != 2 {
		t.Fatalf("a resumed job has %d workers, want 2", len(workers))
	}
	for _, w := range workers {
		if !maps.Equal(w.Spec.NodeSelector, flavor) {
			t.Errorf("worker %s node selector %v, want Kueue's %v", w.Name, w.Spec.NodeSelector, flavor)
		}
	}
	l := e.launcher(t)
	if ptr.Deref(l.Spec.Suspend, false) || !maps.Equal(l.Spec.Template.Spec.NodeSelector, flavor) {
		t.Errorf("launcher suspend %v, node selector %v: want resumed with %v", l.Spec.Suspend, l.Spec.Template.Spec.NodeSelector, flavor)
	}

	e.update(t, func(j *kubeflow.MPIJob) { j.Spec.RunPolicy.Suspend = ptr.To(true) })
	e.reconcile(t)
	if len(deletes.calls) != 1 || deletes.calls[0].LabelSelector.String() != labels.SelectorFromSet(roleLabels(job, kubeflow.RoleWorker)).String() {
		t.Errorf("deletions %+v: want one DeleteCollection of the job's workers", deletes.calls)
	}
	if deletes.calls[0].FieldSelector != nil {
		t.Errorf("suspending deletes every worker, not %s", deletes.calls[0].FieldSelector)
	}
	if l := e.launcher(t); !ptr.Deref(l.Spec.Suspend, false) {
		t.Error("suspending the job must suspend its launcher")
	}
}

// TestFinishedJobCleanPodPolicy: what a finished job deletes, by policy.
func TestFinishedJobCleanPodPolicy(t *testing.T) {
	for _, tc := range []struct {
		policy          kubeflow.CleanPodPolicy
		wantDelete      bool
		wantFieldFilter string
	}{
		{kubeflow.CleanPodPolicyNone, false, ""},
		{kubeflow.CleanPodPolicyRunning, true, "status.phase!=Succeeded,status.phase!=Failed"},
		{kubeflow.CleanPodPolicyAll, true, ""},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			var deletes deleteAllOf
			e := newFakeEnvFor(t, lifecycleJob().CleanPodPolicy(tc.policy).Defaulted(), "", deletes.funcs())
			e.reconcile(t) // workers and launcher created
			finished := e.get(t)
			now := metav1.NewTime(e.clock.Now())
			finished.Status.Conditions = append(finished.Status.Conditions, kubeflow.JobCondition{Type: kubeflow.JobSucceeded, Status: corev1.ConditionTrue, LastTransitionTime: now})
			finished.Status.CompletionTime = &now
			if err := e.c.Status().Update(context.Background(), finished); err != nil {
				t.Fatal(err)
			}
			e.reconcile(t)
			if !tc.wantDelete {
				if len(deletes.calls) != 0 {
					t.Errorf("cleanPodPolicy None deleted %+v", deletes.calls)
				}
				return
			}
			if len(deletes.calls) != 1 {
				t.Fatalf("deletions %+v: want one DeleteCollection", deletes.calls)
			}
			got := ""
			if fs := deletes.calls[0].FieldSelector; fs != nil {
				got = fs.String()
			}
			if got != tc.wantFieldFilter {
				t.Errorf("field selector %q, want %q", got, tc.wantFieldFilter)
			}
		})
	}
}

// TestTTLAfterFinished: the job is kept until its TTL has passed, with a
// requeue for that moment, then deleted (its children go with it).
func TestTTLAfterFinished(t *testing.T) {
	w := lifecycleJob().TTLSecondsAfterFinished(60)
	e := newFakeEnvFor(t, w.Defaulted(), "", interceptor.Funcs{})
	finishedAt := metav1.NewTime(e.clock.Now().Add(-30 * time.Second))
	e.update(t, func(*kubeflow.MPIJob) {})
	job := e.get(t)
	job.Status.Conditions = []kubeflow.JobCondition{{Type: kubeflow.JobSucceeded, Status: corev1.ConditionTrue, LastTransitionTime: finishedAt}}
	job.Status.CompletionTime = &finishedAt
	if err := e.c.Status().Update(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if res := e.reconcile(t); res.RequeueAfter != 30*time.Second {
		t.Errorf("requeue after %v, want the 30 s left", res.RequeueAfter)
	}
	e.get(t) // still there
	e.clock.Step(31 * time.Second)
	e.reconcile(t)
	err := e.c.Get(context.Background(), client.ObjectKeyFromObject(e.job), &kubeflow.MPIJob{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("after its TTL the job is still there (%v)", err)
	}
}

// setPod replaces a pod's status as the kubelet would.
func (e *fakeEnv) setPod(t *testing.T, name string, mutate func(*wrappers.PodWrapper)) {
	t.Helper()
	pod := &corev1.Pod{}
	if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: e.job.Namespace, Name: name}, pod); err != nil {
		t.Fatal(err)
	}
	w := &wrappers.PodWrapper{Pod: *pod}
	mutate(w)
	if err := e.c.Status().Update(context.Background(), &w.Pod); err != nil {
		t.Fatal(err)
	}
}

// eventsWith are the events that contain s.
func eventsWith(events []string, s string) []string {
	var out []string
	for _, ev := range events {
		if strings.Contains(ev, s) {
			out = append(out, ev)
		}
	}
	return out
}

// TestWorkerRestarts: what a worker's container ending badly does to the
// job, by the workers' restart policy. In place (OnFailure, Always) the
// job goes on and the restart is reported; otherwise (Never, and ExitCode
// for a failure that is not retryable) the job fails with the diagnosis.
func TestWorkerRestarts(t *testing.T) {
	oom := func(w *wrappers.PodWrapper) { w.Terminated(137, "OOMKilled") }
	nccl := func(w *wrappers.PodWrapper) {
		w.Terminated(1, "Error")
		w.Status.ContainerStatuses[0].State.Terminated.Message = "NCCL WARN NET/Socket : connect to 10.0.0.4 failed"
	}
	for name, tc := range map[string]struct {
		policy      kubeflow.RestartPolicy
		worker      func(*wrappers.PodWrapper)
		wantEvent   string // a WorkerRestarted event, "" for none
		wantFailed  string // the Failed reason, "" while the job goes on
		wantMessage string
	}{
		"OnFailure, restarted in place": {
			policy:    kubeflow.RestartPolicyOnFailure,
			worker:    func(w *wrappers.PodWrapper) { w.Restarted(1, 137, "OOMKilled", "") },
			wantEvent: "worker-0 restarted (restart 1): worker-0 was OOMKilled with no memory limit",
		},
		"Always, restarted in place": {
			policy:    kubeflow.RestartPolicyAlways,
			worker:    func(w *wrappers.PodWrapper) { w.Restarted(3, 1, "Error", "NCCL WARN timeout") },
			wantEvent: "worker-0 restarted (restart 3): worker-0 failed with an NCCL error",
		},
		"Never, OOMKilled": {
			policy: kubeflow.RestartPolicyNever, worker: oom,
			wantFailed: mpijob.ReasonOOMKilled, wantMessage: "worker-0 was OOMKilled with no memory limit",
		},
		"ExitCode, NCCL error": {
			policy: kubeflow.RestartPolicyExitCode, worker: nccl,
			wantFailed: mpijob.ReasonNCCLError, wantMessage: "worker-0 failed with an NCCL error (exit code 1): NCCL WARN NET/Socket",
		},
	} {
		t.Run(name, func(t *testing.T) {
			var deletes deleteAllOf
			w := lifecycleJob().RestartPolicy(kubeflow.MPIReplicaTypeWorker, tc.policy).CleanPodPolicy(kubeflow.CleanPodPolicyRunning)
			e := newFakeEnvFor(t, w.Defaulted(), "", deletes.funcs())
			e.reconcile(t)
			if got := e.workers(t)[0].Spec.RestartPolicy; tc.policy != kubeflow.RestartPolicyExitCode && got != corev1.RestartPolicy(tc.policy) {
				t.Errorf("worker pods restartPolicy %s, want %s", got, tc.policy)
			}
			e.drain()
			e.setPod(t, "pi-worker-0", tc.worker)
			e.reconcile(t)
			events := eventsWith(e.drain(), "WorkerRestarted")
			if tc.wantEvent == "" && len(events) != 0 || tc.wantEvent != "" && (len(events) != 1 || !strings.Contains(events[0], tc.wantEvent)) {
				t.Errorf("WorkerRestarted events %q, want one with %q", events, tc.wantEvent)
			}
			job := e.get(t)
			c := mpijob.TrueCondition(job, kubeflow.JobFailed)
			if tc.wantFailed == "" {
				if c != nil || len(deletes.calls) != 0 {
					t.Fatalf("a restart in place ended the job: %+v, deletions %+v", c, deletes.calls)
				}
				// The same restart seen again is not reported again; the
				// next one is.
				e.reconcile(t)
				if events := eventsWith(e.drain(), "WorkerRestarted"); len(events) != 0 {
					t.Errorf("the same restart reported again: %q", events)
				}
				e.setPod(t, "pi-worker-0", func(w *wrappers.PodWrapper) { w.Status.ContainerStatuses[0].RestartCount++ })
				e.reconcile(t)
				if events := eventsWith(e.drain(), "WorkerRestarted"); len(events) != 1 {
					t.Errorf("the next restart: events %q, want one", events)
				}
				return
			}
			if c == nil || c.Reason != tc.wantFailed || !strings.Contains(c.Message, tc.wantMessage) {
				t.Fatalf("Failed condition %+v, want %s with %q", c, tc.wantFailed, tc.wantMessage)
			}
			if len(deletes.calls) != 1 {
				t.Errorf("deletions %+v: a failed job's running workers go (cleanPodPolicy Running)", deletes.calls)
			}
		})
	}
}

// TestLauncherBackoffLimit: a launcher that keeps failing until the launcher
// Job's back-off limit fails the job with the last attempt's reason and the
// count of attempts.
func TestLauncherBackoffLimit(t *testing.T) {
	e := newFakeEnvFor(t, lifecycleJob().BackoffLimit(2).Defaulted(), "", interceptor.Funcs{})
	e.reconcile(t)
	for i := range e.workers(t) {
		e.setPod(t, e.workers(t)[i].Name, func(w *wrappers.PodWrapper) { w.Running() })
	}
	e.reconcile(t)
	l := e.launcher(t)
	if ptr.Deref(l.Spec.BackoffLimit, -1) != 2 {
		t.Errorf("launcher Job backoffLimit %v, want the job's 2", l.Spec.BackoffLimit)
	}
	last := wrappers.MakePod("pi-launcher-x7", "team-a").Of("pi", kubeflow.RoleLauncher).Terminated(1, "Error").Obj()
	last.Status.ContainerStatuses[0].State.Terminated.Message = "NCCL WARN NET/Socket : connect to 10.0.0.4 failed"
	last.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(l, batchv1.SchemeGroupVersion.WithKind("Job"))}
	if err := e.c.Create(context.Background(), last); err != nil {
		t.Fatal(err)
	}
	l.Status.Failed = 3
	l.Status.Conditions = append(l.Status.Conditions, batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonBackoffLimitExceeded})
	if err := e.c.Status().Update(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	e.reconcile(t)
	c := mpijob.TrueCondition(e.get(t), kubeflow.JobFailed)
	want := "the launcher failed 3 time(s), reaching runPolicy.backoffLimit; the last attempt: launcher failed with an NCCL error"
	if c == nil || c.Reason != mpijob.ReasonNCCLError || !strings.HasPrefix(c.Message, want) {
		t.Errorf("Failed condition %+v, want NCCLError starting %q", c, want)
	}
}

// Workers refused by quota or admission: one warning for the pass (not one
// per worker), a retry in 30 s, and the pass goes on; a worker created
// meanwhile is kept.
func TestRefusedWorkers(t *testing.T) {
	refuse := true
	funcs := interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		if pod, ok := obj.(*corev1.Pod); ok && refuse && pod.Name != "pi-worker-0" {
			return apierrors.NewForbidden(corev1.Resource("pods"), pod.Name, errors.New(`exceeded quota: compute, requested: requests.nvidia.com/gpu=1`))
		}
		return c.Create(ctx, obj, opts...)
	}}
	e := newFakeEnvFor(t, lifecycleJob().Workers(8).Defaulted(), "", funcs)
	res := e.reconcile(t)
	if res.RequeueAfter != 30*time.Second {
		t.Errorf("requeue after %v, want 30 s", res.RequeueAfter)
	}
	if got := eventsWith(e.drain(), "FailedCreateWorker"); len(got) != 1 || !strings.Contains(got[0], "exceeded quota") {
		t.Errorf("FailedCreateWorker events %q, want one naming the quota", got)
	}
	if n := len(e.workers(t)); n != 1 {
		t.Fatalf("%d workers, want the one admitted", n)
	}
	refuse = false
	e.reconcile(t)
	if n := len(e.workers(t)); n != 8 {
		t.Errorf("after the quota freed up: %d workers, want 8", n)
	}
}

// Kueue holds a preempted (suspended) job's quota until the job's status
// counts no active replica. That count goes out as soon as the last pod is
// gone, not a coalescing window later: the preemptor starts seconds
// sooner, and Kueue's accounting matches what runs. Other count-only
// changes still wait for the window.
func TestPreemptedJobReportsItsLastReplicaGoneAtOnce(t *testing.T) {
	job := lifecycleJob().Queue("gpus").Defaulted()
	e := newFakeEnvFor(t, job, "", interceptor.Funcs{})
	e.reconcile(t)
	workers := e.workers(t)
	if len(workers) != 2 {
		t.Fatalf("%d workers, want 2", len(workers))
	}
	e.setPod(t, workers[0].Name, func(w *wrappers.PodWrapper) { w.Running() })
	e.clock.Step(time.Second)
	e.reconcile(t)
	if a := active(e.get(t).Status); a != 0 {
		t.Errorf("one worker Running: the count-only change was written at once (%d active), want it coalesced", a)
	}
	e.setPod(t, workers[1].Name, func(w *wrappers.PodWrapper) { w.Running() })
	e.clock.Step(coalesceWindow)
	e.reconcile(t) // the window is over: the counts go out
	if a := active(e.get(t).Status); a != 2 {
		t.Fatalf("%d active replicas with both workers Running, want 2", a)
	}

	// Kueue preempts: the pass that suspends deletes the workers, and the
	// next one finds them gone.
	e.update(t, func(j *kubeflow.MPIJob) { j.Spec.RunPolicy.Suspend = ptr.To(true) })
	e.clock.Step(time.Second)
	e.reconcile(t)
	if n := len(e.workers(t)); n != 0 {
		t.Fatalf("%d workers left after suspending", n)
	}
	e.clock.Step(time.Second)
	e.reconcile(t)
	if a := active(e.get(t).Status); a != 0 {
		t.Errorf("the suspended job's status still counts %d active replicas with none left: Kueue would hold its quota a window longer", a)
	}
}
