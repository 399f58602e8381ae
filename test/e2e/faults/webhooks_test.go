package faults_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

// The admission webhooks go away: first their processes are killed while
// the Service still lists them, then the Service has no endpoints. Nothing
// is admitted meanwhile, valid or not (failurePolicy Fail), the error
// names the platform's webhook and what to check, and a job admitted
// before keeps running and finishes once the controller is back.
func TestWebhooksDown(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "hooks")
	running := (&jobPlan{name: "admitted", workers: 2, finishAfter: 40 * time.Second}).object(ns)
	if err := env.Client.Create(ctx, running); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, time.Minute, "the admitted job Running", func(ctx context.Context) (bool, string, error) {
		j := &kubeflow.MPIJob{}
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "admitted"}, j); err != nil {
			return false, "", err
		}
		return hasCondition(j, kubeflow.JobRunning), describe(j), nil
	})
	podsBefore := livePods(ctx, ns, "admitted")

	invalid := (&jobPlan{name: "invalid", workers: 1, finishAfter: time.Second}).object(ns)
	invalid.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Replicas = ptrInt32(-3)
	valid := (&jobPlan{name: "valid", workers: 1, finishAfter: time.Second}).object(ns)

	for _, m := range replicas.Managers {
		m.Kill()
	}
	var messages []string
	for _, phase := range []string{"processes killed, endpoints kept", "Service without endpoints"} {
		if phase == "Service without endpoints" {
			replicas.Serve()
		}
		for _, j := range []*kubeflow.MPIJob{invalid.DeepCopy(), valid.DeepCopy()} {
			err := env.Client.Create(ctx, j)
			if err == nil {
				t.Fatalf("%s: %s was admitted without the webhooks", phase, j.Name)
			}
			msg := err.Error()
			if !strings.Contains(msg, "mpijob.io") {
				t.Errorf("%s: the error does not name the platform's webhook: %s", phase, msg)
			}
			hint := mpijob.ExplainAdmissionError(err)
			if hint == nil || !strings.Contains(hint.Error(), "mpijob-controller") {
				t.Errorf("%s: no hint of what to check for %q: %v", phase, msg, hint)
			}
			messages = append(messages, hint.Error())
		}
	}
	t.Logf("what a user sees:\n%s", strings.Join(messages, "\n"))
	// The admitted job's pods were never touched.
	if after := livePods(ctx, ns, "admitted"); strings.Join(after, ",") != strings.Join(podsBefore, ",") {
		t.Errorf("the admitted job's pods changed while the webhooks were down: %v -> %v", podsBefore, after)
	}
	for _, m := range replicas.Managers {
		if err := m.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	replicas.ServeAll()
	if err := env.Client.Create(ctx, valid.DeepCopy()); err != nil {
		t.Fatalf("a valid job is refused with the webhooks back: %v", err)
	}
	if err := env.Client.Create(ctx, invalid.DeepCopy()); err == nil {
		t.Fatal("an invalid job was admitted with the webhooks back")
	}
	l := &load{ns: ns, resumes: map[string]int{}, jobs: []*jobPlan{{name: "admitted"}, {name: "valid"}}}
	out := l.verify(t, 2*time.Minute)
	addReport(report{
		Case: "webhook processes killed, then no endpoints", Injected: "2 kills, endpoints removed", Jobs: out.jobs,
		DuplicateCreates: out.duplicates, PodsLeft: out.podsLeft, Stuck: out.stuck, WorstRecovery: "-",
		Extra: "nothing admitted while down (4 of 4 creates refused); the admitted job kept its pods",
	})
}

// A node is drained: the replica on it leaves the Service's endpoints and
// gets SIGTERM, then comes back; then the same for the other replica
// (the PodDisruptionBudget lets one go at a time). Jobs are created all
// the while and not one create fails.
func TestDrainNeverFailsAdmission(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := env.CreateNamespace(t, "drain")
	var created, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				j := (&jobPlan{name: fmt.Sprintf("d%d-%03d", w, i), workers: 1, finishAfter: time.Second}).object(ns)
				if err := env.Client.Create(ctx, j); err != nil {
					if ctx.Err() != nil {
						return
					}
					failed.Add(1)
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
				} else {
					created.Add(1)
				}
				time.Sleep(150 * time.Millisecond)
			}
		}()
	}
	for _, drained := range replicas.Managers {
		time.Sleep(2 * time.Second)
		var others []*framework.Manager
		for _, m := range replicas.Managers {
			if m != drained {
				others = append(others, m)
			}
		}
		// Eviction: the pod is removed from the endpoints, then stopped
		// gracefully; admission requests in flight finish.
		replicas.Serve(others...)
		drained.Stop()
		time.Sleep(3 * time.Second)
		if err := drained.Restart(); err != nil {
			t.Fatal(err)
		}
		replicas.ServeAll()
	}
	time.Sleep(2 * time.Second)
	cancel()
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d creates failed during the drains: %s", n, n+created.Load(), strings.Join(failures[:min(len(failures), 5)], "; "))
	}
	addReport(report{
		Case: "each replica drained in turn (endpoint removed, SIGTERM)", Injected: "2 drains", Jobs: int(created.Load()),
		WorstRecovery: "-", Extra: fmt.Sprintf("creates failed: %d of %d", failed.Load(), failed.Load()+created.Load()),
	})
}

func ptrInt32(v int32) *int32 { return &v }
