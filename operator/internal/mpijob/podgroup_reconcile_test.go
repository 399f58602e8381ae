package mpijob

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// fakeEnv is a Reconciler on a fake API server holding one job.
type fakeEnv struct {
	r      *Reconciler
	c      client.Client
	events *events.FakeRecorder
	clock  *testingclock.FakeClock
	job    *kubeflow.MPIJob
}

func newFakeEnv(t *testing.T, scheduler string, funcs interceptor.Funcs, objs ...client.Object) *fakeEnv {
	t.Helper()
	return newFakeEnvFor(t, testJob(), scheduler, funcs, objs...)
}

// newFakeEnvFor is newFakeEnv holding the given job.
func newFakeEnvFor(t *testing.T, job *kubeflow.MPIJob, scheduler string, funcs interceptor.Funcs, objs ...client.Object) *fakeEnv {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := kubeflow.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).
		WithStatusSubresource(&kubeflow.MPIJob{}).
		WithIndex(&corev1.Pod{}, podJobIndex, podJobName).
		WithObjects(append([]client.Object{job}, objs...)...).
		WithInterceptorFuncs(funcs).Build()
	cfg := DefaultConfig()
	cfg.GangScheduler = scheduler
	e := &fakeEnv{c: c, events: events.NewFakeRecorder(100), clock: testingclock.NewFakeClock(time.Unix(1_000_000, 0)), job: job}
	e.r = &Reconciler{Client: c, APIReader: c, Recorder: e.events, Config: cfg, Clock: e.clock, expect: newExpectations()}
	return e
}

// reconcile runs a pass for the env's job, or for job when given.
func (e *fakeEnv) reconcile(t *testing.T, job ...*kubeflow.MPIJob) ctrl.Result {
	t.Helper()
	key := client.ObjectKeyFromObject(e.job)
	if len(job) > 0 {
		key = client.ObjectKeyFromObject(job[0])
	}
	res, err := e.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key})
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	return res
}

// drain returns the events emitted so far.
func (e *fakeEnv) drain() []string {
	var out []string
	for {
		select {
		case ev := <-e.events.Events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

func (e *fakeEnv) pods(t *testing.T) []corev1.Pod {
	t.Helper()
	pods := &corev1.PodList{}
	if err := e.c.List(context.Background(), pods, client.InNamespace(e.job.Namespace)); err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

func (e *fakeEnv) launcher(t *testing.T) *batchv1.Job {
	t.Helper()
	l := &batchv1.Job{}
	if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: e.job.Namespace, Name: launcherName(e.job)}, l); err != nil {
		t.Fatal(err)
	}
	return l
}

func isPodGroup(obj client.Object, group string) bool {
	u, ok := obj.(*unstructured.Unstructured)
	return ok && u.GroupVersionKind().Kind == "PodGroup" && u.GroupVersionKind().Group == group
}

func kindOf(obj client.Object) string {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u.GetKind()
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", obj), "*v1.")
}

func TestReconcileCreatesThePodGroupBeforeThePods(t *testing.T) {
	const group = "scheduling.x-k8s.io"
	var created []string
	var mu sync.Mutex // a job's workers are created concurrently
	reads := 0
	e := newFakeEnv(t, GangSchedulerSchedulerPlugins, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			mu.Lock()
			created = append(created, kindOf(obj))
			mu.Unlock()
			return c.Create(ctx, obj, opts...)
		},
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if isPodGroup(obj, group) {
				reads++
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	e.reconcile(t)
	first := func(kind string) int {
		for i, k := range created {
			if k == kind {
				return i
			}
		}
		return -1
	}
	if pg := first("PodGroup"); pg < 0 || pg > first("Pod") || pg > first("Job") {
		t.Fatalf("creates in order %v: want the PodGroup before every pod and the launcher Job", created)
	}

	pg := &unstructured.Unstructured{}
	pg.SetGroupVersionKind(gangSchedulers[GangSchedulerSchedulerPlugins].gvk)
	if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: "team-a", Name: "pi"}, pg); err != nil {
		t.Fatal(err)
	}
	if !metav1.IsControlledBy(pg, e.job) || pg.GetLabels()[kubeflow.OperatorNameLabel] != kubeflow.OperatorName {
		t.Errorf("PodGroup not controlled by the job or without our label: %+v", pg.Object["metadata"])
	}
	if mm, _, _ := unstructured.NestedInt64(pg.Object, "spec", "minMember"); mm != 3 {
		t.Errorf("minMember = %d, want 3", mm)
	}
	pods := e.pods(t)
	if len(pods) != 2 {
		t.Fatalf("%d pods, want 2 workers", len(pods))
	}
	for _, p := range pods {
		if p.Labels[schedulerPluginsPodGroupLabel] != "pi" || p.Spec.SchedulerName != "scheduler-plugins" {
			t.Errorf("worker %s: pod-group label %q, schedulerName %q", p.Name, p.Labels[schedulerPluginsPodGroupLabel], p.Spec.SchedulerName)
		}
	}
	if l := e.launcher(t).Spec.Template; l.Labels[schedulerPluginsPodGroupLabel] != "pi" || l.Spec.SchedulerName != "scheduler-plugins" {
		t.Errorf("launcher template: labels %v, schedulerName %q", l.Labels, l.Spec.SchedulerName)
	}

	// Once confirmed live, the PodGroup is trusted for podGroupRecheck.
	reads = 0
	e.reconcile(t)
	e.reconcile(t)
	if reads != 1 {
		t.Errorf("%d live reads of the PodGroup in the 2 passes after its create, want 1 (confirm, then trusted)", reads)
	}
	e.clock.Step(podGroupRecheck + time.Second)
	e.reconcile(t)
	if reads != 2 {
		t.Errorf("%d live reads after the recheck interval, want 2", reads)
	}

	// A spec change (one more worker) reaches the PodGroup at once.
	job := &kubeflow.MPIJob{}
	if err := e.c.Get(context.Background(), client.ObjectKeyFromObject(e.job), job); err != nil {
		t.Fatal(err)
	}
	job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Replicas = ptr.To[int32](3)
	if err := e.c.Update(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	e.reconcile(t)
	if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: "team-a", Name: "pi"}, pg); err != nil {
		t.Fatal(err)
	}
	if mm, _, _ := unstructured.NestedInt64(pg.Object, "spec", "minMember"); mm != 4 {
		t.Errorf("minMember after scaling to 3 workers = %d, want 4", mm)
	}
	for _, ev := range e.drain() {
		if strings.Contains(ev, "PodGroup") || strings.Contains(ev, ReasonGangSchedulingUnavailable) {
			t.Errorf("unexpected event %q", ev)
		}
	}
}

