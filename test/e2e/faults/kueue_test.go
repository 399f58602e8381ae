package faults_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// Kueue preempts in a storm: low-priority jobs fill a ClusterQueue's
// GPUs, then a burst of high-priority ones preempts them, and Kueue itself
// is SIGKILLed and restarted in the middle. Sampled all along: the GPUs
// of live pods never exceed the quota, nor (beyond the time a sample
// takes) what Kueue has reserved for admitted workloads, no job stays a
// partial gang, no suspended (preempted) job keeps pods. In the end every
// job, preempted or not, succeeds and nothing was created twice beyond
// one set of workers per admission.
func TestKueuePreemptionStormAndRestart(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(), 5))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := env.CreateNamespace(t, "storm")
	env.CreateWorkloadPriorityClass(t, ns+"-low", 10)
	env.CreateWorkloadPriorityClass(t, ns+"-high", 1000)
	const quota = 16
	cq := env.CreateGPUQueueWith(t, ns, "team", quota, map[string]any{"preemption": map[string]any{"withinClusterQueue": "LowerPriority"}})

	l := &load{ns: ns, rng: rng, resumes: map[string]int{}}
	plan := func(name, priority string, finish time.Duration) *jobPlan {
		return &jobPlan{name: name, workers: 2, gpus: 1, finishAfter: finish, labels: map[string]string{
			"kueue.x-k8s.io/queue-name": "team", "kueue.x-k8s.io/priority-class": ns + "-" + priority,
		}}
	}
	for i := range 12 {
		l.jobs = append(l.jobs, plan(fmt.Sprintf("low%02d", i), "low", time.Duration(25+rng.IntN(15))*time.Second))
	}
	for i := range 8 {
		l.jobs = append(l.jobs, plan(fmt.Sprintf("high%02d", i), "high", time.Duration(3+rng.IntN(4))*time.Second))
	}
	go l.poll(ctx)
	s := &stormSampler{ns: ns, cq: cq, quota: quota, workers: map[string]int{}, done: make(chan struct{})}
	for _, p := range l.jobs {
		s.workers[p.name] = int(p.workers)
	}
	go s.run(ctx, l)

	create := func(p *jobPlan) {
		if err := retryAPI(ctx, func() error { return env.Client.Create(ctx, p.object(ns)) }); err != nil {
			t.Fatalf("creating %s: %v", p.name, err)
		}
	}
	for _, p := range l.jobs[:12] {
		create(p)
	}
	framework.Eventually(t, 2*time.Minute, "the low-priority jobs fill the queue", func(context.Context) (bool, string, error) {
		n := s.gpus()
		return n == quota, fmt.Sprintf("%d GPUs in live pods", n), nil
	})
	for _, p := range l.jobs[12:] {
		create(p)
	}
	// Kueue dies in the middle of its preemptions.
	framework.Eventually(t, 2*time.Minute, "Kueue preempting", func(context.Context) (bool, string, error) {
		n := s.preempted()
		return n >= 2, fmt.Sprintf("%d preemptions", n), nil
	})
	killedAt := time.Now()
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute)
	err := env.RestartComponent(rctx, "kueue", syscall.SIGKILL)
	rcancel()
	if err != nil {
		t.Fatalf("restarting Kueue: %v", err)
	}
	kueueBack := time.Since(killedAt)
	d, ok := l.waitProgressAfter(time.Now(), 2*time.Minute)
	if !ok {
		t.Fatal("no job made progress within 2 minutes after Kueue came back")
	}
	out := l.verify(t, 4*time.Minute)
	cancel()
	s.check(t)
	// A storm, not a trickle: the high-priority jobs arrive long before a
	// low-priority one ends, so most of them must preempt. (When the
	// controller held a preempted job's active count for its 15 s write
	// window, Kueue waited it out and 2 or 3 preemptions happened.)
	if s.preemptions < 4 {
		t.Errorf("%d preemptions for 8 high-priority jobs, want at least 4", s.preemptions)
	}
	// Every job is over: Kueue's accounting holds nothing.
	framework.Eventually(t, time.Minute, "Kueue's reservation back to zero", func(ctx context.Context) (bool, string, error) {
		n, err := reservedGPUs(ctx, cq)
		return err == nil && n == 0, fmt.Sprintf("%d GPUs reserved (%v)", n, err), nil
	})
	addReport(report{
		Case: "Kueue preemption storm, Kueue SIGKILLed mid-storm", Injected: fmt.Sprintf("1 Kueue restart, %d preemptions", s.preemptions),
		Jobs: out.jobs, DuplicateCreates: out.duplicates, PodsLeft: out.podsLeft, Stuck: out.stuck,
		WorstRecovery: (kueueBack + d).Round(100 * time.Millisecond).String(),
		Extra: fmt.Sprintf("most GPUs in live pods %d of quota %d; live pods above Kueue's reservation for at most %s; partial gangs %d; preempted jobs with pods %d; preempted job inactive (Kueue may reuse its quota) after %s; Kueue's reservation 0 once all ended",
			s.maxGPUs, quota, s.unaccounted.Round(100*time.Millisecond), len(over(s.partial)), len(over(s.suspendedWithPods)), durations(s.inactiveAfter)),
	})
}

