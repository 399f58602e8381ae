package mpijob

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// Upstream's condition reasons.
const (
	ReasonCreated   = "MPIJobCreated"
	ReasonRunning   = "MPIJobRunning"
	ReasonSucceeded = "MPIJobSucceeded"
	ReasonFailed    = "MPIJobFailed"
	ReasonSuspended = "MPIJobSuspended"
	ReasonResumed   = "MPIJobResumed"
)

// failBeforeStart ends a job that has no children and must get none: Failed
// with the reason and message, a Warning event saying the same, and a
// completion time.
func (r *Reconciler) failBeforeStart(s *state, reason, msg string) {
	if setCondition(&s.job.Status, kubeflow.JobFailed, corev1.ConditionTrue, reason, msg, s.now) {
		s.eventf(corev1.EventTypeWarning, reason, "%s", msg)
		r.markCompleted(s)
	}
}

func getCondition(st *kubeflow.JobStatus, t kubeflow.JobConditionType) *kubeflow.JobCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func isTrue(st *kubeflow.JobStatus, t kubeflow.JobConditionType) bool {
	c := getCondition(st, t)
	return c != nil && c.Status == corev1.ConditionTrue
}

// isFinished reports whether the job reached Succeeded or Failed.
func isFinished(st *kubeflow.JobStatus) bool {
	return isTrue(st, kubeflow.JobSucceeded) || isTrue(st, kubeflow.JobFailed)
}

// setCondition sets a condition and reports whether it changed. A changed
// condition moves to the end of the list (upstream's printer column shows
// the last one); timestamps move only when something changed, so repeated
// reconciles write nothing.
func setCondition(st *kubeflow.JobStatus, t kubeflow.JobConditionType, status corev1.ConditionStatus, reason, message string, now metav1.Time) bool {
	if c := getCondition(st, t); c != nil {
		if c.Status == status && c.Reason == reason && c.Message == message {
			return false
		}
		updated := *c
		if updated.Status != status {
			updated.LastTransitionTime = now
		}
		updated.Status, updated.Reason, updated.Message, updated.LastUpdateTime = status, reason, message, now
		removeCondition(st, t)
		st.Conditions = append(st.Conditions, updated)
	} else {
		st.Conditions = append(st.Conditions, kubeflow.JobCondition{
			Type: t, Status: status, Reason: reason, Message: message, LastUpdateTime: now, LastTransitionTime: now,
		})
	}
	// A finished job is no longer running, and whoever reads the history
	// must see that it ran: Running is recorded (False) even when the job
	// finished before it was seen running.
	if status == corev1.ConditionTrue && (t == kubeflow.JobSucceeded || t == kubeflow.JobFailed) {
		if r := getCondition(st, kubeflow.JobRunning); r == nil || r.Status != corev1.ConditionFalse || r.Reason != reason {
			setCondition(st, kubeflow.JobRunning, corev1.ConditionFalse, reason, message, now)
			// Keep the terminal condition last.
			c := *getCondition(st, t)
			removeCondition(st, t)
			st.Conditions = append(st.Conditions, c)
		}
	}
	return true
}

func removeCondition(st *kubeflow.JobStatus, t kubeflow.JobConditionType) {
	out := st.Conditions[:0]
	for _, c := range st.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	st.Conditions = out
}

// replicaStatuses counts pods by role the way upstream does: the launcher
// from its Job, workers from their pods.
func replicaStatuses(job *kubeflow.MPIJob, workers []corev1.Pod, launcherActive, launcherSucceeded, launcherFailed int32) map[kubeflow.MPIReplicaType]*kubeflow.ReplicaStatus {
	w := &kubeflow.ReplicaStatus{}
	for i := range workers {
		switch workers[i].Status.Phase {
		case corev1.PodRunning:
			w.Active++
		case corev1.PodSucceeded:
			w.Succeeded++
		case corev1.PodFailed:
			w.Failed++
		}
	}
	out := map[kubeflow.MPIReplicaType]*kubeflow.ReplicaStatus{
		kubeflow.MPIReplicaTypeLauncher: {Active: launcherActive, Succeeded: launcherSucceeded, Failed: launcherFailed},
	}
	if job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker] != nil {
		out[kubeflow.MPIReplicaTypeWorker] = w
	}
	for role, st := range out {
		lbl := roleLabels(job, roleLabel(role))
		st.LabelSelector = &metav1.LabelSelector{MatchLabels: lbl}
		st.Selector = fmt.Sprintf("%s=%s,%s=%s,%s=%s",
			kubeflow.JobNameLabel, job.Name, kubeflow.JobRoleLabel, roleLabel(role), kubeflow.OperatorNameLabel, kubeflow.OperatorName)
	}
	return out
}

func roleLabel(t kubeflow.MPIReplicaType) string {
	if t == kubeflow.MPIReplicaTypeLauncher {
		return kubeflow.RoleLauncher
	}
	return kubeflow.RoleWorker
}
