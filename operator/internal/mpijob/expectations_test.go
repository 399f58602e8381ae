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

func TestCoalescingWindow(t *testing.T) {
	e := newExpectations()
	job := types.NamespacedName{Namespace: "a", Name: "j"}
	t0 := time.Unix(1000, 0)
	if d := e.wait(job, statusWrite, t0); d != 0 {
		t.Fatalf("first optional write waits %v", d)
	}
	if d := e.wait(job, statusWrite, t0.Add(2*time.Second)); d != coalesceWindow-2*time.Second {
		t.Errorf("a write 2 s later waits %v, want %v", d, coalesceWindow-2*time.Second)
	}
	if d := e.wait(job, configWrite, t0.Add(2*time.Second)); d != 0 {
		t.Errorf("kinds share a window: config waits %v", d)
	}
	e.forget(job)
	if d := e.wait(job, statusWrite, t0.Add(2*time.Second)); d != 0 {
		t.Errorf("a forgotten job still waits %v", d)
	}
}