// stormSampler watches a namespace of Kueue-managed jobs.
type stormSampler struct {
	ns, cq  string
	quota   int
	workers map[string]int

	maxGPUs int
	// unaccounted is the longest time live pods held more GPUs than
	// Kueue's reservation in the ClusterQueue: pods running outside its
	// accounting.
	unaccounted       time.Duration
	maxReserved       int64
	partial           map[string]time.Duration // job: longest time seen as a partial gang
	suspendedWithPods map[string]time.Duration
	ran               map[string]bool
	preemptions       int
	// inactiveAfter is, per preemption, the time from the job's suspension
	// to its status counting no active replica: what Kueue waits for
	// before it releases the job's quota to the preemptor.
	inactiveAfter []time.Duration
	done          chan struct{}

	mu            sync.Mutex
	lastGPUs      int
	preemptedSeen int
}

func (s *stormSampler) gpus() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastGPUs
}

func (s *stormSampler) preempted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.preemptedSeen
}

// grace is how long a job may look partial or keep pods while suspended:
// the time the controller and kwok need to create or delete a gang.
const grace = 15 * time.Second

func (s *stormSampler) run(ctx context.Context, l *load) {
	defer close(s.done)
	s.partial, s.suspendedWithPods, s.ran = map[string]time.Duration{}, map[string]time.Duration{}, map[string]bool{}
	partialSince, suspendedSince := map[string]time.Time{}, map[string]time.Time{}
	preemptedAt := map[string]time.Time{}
	var unaccountedSince time.Time
	for sleepCtx(ctx, 250*time.Millisecond) {
		jobs := &kubeflow.MPIJobList{}
		pods := &corev1.PodList{}
		if env.Client.List(ctx, jobs, client.InNamespace(s.ns)) != nil || env.Client.List(ctx, pods, client.InNamespace(s.ns)) != nil {
			continue
		}
		now := time.Now()
		live := map[string]int{}
		gpus := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			if p.Labels[kubeflow.JobRoleLabel] == kubeflow.RoleWorker {
				live[p.Labels[kubeflow.JobNameLabel]]++
			}
			for _, c := range p.Spec.Containers {
				if q, ok := c.Resources.Limits[cluster.GPUResource]; ok {
					gpus += int(q.Value())
				}
			}
		}
		s.maxGPUs = max(s.maxGPUs, gpus)
		if reserved, err := reservedGPUs(ctx, s.cq); err == nil {
			s.maxReserved = max(s.maxReserved, reserved)
			if int64(gpus) <= reserved {
				unaccountedSince = time.Time{}
			} else if unaccountedSince.IsZero() {
				unaccountedSince = now
			} else {
				s.unaccounted = max(s.unaccounted, now.Sub(unaccountedSince))
			}
		}
		s.mu.Lock()
		s.lastGPUs = gpus
		s.mu.Unlock()
		for _, j := range jobs.Items {
			n, want := live[j.Name], s.workers[j.Name]
			suspended := j.IsSuspended()
			track(partialSince, s.partial, j.Name, n > 0 && n < want && !finished(&j), now)
			track(suspendedSince, s.suspendedWithPods, j.Name, suspended && n > 0, now)
			if at, ok := preemptedAt[j.Name]; ok && activeReplicas(&j) == 0 {
				s.inactiveAfter = append(s.inactiveAfter, now.Sub(at))
				delete(preemptedAt, j.Name)
			}
			switch {
			case !suspended && n > 0:
				s.ran[j.Name] = true
			case suspended && s.ran[j.Name]:
				// Preempted after it ran: its workers may be created once
				// more when Kueue admits it again.
				s.ran[j.Name] = false
				s.preemptions++
				preemptedAt[j.Name] = now
				s.mu.Lock()
				s.preemptedSeen = s.preemptions
				s.mu.Unlock()
				l.mu.Lock()
				l.resumes[j.Name]++
				l.mu.Unlock()
			}
		}
	}
}

