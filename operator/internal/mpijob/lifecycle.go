package mpijob

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
)

// updateStatus derives conditions and replica counts from what observe and
// the sync phases saw. It writes nothing; Reconcile does, once.
func (r *Reconciler) updateStatus(s *state) {
	job, st, now := s.job, &s.job.Status, s.now
	if getCondition(st, kubeflow.JobCreated) == nil {
		msg := fmt.Sprintf("MPIJob %s/%s is created.", job.Namespace, job.Name)
		// No event: the condition says it, and at scale the event is one
		// more write per job that nobody reads.
		setCondition(st, kubeflow.JobCreated, corev1.ConditionTrue, ReasonCreated, msg, now)
		s.afterWrite = append(s.afterWrite, func() { metricJobsCreated.WithLabelValues(job.Namespace).Inc() })
		r.observeStage(s, stageFirstReconcile)
	}

	var lActive, lSucceeded, lFailed int32
	for i := range s.lPods {
		if s.lPods[i].Status.Phase == corev1.PodRunning {
			lActive++
		}
	}
	if s.launcher != nil {
		metricJobInfo.WithLabelValues(s.launcher.Name, job.Namespace).Set(1)
		lFailed = s.launcher.Status.Failed
		if jobConditionTrue(s.launcher, batchv1.JobComplete) {
			lSucceeded = 1
		}
	}
	st.ReplicaStatuses = replicaStatuses(job, s.workers, lActive, lSucceeded, lFailed)

	if job.IsSuspended() {
		if !isTrue(st, kubeflow.JobSuspended) {
			setCondition(st, kubeflow.JobSuspended, corev1.ConditionTrue, ReasonSuspended, "MPIJob suspended", now)
			s.eventf(corev1.EventTypeNormal, ReasonSuspended, "MPIJob suspended: its pods are removed until it is resumed")
		}
		setCondition(st, kubeflow.JobRunning, corev1.ConditionFalse, ReasonSuspended, fmt.Sprintf("MPIJob %s/%s is suspended.", job.Namespace, job.Name), now)
		return
	}
	if isTrue(st, kubeflow.JobSuspended) {
		setCondition(st, kubeflow.JobSuspended, corev1.ConditionFalse, ReasonResumed, "MPIJob resumed", now)
		s.eventf(corev1.EventTypeNormal, ReasonResumed, "MPIJob resumed")
		// The deadline counts from the latest start, as upstream does.
		st.StartTime = &now
		r.expect.restarted(s.key)
	}

	r.reportRestarts(s)
	if d, failed := r.failure(s); failed {
		r.fail(s, d)
		return
	}
	if s.launcher != nil && jobConditionTrue(s.launcher, batchv1.JobComplete) {
		msg := fmt.Sprintf("MPIJob %s/%s successfully completed.", job.Namespace, job.Name)
		setCondition(st, kubeflow.JobSucceeded, corev1.ConditionTrue, ReasonSucceeded, msg, now)
		s.eventf(corev1.EventTypeNormal, ReasonSucceeded, "%s", msg)
		if st.CompletionTime == nil {
			st.CompletionTime = s.launcher.Status.CompletionTime
		}
		r.markCompleted(s)
		s.afterWrite = append(s.afterWrite, func() { metricJobsSuccessful.WithLabelValues(job.Namespace).Inc() })
		return
	}

	running, bound, live := 0, 0, 0
	for i := range s.workers {
		w := &s.workers[i]
		if w.DeletionTimestamp != nil {
			continue
		}
		live++
		if w.Spec.NodeName != "" {
			bound++
		}
		if w.Status.Phase == corev1.PodRunning {
			running++
		}
	}
	workers := int(job.Workers())
	for stage, reached := range map[string]bool{stageWorkersCreated: live >= workers, stageWorkersBound: bound >= workers, stageWorkersRunning: running >= workers} {
		if reached {
			r.observeStage(s, stage)
		}
	}
	if lActive >= 1 && running == workers {
		if !isTrue(st, kubeflow.JobRunning) {
			setCondition(st, kubeflow.JobRunning, corev1.ConditionTrue, ReasonRunning, fmt.Sprintf("MPIJob %s/%s is running.", job.Namespace, job.Name), now)
			s.eventf(corev1.EventTypeNormal, ReasonRunning, "MPIJob %s/%s is running", job.Namespace, job.Name)
			s.afterWrite = append(s.afterWrite, func() {
				observeTimeToRunning(job, now.Time)
				r.observeStage(s, stageRunningCondition)
			})
		}
		return
	}
	// Not running yet: say why when something blocks it.
	pending := s.pods()
	for i := range pending {
		if d, _, found := mpijob.DiagnoseImagePull(&pending[i], now.Time); found {
			if setCondition(st, kubeflow.JobRunning, corev1.ConditionFalse, d.Reason, d.Message, now) {
				s.eventf(corev1.EventTypeWarning, d.Reason, "%s", d.Message)
			}
			s.requeueAfter(mpijob.ImagePullFatalAfter)
			return
		}
	}
	if d, found := mpijob.DiagnoseUnschedulable(pending); found {
		if setCondition(st, kubeflow.JobRunning, corev1.ConditionFalse, d.Reason, d.Message, now) {
			s.eventf(corev1.EventTypeWarning, d.Reason, "%s", d.Message)
		}
		return
	}
	// Blocked no more: drop an earlier explanation.
	if c := getCondition(st, kubeflow.JobRunning); c != nil && c.Status == corev1.ConditionFalse && (c.Reason == mpijob.ReasonUnschedulable || c.Reason == mpijob.ReasonImagePullFailed) {
		removeCondition(st, kubeflow.JobRunning)
	}
}

