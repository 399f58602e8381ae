package mpijob

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

func TestNewRestartsReportsEachRestartOnce(t *testing.T) {
	e := newExpectations()
	job := types.NamespacedName{Namespace: "a", Name: "j"}
	steps := []struct {
		count int32
		want  bool
	}{{0, false}, {1, true}, {1, false}, {3, true}, {3, false}}
	for i, s := range steps {
		if got := e.newRestarts(job, "j-worker-0/main", s.count); got != s.want {
			t.Errorf("step %d (count %d): reported %v, want %v", i, s.count, got, s.want)
		}
	}
}

// The first change not yet written opens the window; what comes within
// it is written at its end, or with a write that did not wait.
func TestCoalescingWindow(t *testing.T) {
	e := newExpectations()
	job := types.NamespacedName{Namespace: "a", Name: "j"}
	t0 := time.Unix(1000, 0)
	if d := e.wait(job, statusWrite, t0); d != coalesceWindow {
		t.Fatalf("a first change waits %v, want the window", d)
	}
	if d := e.wait(job, statusWrite, t0.Add(2*time.Second)); d != coalesceWindow-2*time.Second {
		t.Errorf("a change 2 s later waits %v, want %v", d, coalesceWindow-2*time.Second)
	}
	if d := e.wait(job, configWrite, t0.Add(2*time.Second)); d != coalesceWindow {
		t.Errorf("kinds share a window: config waits %v", d)
	}
	if d := e.wait(job, statusWrite, t0.Add(coalesceWindow)); d != 0 {
		t.Errorf("at the window's end the write still waits %v", d)
	}
	if d := e.wait(job, statusWrite, t0.Add(coalesceWindow+time.Second)); d != coalesceWindow {
		t.Errorf("the next change waits %v, want a new window", d)
	}
	e.wrote(job, statusWrite)
	if d := e.wait(job, statusWrite, t0.Add(coalesceWindow+3*time.Second)); d != coalesceWindow {
		t.Errorf("after a write that did not wait, a change waits %v, want a full window", d)
	}
	e.forget(job)
	if d := e.wait(job, configWrite, t0.Add(2*time.Second)); d != coalesceWindow {
		t.Errorf("a forgotten job's config waits %v, want a fresh window", d)
	}
}

// A cached job that our last status write replaced is stale; once the
// cache moves on (or for another job), it is not.
func TestStaleJob(t *testing.T) {
	e := newExpectations()
	job := types.NamespacedName{Namespace: "ns", Name: "pi"}
	if e.staleJob(job, "10") {
		t.Error("a job never written is stale")
	}
	e.statusWritten(job, "10")
	if !e.staleJob(job, "10") {
		t.Error("the version our write replaced is not stale")
	}
	if e.staleJob(job, "11") || e.staleJob(types.NamespacedName{Namespace: "ns", Name: "other"}, "10") {
		t.Error("a newer version, or another job, is stale")
	}
}