// reservedGPUs is what Kueue's accounting says the ClusterQueue's admitted
// workloads hold: its status' GPU reservation.
func reservedGPUs(ctx context.Context, cq string) (int64, error) {
	u := framework.KueueObject("ClusterQueue", "", cq, nil)
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
		return 0, err
	}
	flavors, _, _ := unstructured.NestedSlice(u.Object, "status", "flavorsReservation")
	var n int64
	for _, f := range flavors {
		resources, _, _ := unstructured.NestedSlice(f.(map[string]any), "resources")
		for _, r := range resources {
			r := r.(map[string]any)
			if r["name"] == string(cluster.GPUResource) {
				q, err := resource.ParseQuantity(fmt.Sprint(r["total"]))
				if err != nil {
					return 0, err
				}
				n += q.Value()
			}
		}
	}
	return n, nil
}

// durations is "p50 X, max Y" of ds.
func durations(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	sorted := slices.Sorted(slices.Values(ds))
	return fmt.Sprintf("p50 %s, max %s", sorted[len(sorted)/2].Round(100*time.Millisecond), sorted[len(sorted)-1].Round(100*time.Millisecond))
}

func activeReplicas(j *kubeflow.MPIJob) int32 {
	var n int32
	for _, rs := range j.Status.ReplicaStatuses {
		if rs != nil {
			n += rs.Active
		}
	}
	return n
}

// track records for how long cond has held for name without a break.
func track(since map[string]time.Time, longest map[string]time.Duration, name string, cond bool, now time.Time) {
	if !cond {
		delete(since, name)
		return
	}
	if _, ok := since[name]; !ok {
		since[name] = now
	}
	if d := now.Sub(since[name]); d > longest[name] {
		longest[name] = d
	}
}

// over lists the jobs whose longest stretch in m exceeds grace.
func over(m map[string]time.Duration) []string {
	var out []string
	for job, d := range m {
		if d > grace {
			out = append(out, fmt.Sprintf("%s (%s)", job, d.Round(100*time.Millisecond)))
		}
	}
	return out
}

// check waits for the sampler to stop, then fails t on any breach.
func (s *stormSampler) check(t *testing.T) {
	t.Helper()
	<-s.done
	if s.maxGPUs > s.quota {
		t.Errorf("live pods held %d GPUs at once, more than the ClusterQueue's quota of %d", s.maxGPUs, s.quota)
	}
	if s.maxReserved != int64(s.quota) {
		t.Errorf("Kueue reserved at most %d GPUs, want the whole quota (%d) while the low-priority jobs filled it: is the reservation read right?", s.maxReserved, s.quota)
	}
	if s.unaccounted > grace {
		t.Errorf("live pods held more GPUs than Kueue had reserved for %s", s.unaccounted.Round(100*time.Millisecond))
	}
	if p := over(s.partial); len(p) > 0 {
		t.Errorf("partial gangs for longer than %s: %v", grace, p)
	}
	if p := over(s.suspendedWithPods); len(p) > 0 {
		t.Errorf("suspended (preempted) jobs kept pods for longer than %s: %v", grace, p)
	}
}
