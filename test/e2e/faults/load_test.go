package faults_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// controllerUser is the identity the controller replicas run as.
var controllerUser = "system:serviceaccount:" + framework.ProductNamespace + ":" + framework.RoleController

// jobPlan is one job of a load: what it is and what the load does to it.
type jobPlan struct {
	name        string
	workers     int32
	finishAfter time.Duration
	fail        bool          // the launcher exits 1: the job must end Failed
	suspend     bool          // suspended once Running, resumed a little later
	createAt    time.Duration // after the load starts
	labels      map[string]string
	gpus        int64
}

func (p *jobPlan) object(ns string) *kubeflow.MPIJob {
	code := "0"
	if p.fail {
		code = "1"
	}
	w := wrappers.MakeMPIJob(p.name, ns).Workers(p.workers).
		LauncherResources("100m", "64Mi").WorkerResources("100m", "64Mi", p.gpus).
		CleanPodPolicy(kubeflow.CleanPodPolicyRunning).BackoffLimit(0).
		LauncherAnnotation(cluster.FinishAfterAnnotation, p.finishAfter.String()).
		LauncherAnnotation(cluster.ExitCodeAnnotation, code)
	for k, v := range p.labels {
		w = w.Label(k, v)
	}
	return w.Obj()
}

// load runs a plan of jobs in one namespace and watches their progress.
type load struct {
	ns   string
	jobs []*jobPlan
	rng  *rand.Rand

	mu       sync.Mutex
	resumes  map[string]int
	progress []time.Time // when the poller saw any job's status change
	errs     []string
}

// newLoad plans n jobs created over spread, drawn from rng: 2-3 workers,
// a launcher that ends after 2-6 s, one job in ten failing, one in five
// suspended and resumed.
func newLoad(ns string, n int, spread time.Duration, rng *rand.Rand) *load {
	l := &load{ns: ns, rng: rng, resumes: map[string]int{}}
	for i := range n {
		l.jobs = append(l.jobs, &jobPlan{
			name:        fmt.Sprintf("j%03d", i),
			workers:     int32(2 + rng.IntN(2)),
			finishAfter: time.Duration(2000+rng.IntN(4000)) * time.Millisecond,
			fail:        rng.IntN(10) == 0,
			suspend:     rng.IntN(5) == 0,
			createAt:    time.Duration(rng.Int64N(int64(spread) + 1)),
		})
	}
	sort.Slice(l.jobs, func(i, j int) bool { return l.jobs[i].createAt < l.jobs[j].createAt })
	return l
}

func (l *load) errorf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, fmt.Sprintf(format, args...))
}

// start creates the jobs on their schedule, suspends and resumes those
// planned so, and polls the jobs' status; done is closed once every job
// is created and every planned resume made.
func (l *load) start(ctx context.Context) (done <-chan struct{}) {
	go l.poll(ctx)
	finished := make(chan struct{})
	begin := time.Now()
	var wg sync.WaitGroup
	for _, p := range l.jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !sleepCtx(ctx, time.Until(begin.Add(p.createAt))) {
				return
			}
			if err := retryAPI(ctx, func() error { return env.Client.Create(ctx, p.object(l.ns)) }); err != nil {
				l.errorf("creating %s: %v", p.name, err)
				return
			}
			if p.suspend {
				l.suspendAndResume(ctx, p)
			}
		}()
	}
	go func() { wg.Wait(); close(finished) }()
	return finished
}

// suspendAndResume waits until the job runs, suspends it, waits until
// its workers are gone, then resumes it.
func (l *load) suspendAndResume(ctx context.Context, p *jobPlan) {
	key := types.NamespacedName{Namespace: l.ns, Name: p.name}
	if !waitFor(ctx, 2*time.Minute, func() bool {
		j := &kubeflow.MPIJob{}
		return env.Client.Get(ctx, key, j) == nil && (hasCondition(j, kubeflow.JobRunning) || finished(j))
	}) {
		l.errorf("%s never ran before its planned suspension", p.name)
		return
	}
	if err := retryAPI(ctx, func() error { return setSuspend(ctx, key, true) }); err != nil {
		l.errorf("suspending %s: %v", p.name, err)
		return
	}
	if !waitFor(ctx, 2*time.Minute, func() bool { return len(livePods(ctx, l.ns, p.name)) == 0 }) {
		l.errorf("%s: pods still there 2 minutes after its suspension", p.name)
	}
	sleepCtx(ctx, time.Duration(500+l.rng.IntN(2000))*time.Millisecond)
	if err := retryAPI(ctx, func() error { return setSuspend(ctx, key, false) }); err != nil {
		l.errorf("resuming %s: %v", p.name, err)
		return
	}
	l.mu.Lock()
	l.resumes[p.name]++
	l.mu.Unlock()
}