// Without Volcano's CRD (the API server knows no such kind) the job runs
// without gang scheduling: no error, no retry loop, one warning, and pods
// that wait for neither a PodGroup nor the volcano scheduler.
func TestReconcileWithoutThePodGroupCRD(t *testing.T) {
	const group = "scheduling.volcano.sh"
	calls := 0
	noMatch := &meta.NoKindMatchError{GroupKind: gangSchedulers[GangSchedulerVolcano].gvk.GroupKind(), SearchedVersions: []string{"v1beta1"}}
	statusWrites := 0
	e := newFakeEnv(t, GangSchedulerVolcano, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if isPodGroup(obj, group) {
				calls++
				return noMatch
			}
			return c.Get(ctx, key, obj, opts...)
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if isPodGroup(obj, group) {
				calls++
				return noMatch
			}
			return c.Create(ctx, obj, opts...)
		},
		// The first status write conflicts, which drops that pass's
		// events: the warning must still be emitted, by the next pass.
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			statusWrites++
			if statusWrites == 1 {
				return apierrors.NewConflict(kubeflow.SchemeGroupVersion.WithResource("mpijobs").GroupResource(), obj.GetName(), fmt.Errorf("changed"))
			}
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	})
	var warnings []string
	for i := 0; i < 4; i++ {
		res := e.reconcile(t)
		if i > 0 && res.RequeueAfter > 0 && res.RequeueAfter < time.Second {
			t.Errorf("pass %d requeues after %v: a retry loop", i, res.RequeueAfter)
		}
		for _, ev := range e.drain() {
			if strings.Contains(ev, ReasonGangSchedulingUnavailable) {
				warnings = append(warnings, ev)
			}
		}
	}
	if statusWrites < 2 {
		t.Fatalf("%d status writes: the conflict path was not exercised", statusWrites)
	}
	if calls != 1 {
		t.Errorf("%d PodGroup requests in 4 passes, want 1: the missing CRD is remembered", calls)
	}
	want := "Warning GangSchedulingUnavailable podgroups.scheduling.volcano.sh is not installed: install Volcano or run the controller without gangScheduling"
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], want) {
		t.Errorf("warnings %q, want exactly one starting %q", warnings, want)
	}
	pods := e.pods(t)
	if len(pods) != 2 {
		t.Fatalf("%d pods, want 2 workers", len(pods))
	}
	for _, p := range pods {
		if p.Spec.SchedulerName != "" || p.Annotations[volcanoGroupNameAnnotation] != "" {
			t.Errorf("worker %s still joins the gang: schedulerName %q, annotations %v", p.Name, p.Spec.SchedulerName, p.Annotations)
		}
	}
	if l := e.launcher(t).Spec.Template; l.Spec.SchedulerName != "" || l.Annotations[volcanoGroupNameAnnotation] != "" {
		t.Errorf("launcher template still joins the gang: schedulerName %q, annotations %v", l.Spec.SchedulerName, l.Annotations)
	}
	job := &kubeflow.MPIJob{}
	if err := e.c.Get(context.Background(), client.ObjectKeyFromObject(e.job), job); err != nil {
		t.Fatal(err)
	}
	for _, c := range job.Status.Conditions {
		if c.Type == kubeflow.JobFailed && c.Status == corev1.ConditionTrue {
			t.Errorf("job failed: %s", c.Message)
		}
	}

	// A job that comes within podGroupRecheck takes the answer without
	// asking (and gets its own warning); one that comes later asks again,
	// so that a CRD installed meanwhile would serve it.
	for i, wantCalls := range []int{1, 2} {
		if i == 1 {
			e.clock.Step(podGroupRecheck + time.Second)
		}
		next := testJob(func(j *kubeflow.MPIJob) {
			j.Name, j.UID = fmt.Sprintf("next-%d", i), "2222-3333"
		})
		if err := e.c.Create(context.Background(), next); err != nil {
			t.Fatal(err)
		}
		e.reconcile(t, next)
		if calls != wantCalls {
			t.Errorf("job %s: %d PodGroup requests in all, want %d", next.Name, calls, wantCalls)
		}
		n := 0
		for _, ev := range e.drain() {
			if strings.HasPrefix(ev, want) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("job %s: %d GangSchedulingUnavailable warnings, want 1", next.Name, n)
		}
	}
}

