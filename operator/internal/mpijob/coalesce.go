package mpijob

// Coalescing of optional writes: count-only status updates and
// discover_hosts refreshes.

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// coalesceWindow is how long count-only status updates and discover_hosts
// refreshes wait for more changes, so that workers turning Running one by
// one cost one write, not one each. Conditions never wait. The kubelet
// itself takes up to a minute to refresh a mounted ConfigMap, so a few
// seconds here cost elastic launchers nothing.
const coalesceWindow = 5 * time.Second

// writeKind names a kind of optional write that is coalesced.
type writeKind int

const (
	statusWrite writeKind = iota
	configWrite
)

func (j *jobExpectations) last(kind writeKind) *time.Time {
	if kind == configWrite {
		return &j.lastConfig
	}
	return &j.lastStatus
}

// wait reports how long an optional write of kind
// should wait so that writes of that kind are at least coalesceWindow
// apart; zero means write now (and records the write).
func (e *expectations) wait(job types.NamespacedName, kind writeKind, now time.Time) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	last := e.get(job).last(kind)
	if d := coalesceWindow - now.Sub(*last); d > 0 {
		return d
	}
	*last = now
	return 0
}

// wrote records a write of kind that was not optional.
func (e *expectations) wrote(job types.NamespacedName, kind writeKind, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	*e.get(job).last(kind) = now
}