func setSuspend(ctx context.Context, key types.NamespacedName, suspend bool) error {
	j := &kubeflow.MPIJob{}
	if err := env.Client.Get(ctx, key, j); err != nil {
		return err
	}
	patch := client.MergeFrom(j.DeepCopy())
	j.Spec.RunPolicy.Suspend = &suspend
	return env.Client.Patch(ctx, j, patch)
}

// poll records the moments any job's status changed, a measure of the
// controller's progress that needs no access to the controller.
func (l *load) poll(ctx context.Context) {
	seen := map[string]string{}
	for sleepCtx(ctx, 250*time.Millisecond) {
		list := &kubeflow.MPIJobList{}
		if err := env.Client.List(ctx, list, client.InNamespace(l.ns)); err != nil {
			continue // the API server may be down on purpose
		}
		changed := false
		for i := range list.Items {
			j := &list.Items[i]
			f := fingerprint(j)
			if seen[j.Name] != f {
				seen[j.Name], changed = f, true
			}
		}
		if changed {
			l.mu.Lock()
			l.progress = append(l.progress, time.Now())
			l.mu.Unlock()
		}
	}
}

func fingerprint(j *kubeflow.MPIJob) string {
	var b strings.Builder
	for _, c := range j.Status.Conditions {
		fmt.Fprintf(&b, "%s=%s;", c.Type, c.Status)
	}
	for role, s := range j.Status.ReplicaStatuses {
		fmt.Fprintf(&b, "%s:%d/%d/%d;", role, s.Active, s.Succeeded, s.Failed)
	}
	return b.String()
}

// progressAfter is how long after t the controller first changed a job's
// status, or false when it has not yet.
func (l *load) progressAfter(t time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.progress {
		if p.After(t) {
			return p.Sub(t), true
		}
	}
	return 0, false
}

// waitProgressAfter waits up to timeout for progress after t.
func (l *load) waitProgressAfter(t time.Time, timeout time.Duration) (time.Duration, bool) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if d, ok := l.progressAfter(t); ok {
			return d, true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return 0, false
}

// outcome is what verify counted.
type outcome struct {
	jobs, duplicates, podsLeft, stuck int
}