func TestReconcileReportsAForeignPodGroup(t *testing.T) {
	foreign := &unstructured.Unstructured{}
	foreign.SetGroupVersionKind(gangSchedulers[GangSchedulerSchedulerPlugins].gvk)
	foreign.SetNamespace("team-a")
	foreign.SetName("pi")
	e := newFakeEnv(t, GangSchedulerSchedulerPlugins, interceptor.Funcs{}, foreign)
	e.reconcile(t)
	job := &kubeflow.MPIJob{}
	if err := e.c.Get(context.Background(), client.ObjectKeyFromObject(e.job), job); err != nil {
		t.Fatal(err)
	}
	var failed *kubeflow.JobCondition
	for i := range job.Status.Conditions {
		if job.Status.Conditions[i].Type == kubeflow.JobFailed {
			failed = &job.Status.Conditions[i]
		}
	}
	if failed == nil || failed.Reason != "ErrResourceExists" || !strings.Contains(failed.Message, "PodGroup team-a/pi exists and is not controlled by this MPIJob") {
		t.Errorf("Failed condition = %+v, want ErrResourceExists naming the PodGroup", failed)
	}
}

func TestReconcileReportsARefusedPodGroup(t *testing.T) {
	e := newFakeEnv(t, GangSchedulerSchedulerPlugins, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if isPodGroup(obj, "scheduling.x-k8s.io") {
				return apierrors.NewInvalid(gangSchedulers[GangSchedulerSchedulerPlugins].gvk.GroupKind(), obj.GetName(),
					field.ErrorList{field.Invalid(field.NewPath("spec", "minMember"), 0, "should be greater than or equal to 1")})
			}
			return c.Create(ctx, obj, opts...)
		},
	})
	res := e.reconcile(t)
	if res.RequeueAfter <= 0 || res.RequeueAfter > 30*time.Second {
		t.Errorf("RequeueAfter = %v, want a retry within 30s", res.RequeueAfter)
	}
	found := false
	for _, ev := range e.drain() {
		if strings.HasPrefix(ev, "Warning "+ReasonFailedCreatePodGroup) && strings.Contains(ev, "spec.minMember") {
			found = true
		}
	}
	if !found {
		t.Error("no FailedCreatePodGroup warning giving the API server's reason")
	}
}
