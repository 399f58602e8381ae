package mpijob

// Coalescing of optional writes: count-only status updates and
// discover_hosts refreshes.

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// coalesceWindow is how long count-only status updates and discover_hosts
// refreshes wait for more changes, so that workers turning Running one by
// one cost one write, not one each. Conditions never wait, and carry the
// counts of their moment: a job whose gang starts within the window writes
// its counts with its Running condition, and nothing between. The kubelet
// itself takes up to a minute to refresh a mounted ConfigMap, so these
// seconds cost elastic launchers nothing.
const coalesceWindow = 15 * time.Second

// writeKind names a kind of optional write that is coalesced.
type writeKind int

const (
	statusWrite writeKind = iota
	configWrite
)

func (j *jobExpectations) pending(kind writeKind) *time.Time {
	if kind == configWrite {
		return &j.configPending
	}
	return &j.statusPending
}

// wait reports how long an optional write of kind should still wait: the
// first change not yet written opens a window of coalesceWindow, and what
// changes within it is written once, at its end, unless a write that may
// not wait (wrote) takes it along first. Zero means write now (and
// records it).
func (e *expectations) wait(job types.NamespacedName, kind writeKind, now time.Time) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	since := e.get(job).pending(kind)
	if since.IsZero() {
		*since = now
	}
	if d := coalesceWindow - now.Sub(*since); d > 0 {
		return d
	}
	*since = time.Time{}
	return 0
}

// wrote records a write of kind that did not wait: whatever was pending
// went with it.
func (e *expectations) wrote(job types.NamespacedName, kind writeKind) {
	e.mu.Lock()
	defer e.mu.Unlock()
	*e.get(job).pending(kind) = time.Time{}
}
