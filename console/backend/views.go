package backend

import (
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/printers"
)

// JobSummary is one row of a jobs list, for every training job kind.
type JobSummary struct {
	Type      string `json:"type"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Status is the job's phase, the same word the CLI, the SDK and the
	// mpijob_jobs metric use.
	Status mpijob.Phase `json:"status"`
	// Workers is the desired worker count; ActiveWorkers those pending or
	// running.
	Workers       int32  `json:"workers"`
	ActiveWorkers int32  `json:"activeWorkers"`
	GPUs          int64  `json:"gpus"`
	Queue         string `json:"queue,omitempty"`
	// QueuePosition is a queued job's place in its LocalQueue (1 is next),
	// from Kueue's visibility API; absent where that API does not answer.
	QueuePosition *int32 `json:"queuePosition,omitempty"`
	// Message is the newest true condition's message: for a failed job
	// the controller's diagnosis with its remediation.
	Message  string     `json:"message,omitempty"`
	Created  time.Time  `json:"created"`
	Started  *time.Time `json:"started,omitempty"`
	Finished *time.Time `json:"finished,omitempty"`
}

func timePtr(t *metav1.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	return ptr.To(t.Time)
}

// summarize is the list row of an MPIJob.
func summarize(job *kubeflow.MPIJob) JobSummary {
	s := JobSummary{
		Type:      kubeflow.SchemeGroupVersionKind.Kind,
		Namespace: job.Namespace,
		Name:      job.Name,
		Status:    mpijob.PhaseOf(job),
		Workers:   printers.Workers(job),
		GPUs:      printers.TotalGPUs(job),
		Queue:     mpijob.QueueOf(job),
		Created:   job.CreationTimestamp.Time,
		Started:   timePtr(job.Status.StartTime),
		Finished:  timePtr(job.Status.CompletionTime),
	}
	if rs := job.Status.ReplicaStatuses[kubeflow.MPIReplicaTypeWorker]; rs != nil {
		s.ActiveWorkers = rs.Active
	}
	if c := newestTrueCondition(job.Status.Conditions); c != nil {
		s.Message = c.Message
	}
	return s
}

func newestTrueCondition(conds []kubeflow.JobCondition) *kubeflow.JobCondition {
	var newest *kubeflow.JobCondition
	for i := range conds {
		c := &conds[i]
		if c.Status != corev1.ConditionTrue {
			continue
		}
		if newest == nil || !c.LastTransitionTime.Before(&newest.LastTransitionTime) {
			newest = c
		}
	}
	return newest
}

// PodView is one launcher or worker pod.
type PodView struct {
	Name  string `json:"name"`
	Role  string `json:"role"`
	Index *int   `json:"index,omitempty"`
	Phase string `json:"phase"`
	Ready bool   `json:"ready"`
	Node  string `json:"node,omitempty"`
	// Restarts sums the containers' restarts.
	Restarts int32 `json:"restarts"`
	// State is the first container's state: Waiting (reason),
	// Running, or Terminated (reason, exit code).
	State   string     `json:"state,omitempty"`
	Message string     `json:"message,omitempty"`
	Started *time.Time `json:"started,omitempty"`
}

func podView(p *corev1.Pod) PodView {
	v := PodView{
		Name:    p.Name,
		Role:    p.Labels[kubeflow.JobRoleLabel],
		Phase:   string(p.Status.Phase),
		Node:    p.Spec.NodeName,
		Started: timePtr(p.Status.StartTime),
	}
	if v.Phase == "" {
		v.Phase = string(corev1.PodPending)
	}
	if i, err := strconv.Atoi(p.Labels[kubeflow.ReplicaIndexLabel]); err == nil {
		v.Index = &i
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			v.Ready = c.Status == corev1.ConditionTrue
		}
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			v.Message = c.Message
		}
	}
	for i, cs := range p.Status.ContainerStatuses {
		v.Restarts += cs.RestartCount
		if i > 0 {
			continue
		}
		switch st := cs.State; {
		case st.Waiting != nil:
			v.State, v.Message = "Waiting: "+st.Waiting.Reason, st.Waiting.Message
		case st.Running != nil:
			v.State = "Running"
		case st.Terminated != nil:
			v.State = "Terminated: " + st.Terminated.Reason + " (exit code " + strconv.Itoa(int(st.Terminated.ExitCode)) + ")"
			v.Message = st.Terminated.Message
		}
	}
	return v
}

// sortPods orders the launcher first, then workers by index.
func sortPods(pods []PodView) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if a.Role != b.Role {
			return a.Role == kubeflow.RoleLauncher
		}
		return ptr.Deref(a.Index, -1) < ptr.Deref(b.Index, -1)
	})
}

// EventView is one event of the job or its children.
type EventView struct {
	Type    string    `json:"type"`
	Reason  string    `json:"reason"`
	Object  string    `json:"object"`
	Message string    `json:"message"`
	Count   int32     `json:"count"`
	Time    time.Time `json:"time"`
	Source  string    `json:"source,omitempty"`
}

func eventView(e *corev1.Event) EventView {
	t := e.LastTimestamp.Time
	switch {
	case !t.IsZero():
	case !e.EventTime.IsZero():
		t = e.EventTime.Time
	default:
		t = e.CreationTimestamp.Time
	}
	src := e.Source.Component
	if src == "" {
		src = e.ReportingController
	}
	return EventView{
		Type:    e.Type,
		Reason:  e.Reason,
		Object:  e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name,
		Message: strings.TrimSpace(e.Message),
		Count:   max(e.Count, 1),
		Time:    t,
		Source:  src,
	}
}

// belongsTo says whether an event is about the job or one of its
// children, which all carry the job's name as a prefix (pods, the
// launcher Job, Service, ConfigMap, Secret), or its Kueue Workload
// ("mpijob-<job>-<hash>").
func belongsTo(e *corev1.Event, job string) bool {
	n := e.InvolvedObject.Name
	if e.InvolvedObject.Kind == "Workload" {
		return strings.HasPrefix(n, "mpijob-"+job+"-")
	}
	return n == job || strings.HasPrefix(n, job+"-")
}

// queueLabel names a job's Kueue LocalQueue.
const queueLabel = mpijob.QueueLabel
