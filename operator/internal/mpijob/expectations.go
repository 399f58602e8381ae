package mpijob

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// expectationTTL bounds how long a write we made may stay unseen in the
// cache before we stop trusting it and act again.
const expectationTTL = 30 * time.Second

// coalesceWindow is how long count-only status updates and discover_hosts
// refreshes wait for more changes, so that workers turning Running one by
// one cost one write, not one each. Conditions never wait. The kubelet
// itself takes up to a minute to refresh a mounted ConfigMap, so a few
// seconds here cost elastic launchers nothing.
const coalesceWindow = 5 * time.Second

// expectations remembers, per job, the pods we created or deleted that the
// informer cache has not shown yet, and when we last wrote optional
// updates. Without it a reconcile that runs on a stale cache repeats
// creates and deletes (upstream deleted each worker ~3 times under load).
type expectations struct {
	mu   sync.Mutex
	jobs map[types.NamespacedName]*jobExpectations
	// podGroupCRDMissing is when a PodGroup request last found its CRD
	// missing: for podGroupRecheck, new jobs take that answer instead of
	// asking (each miss costs the API server a discovery round).
	podGroupCRDMissing time.Time
}

type jobExpectations struct {
	// restarts is the last restart count reported per worker container
	// ("pod/container"), so each restart is reported once.
	restarts   map[string]int32
	created    map[string]time.Time
	deleted    map[types.UID]time.Time
	lastStatus time.Time
	lastConfig time.Time
	// podGroupSpec is the PodGroup spec last found live and current, at
	// podGroupChecked; it spares a live read of the PodGroup every pass.
	podGroupSpec    string
	podGroupChecked time.Time
	// gangUnavailable: the PodGroup CRD is missing, the job runs without
	// gang scheduling; gangReported: the warning about it was emitted.
	gangUnavailable, gangReported bool
	// sshSecretOf is the UID of the job whose SSH Secret is known to exist
	// (a job recreated under the same name needs its own).
	sshSecretOf types.UID
}

func newExpectations() *expectations {
	return &expectations{jobs: map[types.NamespacedName]*jobExpectations{}}
}

func (e *expectations) get(job types.NamespacedName) *jobExpectations {
	j := e.jobs[job]
	if j == nil {
		j = &jobExpectations{created: map[string]time.Time{}, deleted: map[types.UID]time.Time{}, restarts: map[string]int32{}}
		e.jobs[job] = j
	}
	return j
}

// forget drops everything about a job that no longer exists.
func (e *expectations) forget(job types.NamespacedName) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.jobs, job)
}

// observed reconciles expectations with what the cache shows: created pods
// that appeared and deleted pods that disappeared (or are terminating) are
// no longer pending.
func (e *expectations) observed(job types.NamespacedName, present map[string]types.UID, terminating map[types.UID]bool, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	j := e.get(job)
	for name, at := range j.created {
		if _, ok := present[name]; ok || now.Sub(at) > expectationTTL {
			delete(j.created, name)
		}
	}
	live := map[types.UID]bool{}
	for _, uid := range present {
		live[uid] = true
	}
	for uid, at := range j.deleted {
		if !live[uid] || terminating[uid] || now.Sub(at) > expectationTTL {
			delete(j.deleted, uid)
		}
	}
}

func (e *expectations) createPending(job types.NamespacedName, name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.get(job).created[name]
	return ok
}

func (e *expectations) expectCreate(job types.NamespacedName, name string, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(job).created[name] = now
}

func (e *expectations) deletePending(job types.NamespacedName, uid types.UID) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.get(job).deleted[uid]
	return ok
}

func (e *expectations) expectDelete(job types.NamespacedName, uid types.UID, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(job).deleted[uid] = now
}

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

// newRestarts reports whether a container restarted since we last looked,
// and records its count.
func (e *expectations) newRestarts(job types.NamespacedName, container string, count int32) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	j := e.get(job)
	prev, seen := j.restarts[container]
	j.restarts[container] = count
	return count > prev && (seen || count > 0)
}

// podGroupCurrent reports whether the job's PodGroup was found with spec
// less than podGroupRecheck ago.
func (e *expectations) podGroupCurrent(job types.NamespacedName, spec string, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	j := e.get(job)
	return j.podGroupSpec == spec && now.Sub(j.podGroupChecked) < podGroupRecheck
}

// podGroupSeen records that the job's PodGroup has spec now.
func (e *expectations) podGroupSeen(job types.NamespacedName, spec string, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	j := e.get(job)
	j.podGroupSpec, j.podGroupChecked = spec, now
}

// gangState reports whether the job runs without gang scheduling because
// the PodGroup CRD is missing, and whether that was reported.
func (e *expectations) gangState(job types.NamespacedName) (unavailable, reported bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	j := e.get(job)
	return j.gangUnavailable, j.gangReported
}

func (e *expectations) setGangUnavailable(job types.NamespacedName) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(job).gangUnavailable = true
}

// podGroupCRDFoundMissing records that the API server said now that the
// PodGroup CRD is missing.
func (e *expectations) podGroupCRDFoundMissing(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.podGroupCRDMissing = now
}

// podGroupCRDMissingRecently reports whether the PodGroup CRD was found
// missing less than podGroupRecheck ago.
func (e *expectations) podGroupCRDMissingRecently(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.podGroupCRDMissing.IsZero() && now.Sub(e.podGroupCRDMissing) < podGroupRecheck
}

func (e *expectations) setGangReported(job types.NamespacedName) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(job).gangReported = true
}

// secretKnown reports whether the SSH Secret of the job with uid is known
// to exist.
func (e *expectations) secretKnown(job types.NamespacedName, uid types.UID) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.get(job).sshSecretOf == uid
}

func (e *expectations) setSecretKnown(job types.NamespacedName, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(job).sshSecretOf = uid
}
