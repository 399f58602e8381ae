package faults_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// kube-apiserver and then etcd are killed and restarted in the middle of
// a load. The controller replicas ride it out without a restart of their
// own (an outage shorter than the renew deadline costs the leader
// nothing), and the same invariants hold as for a killed controller.
func TestAPIServerAndEtcdRestart(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(), 3))
	ns := env.CreateNamespace(t, "restart")
	l := newLoad(ns, 40, 40*time.Second, rng)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	created := l.start(ctx)
	before := waitLeader(t)

	var worst time.Duration
	var notes string
	for _, component := range []string{"apiserver", "etcd"} {
		time.Sleep(time.Duration(5000+rng.IntN(5000)) * time.Millisecond)
		killedAt := time.Now()
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute)
		err := env.RestartComponent(rctx, component, syscall.SIGKILL)
		rcancel()
		if err != nil {
			t.Fatalf("restarting %s: %v", component, err)
		}
		down := time.Since(killedAt)
		d, ok := l.waitProgressAfter(time.Now(), 2*time.Minute)
		if !ok {
			t.Fatalf("no job made progress within 2 minutes after %s came back", component)
		}
		recovery := down + d // from the kill to the first progress once it is back
		worst = max(worst, recovery)
		notes += fmt.Sprintf("%s back after %s; ", component, down.Round(100*time.Millisecond))
		t.Logf("%s killed and back after %s; first job progress %s later", component, down.Round(time.Millisecond), d.Round(time.Millisecond))
	}
	<-created
	out := l.verify(t, 3*time.Minute)
	for _, m := range replicas.Managers {
		select {
		case <-m.Exited():
			t.Errorf("controller replica %s exited during the control plane's restarts; see %s", m.Name, m.Log)
		default:
		}
	}
	if after := waitLeader(t); after != before {
		notes += fmt.Sprintf("leader moved from %s to %s; ", before.Name, after.Name)
	}
	addReport(report{
		Case: "kube-apiserver, then etcd SIGKILLed and restarted", Injected: "2 restarts", Jobs: out.jobs,
		DuplicateCreates: out.duplicates, PodsLeft: out.podsLeft, Stuck: out.stuck,
		WorstRecovery: worst.Round(100 * time.Millisecond).String(), Extra: notes + "no controller restart",
	})
}
