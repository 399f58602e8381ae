package mpijob

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// Phase is a one-word summary of where a job stands.
type Phase string

// The phases, in the order they win when several hold: a job that
// succeeded stays Succeeded whatever else its conditions say.
const (
	PhaseSucceeded Phase = "Succeeded"
	PhaseFailed    Phase = "Failed"
	// PhaseQueued is a suspended job with a Kueue queue: Kueue resumes
	// it when it is admitted.
	PhaseQueued    Phase = "Queued"
	PhaseSuspended Phase = "Suspended"
	// PhaseRestarting: the launcher or workers are being recreated.
	PhaseRestarting Phase = "Restarting"
	PhaseRunning    Phase = "Running"
	PhaseCreated    Phase = "Created"
	// PhasePending: no condition yet (the controller has not seen it).
	PhasePending Phase = "Pending"
)

// Phases is every phase, in precedence order.
var Phases = []Phase{PhaseSucceeded, PhaseFailed, PhaseQueued, PhaseSuspended, PhaseRestarting, PhaseRunning, PhaseCreated, PhasePending}

// Finished says whether a job in this phase has ended.
func (p Phase) Finished() bool { return p == PhaseSucceeded || p == PhaseFailed }

// Signals are the facts a phase is decided from. They are the same for an
// MPIJob and for the other training jobs the console lists (whose
// "Complete" counts as Succeeded), which is why they are not read from one
// type.
type Signals struct {
	// Conditions are the types of the job's true conditions.
	Conditions map[string]bool
	// Suspended: spec.runPolicy.suspend (or the kind's equivalent).
	Suspended bool
	// Queued: the job names a Kueue LocalQueue.
	Queued bool
}

// PhaseFrom decides the phase from the signals.
func PhaseFrom(s Signals) Phase {
	c := s.Conditions
	switch {
	case c[string(kubeflow.JobSucceeded)] || c["Complete"]:
		return PhaseSucceeded
	case c[string(kubeflow.JobFailed)]:
		return PhaseFailed
	case s.Suspended || c[string(kubeflow.JobSuspended)]:
		if s.Queued {
			return PhaseQueued
		}
		return PhaseSuspended
	case c[string(kubeflow.JobRestarting)]:
		return PhaseRestarting
	case c[string(kubeflow.JobRunning)]:
		return PhaseRunning
	case c[string(kubeflow.JobCreated)]:
		return PhaseCreated
	}
	return PhasePending
}

// PhaseOf is the phase of an MPIJob.
func PhaseOf(job *kubeflow.MPIJob) Phase {
	s := Signals{
		Conditions: map[string]bool{},
		Suspended:  ptr.Deref(job.Spec.RunPolicy.Suspend, false),
		Queued:     QueueOf(job) != "",
	}
	for _, c := range job.Status.Conditions {
		if c.Status == corev1.ConditionTrue {
			s.Conditions[string(c.Type)] = true
		}
	}
	return PhaseFrom(s)
}

// QueueLabel is the Kueue label naming the LocalQueue of a job.
const QueueLabel = "kueue.x-k8s.io/queue-name"

// QueueOf is the job's Kueue LocalQueue, or "".
func QueueOf(job *kubeflow.MPIJob) string {
	if q := job.Labels[QueueLabel]; q != "" {
		return q
	}
	if sp := job.Spec.RunPolicy.SchedulingPolicy; sp != nil {
		return sp.Queue
	}
	return ""
}

// TrueCondition is the job's condition of that type when it is true, or
// nil.
func TrueCondition(job *kubeflow.MPIJob, t kubeflow.JobConditionType) *kubeflow.JobCondition {
	for i := range job.Status.Conditions {
		c := &job.Status.Conditions[i]
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}
