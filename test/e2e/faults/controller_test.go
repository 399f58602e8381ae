package faults_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

// The controller's leader is SIGKILLed again and again while jobs are
// created, run, suspended, resumed and finish. The standby takes over
// each time (after the lease runs out, since a killed leader cannot hand
// it over), the killed replica comes back as the kubelet would bring it
// back, and in the end every job ends as planned, nothing was created
// twice, nothing is left and nothing is stuck.
func TestControllerKilledUnderLoad(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(), 1))
	jobs, kills := envInt("FAULTS_JOBS", 100), envInt("FAULTS_KILLS", 10)
	ns := env.CreateNamespace(t, "kill")
	// Spread the creates over roughly the time the kills take: a lease
	// duration per kill.
	l := newLoad(ns, jobs, time.Duration(kills)*15*time.Second, rng)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	created := l.start(ctx)

	var worst time.Duration
	for i := range kills {
		leader := waitLeader(t)
		// Let the new leader work for a moment, a different one each time.
		time.Sleep(time.Duration(500+rng.IntN(3500)) * time.Millisecond)
		killedAt := time.Now()
		leader.Kill()
		// The kubelet restarts the container after a short back-off.
		time.Sleep(time.Second)
		if err := leader.Restart(); err != nil {
			t.Fatalf("kill %d: restarting %s: %v", i+1, leader.Name, err)
		}
		next, acquired := waitLeaderOtherThan(t, killedAt)
		// Progress the new leader made: status changes seen after it
		// took the Lease (earlier ones may be the old leader's last).
		d, ok := l.waitProgressAfter(acquired, 2*time.Minute)
		if !ok {
			t.Fatalf("kill %d: no job made progress within 2 minutes after %s took over from %s", i+1, next.Name, leader.Name)
		}
		recovery := acquired.Sub(killedAt) + d
		worst = max(worst, recovery)
		t.Logf("kill %d of %s: %s took over %s later, first job progress %s after that", i+1, leader.Name, next.Name,
			acquired.Sub(killedAt).Round(time.Millisecond), d.Round(time.Millisecond))
	}
	<-created
	out := l.verify(t, 3*time.Minute)
	addReport(report{
		Case: "controller leader SIGKILLed", Injected: fmt.Sprintf("%d kills", kills), Jobs: out.jobs,
		DuplicateCreates: out.duplicates, PodsLeft: out.podsLeft, Stuck: out.stuck,
		WorstRecovery: worst.Round(100 * time.Millisecond).String(),
		Extra:         "recovery: from the kill to the new leader's first job status change; a killed leader cannot hand its 15 s Lease over",
	})
}

// The leader's process is frozen (SIGSTOP) past its lease: the standby
// takes over and goes on with the jobs; the old leader, thawed, writes
// nothing more (its fence refuses every write once its renewal is older
// than the renew deadline) and exits, having lost the election.
func TestFrozenLeaderIsFenced(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(), 2))
	ns := env.CreateNamespace(t, "freeze")
	l := newLoad(ns, 30, 30*time.Second, rng)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	created := l.start(ctx)

	old := waitLeader(t)
	time.Sleep(5 * time.Second) // mid-load
	frozenAt := time.Now()
	if err := old.Freeze(); err != nil {
		t.Fatal(err)
	}
	next, acquired := waitLeaderOtherThan(t, frozenAt)
	// The new leader works while the old one sleeps.
	d, ok := l.waitProgressAfter(acquired, time.Minute)
	if !ok {
		t.Fatalf("no progress under the new leader %s", next.Name)
	}
	takeover := acquired.Sub(frozenAt) + d
	time.Sleep(3 * time.Second)
	thawedAt := time.Now()
	if err := old.Thaw(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-old.Exited():
	case <-time.After(time.Minute):
		t.Fatalf("%s, thawed after losing its lease, still runs a minute later", old.Name)
	}
	exitedAfter := time.Since(thawedAt)
	logData, err := os.ReadFile(old.Log)
	if err != nil {
		t.Fatal(err)
	}
	fenced := strings.Count(string(logData), "leader fence: refusing")
	// Back to two replicas, as the kubelet would restart it.
	if err := old.Restart(); err != nil {
		t.Fatal(err)
	}
	<-created
	out := l.verify(t, 3*time.Minute)

	events, err := framework.ReadAudit(env.AuditLog, controllerUser)
	if err != nil {
		t.Fatal(err)
	}
	stale := 0
	for _, ev := range events {
		if !strings.Contains(ev.UserAgent, " "+old.Name) || !ev.Received.After(thawedAt) || ev.Received.After(thawedAt.Add(exitedAfter)) {
			continue
		}
		switch ev.Verb {
		case "get", "list", "watch":
			continue
		}
		if ev.ObjectRef != nil && (ev.ObjectRef.APIGroup == "coordination.k8s.io" || strings.HasSuffix(ev.ObjectRef.APIGroup, "authorization.k8s.io")) {
			continue
		}
		stale++
		t.Errorf("the thawed former leader %s wrote after losing its lease: %s %s (%d)", old.Name, ev.Verb, ev.RequestURI, ev.ResponseStatus.Code)
	}
	addReport(report{
		Case: "leader frozen (SIGSTOP) past its lease", Injected: "1 freeze, thawed after takeover", Jobs: out.jobs,
		DuplicateCreates: out.duplicates, PodsLeft: out.podsLeft, Stuck: out.stuck,
		WorstRecovery: takeover.Round(100 * time.Millisecond).String(),
		Extra: fmt.Sprintf("recovery: from the freeze to the new leader's first job status change; writes by the thawed replica: %d (its fence refused %d); it exited %s after the thaw",
			stale, fenced, exitedAfter.Round(100*time.Millisecond)),
	})
}

// waitLeader waits until a replica holds the Lease and returns it.
func waitLeader(t *testing.T) *framework.Manager {
	t.Helper()
	var m *framework.Manager
	framework.Eventually(t, time.Minute, "a leader", func(ctx context.Context) (bool, string, error) {
		got, err := replicas.Leader(ctx, env)
		if err != nil {
			return false, err.Error(), nil
		}
		m = got
		return true, "", nil
	})
	return m
}

// waitLeaderOtherThan waits until the Lease was taken after since by a
// running replica (a new holder identity: a restarted replica has a new
// one too), and returns it and when it took the Lease.
func waitLeaderOtherThan(t *testing.T, since time.Time) (*framework.Manager, time.Time) {
	t.Helper()
	var m *framework.Manager
	var acquired time.Time
	framework.Eventually(t, time.Minute, "a new leader", func(ctx context.Context) (bool, string, error) {
		l, err := env.Clientset.CoordinationV1().Leases(framework.ProductNamespace).Get(ctx, framework.RoleController+".mpijob.io", metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		if l.Spec.AcquireTime == nil || !l.Spec.AcquireTime.After(since) {
			return false, fmt.Sprintf("held by %v since %v", deref(l.Spec.HolderIdentity), l.Spec.AcquireTime), nil
		}
		got, err := replicas.Leader(ctx, env)
		if err != nil {
			return false, err.Error(), nil
		}
		m, acquired = got, l.Spec.AcquireTime.Time
		return true, "", nil
	})
	return m, acquired
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
