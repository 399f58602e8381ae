package faults_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

// The network between the controller and the API server goes bad in
// turns (latency, cut connections, 503s, 429s) while jobs run. The
// controller backs off instead of hammering the API server (its request
// rate under faults stays within a bound of its rate without them), and
// once the network heals every job finishes with the usual invariants.
func TestNetworkFaults(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(), 4))
	ns := env.CreateNamespace(t, "network")
	l := newLoad(ns, 40, 30*time.Second, rng)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	created := l.start(ctx)

	const window = 8 * time.Second
	rate := func(f framework.Fault) (float64, int64) {
		proxy.SetFault(f)
		r0, i0 := proxy.Requests(), proxy.Injected()
		time.Sleep(window)
		return float64(proxy.Requests()-r0) / window.Seconds(), proxy.Injected() - i0
	}
	time.Sleep(3 * time.Second)
	clean, _ := rate(framework.Fault{})
	phases := []struct {
		name  string
		fault framework.Fault
	}{
		{"300 ms latency", framework.Fault{Latency: 300 * time.Millisecond}},
		{"30% connections cut", framework.Fault{Reset: 0.3}},
		{"30% 503", framework.Fault{ServerError: 0.3}},
		{"30% 429", framework.Fault{TooMany: 0.3}},
		{"everything at once", framework.Fault{Latency: 100 * time.Millisecond, Reset: 0.15, ServerError: 0.15, TooMany: 0.15}},
	}
	// A hot loop retries as fast as the network answers: hundreds of
	// requests a second. Backoff keeps the rate near the clean one.
	bound := 3*clean + 20
	var worstRate float64
	var injected int64
	notes := fmt.Sprintf("requests/s clean %.1f", clean)
	for _, p := range phases {
		r, n := rate(p.fault)
		injected += n
		worstRate = max(worstRate, r)
		notes += fmt.Sprintf(", %s %.1f", p.name, r)
		t.Logf("%-22s %6.1f requests/s, %d failed on purpose", p.name, r, n)
		if r > bound {
			t.Errorf("%s: the controller made %.1f requests/s, above %.1f (3x its clean rate + 20): no backoff", p.name, r, bound)
		}
	}
	healed := time.Now()
	proxy.SetFault(framework.Fault{})
	d, ok := l.waitProgressAfter(healed, 2*time.Minute)
	if !ok {
		t.Fatal("no job made progress within 2 minutes after the network healed")
	}
	<-created
	out := l.verify(t, 3*time.Minute)
	addReport(report{
		Case: "network faults between controller and API server", Injected: fmt.Sprintf("%d requests failed, %s latency", injected, "300 ms"),
		Jobs: out.jobs, DuplicateCreates: out.duplicates, PodsLeft: out.podsLeft, Stuck: out.stuck,
		WorstRecovery: d.Round(100 * time.Millisecond).String(), Extra: notes,
	})
}
