package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	values := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	cases := map[string]struct {
		p    float64
		want float64
	}{
		"p50":  {50, 5},
		"p99":  {99, 10},
		"p100": {100, 10},
		"p1":   {1, 1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := percentile(append([]float64(nil), values...), tc.p); got != tc.want {
				t.Errorf("percentile(%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
	if got := percentile(nil, 50); got != -1 {
		t.Errorf("percentile of nothing = %v, want -1", got)
	}
}

// latencies.p takes a quantile (0.5, 0.99), percentile a percent.
func TestLatencyQuantiles(t *testing.T) {
	l := &latencies{}
	for i := 1; i <= 1000; i++ {
		l.values = append(l.values, float64(i))
	}
	if p50, p99 := l.p(0.5), l.p(0.99); p50 != 500 || p99 != 990 {
		t.Errorf("p50 %v, p99 %v; want 500 and 990", p50, p99)
	}
}

func TestCountWrites(t *testing.T) {
	log := `{"stage":"ResponseComplete","verb":"create","userAgent":"manager/v0.0.0","objectRef":{"resource":"pods","namespace":"bench","name":"a-worker-0"}}
{"stage":"ResponseComplete","verb":"delete","userAgent":"manager/v0.0.0","objectRef":{"resource":"pods","namespace":"bench","name":"a-worker-0"}}
{"stage":"ResponseComplete","verb":"delete","userAgent":"manager/v0.0.0","objectRef":{"resource":"pods","namespace":"bench","name":"a-worker-0"}}
{"stage":"ResponseComplete","verb":"update","userAgent":"manager/v0.0.0","objectRef":{"resource":"mpijobs","subresource":"status","namespace":"bench","name":"a"}}
{"stage":"ResponseComplete","verb":"create","userAgent":"kube-controller-manager/v1.37.2","objectRef":{"resource":"pods","namespace":"bench","name":"a-launcher-x"}}
{"stage":"ResponseComplete","verb":"create","userAgent":"manager/v0.0.0","objectRef":{"resource":"leases","namespace":"kube-system","name":"x"}}
not json
`
	path := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	writes, repeated, byKind, err := countWrites(path, "manager/")
	if err != nil {
		t.Fatal(err)
	}
	if writes != 4 || repeated != 1 || byKind["delete pods"] != 2 || byKind["update mpijobs/status"] != 1 {
		t.Errorf("writes=%d repeated=%d byKind=%v; want 4, 1, 2 pod deletes and 1 status update", writes, repeated, byKind)
	}
}

func TestPickScenarios(t *testing.T) {
	all, err := pickScenarios("all", nil)
	if err != nil || len(all) != len(scenarios) {
		t.Fatalf("all: %v, %v", all, err)
	}
	two, err := pickScenarios("quick, history", nil)
	if err != nil || len(two) != 2 || two[0].name != "quick" || two[1].history != 1000 {
		t.Errorf("a list: %+v, %v", two, err)
	}
	if _, err := pickScenarios("quick,huge", nil); err == nil || !strings.Contains(err.Error(), `unknown scenario "huge"`) {
		t.Errorf("an unknown name: %v", err)
	}
	custom := &scenario{name: "custom", jobs: 3}
	if got, err := pickScenarios("all", custom); err != nil || len(got) != 1 || got[0].jobs != 3 {
		t.Errorf("explicit sizes make one custom scenario: %+v, %v", got, err)
	}
}

// The CPU time of this very process is read from /proc and grows.
func TestCPUSeconds(t *testing.T) {
	before := cpuSeconds(os.Getpid())
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
	}
	if after := cpuSeconds(os.Getpid()); before < 0 || after < before {
		t.Errorf("cpu seconds %v then %v", before, after)
	}
	if got := cpuSeconds(-1); got != -1 {
		t.Errorf("a missing process: %v, want -1", got)
	}
}

// forEach calls every index once, on at most the workers asked for, and
// returns an error of one of the calls.
func TestForEach(t *testing.T) {
	var mu sync.Mutex
	seen := map[int]int{}
	running, most := 0, 0
	err := forEach(50, 4, func(i int) error {
		mu.Lock()
		seen[i]++
		running++
		most = max(most, running)
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		if i == 7 {
			return errors.New("seven")
		}
		return nil
	})
	if err == nil || err.Error() != "seven" {
		t.Errorf("err = %v, want seven", err)
	}
	if len(seen) != 50 || most > 4 {
		t.Errorf("%d indices called, %d at once; want 50, at most 4", len(seen), most)
	}
	for i, n := range seen {
		if n != 1 {
			t.Errorf("index %d called %d times", i, n)
		}
	}
	if err := forEach(0, 4, func(int) error { return errors.New("called") }); err != nil {
		t.Errorf("nothing to do: %v", err)
	}
}

func TestProcStatusMiB(t *testing.T) {
	if rss := currentRSSMiB(os.Getpid()); rss <= 0 {
		t.Errorf("this process's RSS: %v MiB", rss)
	}
	if peak := peakRSSMiB(os.Getpid()); peak < currentRSSMiB(os.Getpid())/2 {
		t.Errorf("peak RSS %v below the current", peak)
	}
	if got := procStatusMiB(os.Getpid(), "NoSuchField"); got != -1 {
		t.Errorf("a missing field: %v, want -1", got)
	}
}

func TestCallsPerRequest(t *testing.T) {
	before := map[string]float64{"admit kueue": 10, "validating ours": 0}
	after := map[string]float64{"admit kueue": 30, "validating ours": 10, "admit idle": 5}
	if got, want := callsPerRequest(before, after, 10), "admit idle 0.50, admit kueue 2.00, validating ours 1.00"; got != want {
		t.Errorf("callsPerRequest = %q, want %q", got, want)
	}
	if got := callsPerRequest(after, after, 10); got != "none" {
		t.Errorf("no calls: %q", got)
	}
}
