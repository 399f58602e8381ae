package mpijob

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// expectationTTL bounds how long a write we made may stay unseen in the
// cache before we stop trusting it and act again.
const expectationTTL = 30 * time.Second

// expectations remembers, per job, the pods we created or deleted that the
// informer cache has not shown yet (this file), when we last wrote optional
// updates (coalesce.go), and what was already seen or reported of restarts,
// PodGroups and SSH Secrets (memory.go). Without it a reconcile that runs on a stale cache repeats
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
	restarts map[string]int32
	created  map[string]time.Time
	deleted  map[types.UID]time.Time
	// statusPending and configPending are when the oldest change not
	// yet written (count-only status, discover_hosts) was first seen.
	statusPending time.Time
	configPending time.Time
	// replacedVersion is the resourceVersion of the job that our last
	// status write replaced: while the cache still holds it, the cache has
	// not seen that write.
	replacedVersion string
	// stages are the stages of its start the job reached (metrics).
	stages map[string]bool
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