// verify waits for every job's end state and checks the invariants:
// each job ends as planned, no child was created twice (counted in the
// API server's audit log), no pod of a finished job is left, no job is
// stuck. It fails the test on any breach and returns the counts.
func (l *load) verify(t *testing.T, timeout time.Duration) outcome {
	t.Helper()
	ctx := context.Background()
	l.mu.Lock()
	for _, e := range l.errs {
		t.Errorf("load: %s", e)
	}
	l.mu.Unlock()
	out := outcome{jobs: len(l.jobs)}
	deadline := time.Now().Add(timeout)
	var pending []string
	for {
		pending = pending[:0]
		list := &kubeflow.MPIJobList{}
		if err := env.Client.List(ctx, list, client.InNamespace(l.ns)); err != nil {
			t.Fatal(err)
		}
		byName := map[string]*kubeflow.MPIJob{}
		for i := range list.Items {
			byName[list.Items[i].Name] = &list.Items[i]
		}
		for _, p := range l.jobs {
			j := byName[p.name]
			if j == nil || !finished(j) {
				pending = append(pending, p.name+" "+describe(j))
				continue
			}
			if got := hasCondition(j, kubeflow.JobSucceeded); got == p.fail {
				t.Errorf("%s ended %s, want %s", p.name, describe(j), map[bool]string{true: "Failed", false: "Succeeded"}[p.fail])
			}
		}
		if len(pending) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	out.stuck = len(pending)
	if out.stuck > 0 {
		t.Errorf("%d jobs did not finish within %s: %s", out.stuck, timeout, strings.Join(pending[:min(len(pending), 10)], "; "))
	}
	// Finished jobs keep no running pod (cleanPodPolicy Running).
	framework.Eventually(t, 60*time.Second, "the finished jobs' pods gone", func(ctx context.Context) (bool, string, error) {
		left := livePods(ctx, l.ns, "")
		out.podsLeft = len(left)
		return len(left) == 0, strings.Join(left[:min(len(left), 10)], ", "), nil
	})
	out.duplicates = l.duplicateCreates(t)
	return out
}

// duplicateCreates counts, in the audit log, objects the controller
// created more often than allowed: each child once, a worker pod once more
// per resume of its job.
func (l *load) duplicateCreates(t *testing.T) int {
	t.Helper()
	events, err := framework.ReadAudit(env.AuditLog, controllerUser)
	if err != nil {
		t.Fatal(err)
	}
	creates := map[string]int{} // resource/name
	for _, ev := range events {
		if ev.Verb != "create" || ev.ObjectRef == nil || ev.ObjectRef.Namespace != l.ns || ev.ObjectRef.Subresource != "" ||
			ev.ResponseStatus == nil || ev.ResponseStatus.Code != 201 {
			continue
		}
		switch ev.ObjectRef.Resource {
		case "pods", "jobs", "configmaps", "secrets", "services":
			creates[ev.ObjectRef.Resource+"/"+ev.ObjectRef.Name]++
		}
	}
	names := make([]string, 0, len(l.jobs))
	for _, p := range l.jobs {
		names = append(names, p.name)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	dup := 0
	for key, n := range creates {
		resource, name, _ := strings.Cut(key, "/")
		job := owningJob(names, name)
		allowed := 1
		if resource == "pods" {
			allowed += l.resumes[job]
		}
		if n > allowed {
			dup += n - allowed
			t.Errorf("the controller created %s %d times (job %s, %d resumes): allowed %d", key, n, job, l.resumes[job], allowed)
		}
	}
	return dup
}

// owningJob is the job whose name is the longest prefix of a child's.
func owningJob(jobs []string, child string) string {
	best := ""
	for _, j := range jobs {
		if (child == j || strings.HasPrefix(child, j+"-")) && len(j) > len(best) {
			best = j
		}
	}
	return best
}

// livePods lists the pods of job (all jobs when empty) in ns that are
// neither finished nor being deleted.
func livePods(ctx context.Context, ns, job string) []string {
	pods := &corev1.PodList{}
	opts := []client.ListOption{client.InNamespace(ns)}
	if job != "" {
		opts = append(opts, client.MatchingLabels{kubeflow.JobNameLabel: job})
	}
	if err := env.Client.List(ctx, pods, opts...); err != nil {
		return []string{"(list failed: " + err.Error() + ")"}
	}
	var out []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p.Name)
		}
	}
	slices.Sort(out)
	return out
}

func hasCondition(j *kubeflow.MPIJob, t kubeflow.JobConditionType) bool {
	return mpijob.TrueCondition(j, t) != nil
}

func finished(j *kubeflow.MPIJob) bool {
	return hasCondition(j, kubeflow.JobSucceeded) || hasCondition(j, kubeflow.JobFailed)
}

func describe(j *kubeflow.MPIJob) string {
	if j == nil {
		return "(absent)"
	}
	var conds []string
	for _, c := range j.Status.Conditions {
		if c.Status == corev1.ConditionTrue {
			conds = append(conds, string(c.Type))
		}
	}
	return "[" + strings.Join(conds, ",") + "]"
}

// retryAPI retries f while the API server is unreachable or overloaded,
// as a user's script would (a fault case may have it down on purpose).
func retryAPI(ctx context.Context, f func() error) error {
	var err error
	for i := 0; i < 60; i++ {
		err = f()
		if err == nil || apierrors.IsAlreadyExists(err) && i > 0 {
			return nil
		}
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsBadRequest(err) {
			return err
		}
		if !sleepCtx(ctx, time.Second) {
			return ctx.Err()
		}
	}
	return err
}

func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) || !sleepCtx(ctx, 200*time.Millisecond) {
			return false
		}
	}
	return true
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