// failure finds what dooms the job: a failed worker (workers do not
// restart in place under Never and ExitCode), an image that cannot be
// pulled, or a failed launcher Job.
func (r *Reconciler) failure(s *state) (mpijob.Diagnosis, bool) {
	for i := range s.workers {
		if s.workers[i].Status.Phase == corev1.PodFailed {
			return mpijob.DiagnosePodFailure(&s.workers[i]), true
		}
	}
	all := s.pods()
	for i := range all {
		if d, fatal, found := mpijob.DiagnoseImagePull(&all[i], s.now.Time); found && fatal {
			return d, true
		}
	}
	if s.launcher != nil && jobConditionTrue(s.launcher, batchv1.JobFailed) {
		return mpijob.DiagnoseLauncherJob(s.launcher, s.lPods, s.job.Spec.RunPolicy.ActiveDeadlineSeconds), true
	}
	return mpijob.Diagnosis{}, false
}

func (r *Reconciler) fail(s *state, d mpijob.Diagnosis) {
	if setCondition(&s.job.Status, kubeflow.JobFailed, corev1.ConditionTrue, d.Reason, d.Message, s.now) {
		s.eventf(corev1.EventTypeWarning, d.Reason, "%s", d.Message)
		ns := s.job.Namespace
		s.afterWrite = append(s.afterWrite, func() { metricJobsFailed.WithLabelValues(ns, d.Reason).Inc() })
	}
	r.markCompleted(s)
}

func (r *Reconciler) markCompleted(s *state) {
	if s.job.Status.CompletionTime == nil {
		s.job.Status.CompletionTime = &s.now
	}
}

// finish applies cleanPodPolicy and ttlSecondsAfterFinished to a finished
// job. The launcher is never forgotten (mpi-operator#644): a still-active
// launcher Job is suspended, which stops its pods, and with policy All its
// finished pods are deleted too.
func (r *Reconciler) finish(ctx context.Context, s *state) error {
	job := s.job
	policy := ptr.Deref(job.Spec.RunPolicy.CleanPodPolicy, kubeflow.CleanPodPolicyNone)
	if policy == kubeflow.CleanPodPolicyRunning || policy == kubeflow.CleanPodPolicyAll {
		match, selector := func(*corev1.Pod) bool { return true }, fields.Selector(nil)
		if policy == kubeflow.CleanPodPolicyRunning {
			match = func(p *corev1.Pod) bool {
				return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
			}
			selector = fields.AndSelectors(
				fields.OneTermNotEqualSelector("status.phase", string(corev1.PodSucceeded)),
				fields.OneTermNotEqualSelector("status.phase", string(corev1.PodFailed)))
		}
		if err := r.deleteWorkers(ctx, s, match, selector); err != nil {
			return err
		}
		if s.launcher != nil && !isJobFinished(s.launcher) && !ptr.Deref(s.launcher.Spec.Suspend, false) {
			s.launcher.Spec.Suspend = ptr.To(true)
			if err := r.Client.Update(ctx, s.launcher); err != nil {
				return err
			}
		}
		if policy == kubeflow.CleanPodPolicyAll {
			for i := range s.lPods {
				p := &s.lPods[i]
				if p.DeletionTimestamp == nil {
					if err := client.IgnoreNotFound(r.Client.Delete(ctx, p, client.PropagationPolicy("Background"))); err != nil {
						return err
					}
				}
			}
		}
	}
	if ttl := job.Spec.RunPolicy.TTLSecondsAfterFinished; ttl != nil && job.Status.CompletionTime != nil {
		expiry := job.Status.CompletionTime.Add(time.Duration(*ttl) * time.Second)
		if left := expiry.Sub(s.now.Time); left > 0 {
			s.requeueAfter(left)
			return nil
		}
		// Deleting the MPIJob removes everything it owns, launcher included
		// (mpi-operator#643).
		orig := &kubeflow.MPIJob{}
		orig.Namespace, orig.Name, orig.UID = job.Namespace, job.Name, job.UID
		return client.IgnoreNotFound(r.Client.Delete(ctx, orig, client.PropagationPolicy("Background"), client.Preconditions{UID: &orig.UID}))
	}
	return nil
}

// reportRestarts emits a warning event, with its diagnosis, for each worker
// container that restarted in place (restartPolicy OnFailure or Always):
// the job goes on, but a worker that keeps being OOMKilled should be seen.
func (r *Reconciler) reportRestarts(s *state) {
	for i := range s.workers {
		p := &s.workers[i]
		for _, cs := range p.Status.ContainerStatuses {
			t := cs.LastTerminationState.Terminated
			if t == nil || !r.expect.newRestarts(s.key, p.Name+"/"+cs.Name, cs.RestartCount) {
				continue
			}
			d := mpijob.DiagnoseTermination(mpijob.PodRole(p), mpijob.ContainerSpec(p, cs.Name), t)
			s.eventf(corev1.EventTypeWarning, "WorkerRestarted", "%s restarted (restart %d): %s", mpijob.PodRole(p), cs.RestartCount, d.Message)
		}
	}
}
