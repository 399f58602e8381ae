package mpijob

// What the controller already saw or reported per job, so that each
// restart, PodGroup check and SSH Secret costs one look.

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
)

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

// statusWritten records that a status write replaced the job at
// resourceVersion from.
func (e *expectations) statusWritten(job types.NamespacedName, from string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(job).replacedVersion = from
}

// staleJob says whether the cached job at resourceVersion rv is the one
// our last status write replaced: a pass over it would redo that write and
// meet a conflict.
func (e *expectations) staleJob(job types.NamespacedName, rv string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	j, ok := e.jobs[job]
	return ok && j.replacedVersion != "" && j.replacedVersion == rv
}

// firstStage says whether the job's start reaches stage for the first time
// (since it was created or last resumed), and records it.
func (e *expectations) firstStage(job types.NamespacedName, stage string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	j := e.get(job)
	if j.stages == nil {
		j.stages = map[string]bool{}
	}
	if j.stages[stage] {
		return false
	}
	j.stages[stage] = true
	return true
}

// restarted forgets the stages the job's start reached: it starts again
// (resumed).
func (e *expectations) restarted(job types.NamespacedName) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(job).stages = nil
}
