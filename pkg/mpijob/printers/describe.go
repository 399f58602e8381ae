package printers

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
)

// DescribeInput is everything `mpijob describe` shows.
type DescribeInput struct {
	Job  *kubeflow.MPIJob
	Pods []corev1.Pod
	// Workload is the Kueue Workload owned by the job, if any.
	Workload *kueue.Workload
	// Events of the job and its pods.
	Events []corev1.Event
	Now    time.Time
}

type section struct {
	b strings.Builder
}

func (s *section) line(indent int, format string, a ...any) {
	s.b.WriteString(strings.Repeat("  ", indent))
	fmt.Fprintf(&s.b, format, a...)
	s.b.WriteString("\n")
}

func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

func firstContainer(spec *kubeflow.ReplicaSpec) *corev1.Container {
	if spec == nil || len(spec.Template.Spec.Containers) == 0 {
		return nil
	}
	return &spec.Template.Spec.Containers[0]
}

// Describe renders the job for humans.
func Describe(in DescribeInput) string {
	job := in.Job
	s := &section{}
	s.line(0, "Name:         %s", job.Name)
	s.line(0, "Namespace:    %s", job.Namespace)
	s.line(0, "Status:       %s", string(mpijob.PhaseOf(job)))
	s.line(0, "Age:          %s", Age(job.CreationTimestamp, in.Now))

	launcher := firstContainer(job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher])
	worker := firstContainer(job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker])
	image := ""
	if worker != nil {
		image = worker.Image
	} else if launcher != nil {
		image = launcher.Image
	}
	impl := string(job.Spec.MPIImplementation)
	if impl == "" {
		impl = string(kubeflow.MPIImplementationOpenMPI)
	}
	s.line(0, "Spec:")
	s.line(1, "Image:              %s", orNone(image))
	if launcher != nil && len(launcher.Command) > 0 {
		s.line(1, "Launcher Command:   %s", strings.Join(append(append([]string(nil), launcher.Command...), launcher.Args...), " "))
	}
	s.line(1, "Workers:            %d", Workers(job))
	s.line(1, "Slots Per Worker:   %d", ptr.Deref(job.Spec.SlotsPerWorker, 1))
	s.line(1, "GPUs Per Worker:    %d", GPUsPerWorker(job))
	s.line(1, "GPUs Total:         %d", TotalGPUs(job))
	if worker != nil {
		if q, ok := worker.Resources.Limits[corev1.ResourceCPU]; ok {
			s.line(1, "CPU Per Worker:     %s", q.String())
		}
		if q, ok := worker.Resources.Limits[corev1.ResourceMemory]; ok {
			s.line(1, "Memory Per Worker:  %s", q.String())
		}
	}
	s.line(1, "Queue:              %s", orNone(mpijob.QueueOf(job)))
	s.line(1, "MPI Implementation: %s", impl)
	s.line(1, "Suspend:            %t", ptr.Deref(job.Spec.RunPolicy.Suspend, false))

	s.line(0, "Conditions:")
	if len(job.Status.Conditions) == 0 {
		s.line(1, none)
	} else {
		tw := NewTabWriter(&s.b)
		fmt.Fprintln(tw, "  TYPE\tSTATUS\tREASON\tAGE\tMESSAGE")
		for _, c := range job.Status.Conditions {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, orNone(c.Reason), Age(c.LastTransitionTime, in.Now), orNone(c.Message))
		}
		_ = tw.Flush()
	}
	if c := mpijob.TrueCondition(job, kubeflow.JobFailed); c != nil && c.Message != "" {
		s.line(0, "Failure:      %s", c.Message)
	}

	s.line(0, "Launcher:")
	if l := Launcher(in.Pods); l != nil {
		describePods(s, []corev1.Pod{*l})
	} else {
		s.line(1, none)
	}
	s.line(0, "Workers:")
	var workers []corev1.Pod
	for _, p := range in.Pods {
		if role(&p) == kubeflow.RoleWorker {
			workers = append(workers, p)
		}
	}
	sort.Slice(workers, func(i, j int) bool { return podIndex(&workers[i]) < podIndex(&workers[j]) })
	if len(workers) == 0 {
		s.line(1, none)
	} else {
		describePods(s, workers)
	}

	s.line(0, "Kueue Workload:")
	if w := in.Workload; w == nil {
		s.line(1, none)
	} else {
		describeWorkload(s, w)
	}

	s.line(0, "Events:")
	if len(in.Events) == 0 {
		s.line(1, none)
	} else {
		evs := append([]corev1.Event(nil), in.Events...)
		sort.SliceStable(evs, func(i, j int) bool { return eventTime(&evs[i]).Before(eventTime(&evs[j])) })
		tw := NewTabWriter(&s.b)
		fmt.Fprintln(tw, "  TYPE\tREASON\tAGE\tFROM\tOBJECT\tMESSAGE")
		for _, e := range evs {
			from := e.Source.Component
			if from == "" {
				from = e.ReportingController
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", e.Type, e.Reason, Age(metav1.NewTime(eventTime(&e)), in.Now), orNone(from),
				strings.ToLower(e.InvolvedObject.Kind)+"/"+e.InvolvedObject.Name, strings.TrimSpace(e.Message))
		}
		_ = tw.Flush()
	}
	return s.b.String()
}

func podIndex(p *corev1.Pod) int {
	i, err := strconv.Atoi(p.Labels[kubeflow.ReplicaIndexLabel])
	if err != nil {
		return 1 << 30
	}
	return i
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func describePods(s *section, pods []corev1.Pod) {
	tw := NewTabWriter(&s.b)
	fmt.Fprintln(tw, "  POD\tPHASE\tREADY\tNODE\tRESTARTS\tLAST TERMINATION")
	for _, p := range pods {
		var restarts int32
		last := ""
		for _, cs := range p.Status.ContainerStatuses {
			restarts += cs.RestartCount
			if t := cs.LastTerminationState.Terminated; t != nil {
				last = fmt.Sprintf("%s (exit code %d)", orNone(t.Reason), t.ExitCode)
			}
			if t := cs.State.Terminated; t != nil && last == "" {
				last = fmt.Sprintf("%s (exit code %d)", orNone(t.Reason), t.ExitCode)
			}
		}
		phase := string(p.Status.Phase)
		if phase == "" {
			phase = "Pending"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%t\t%s\t%d\t%s\n", p.Name, phase, podReady(&p), orNone(p.Spec.NodeName), restarts, orNone(last))
	}
	_ = tw.Flush()
}

func describeWorkload(s *section, w *kueue.Workload) {
	s.line(1, "Name:           %s", w.Name)
	s.line(1, "Local Queue:    %s", orNone(string(w.Spec.QueueName)))
	admitted := meta(w.Status.Conditions, kueue.WorkloadAdmitted)
	s.line(1, "Admitted:       %t", admitted != nil && admitted.Status == metav1.ConditionTrue)
	if w.Status.Admission != nil {
		s.line(1, "Cluster Queue:  %s", w.Status.Admission.ClusterQueue)
	}
	if admitted == nil || admitted.Status != metav1.ConditionTrue {
		if c := meta(w.Status.Conditions, kueue.WorkloadQuotaReserved); c != nil && c.Status != metav1.ConditionTrue {
			s.line(1, "Pending Reason: %s: %s", c.Reason, c.Message)
		} else if admitted != nil {
			s.line(1, "Pending Reason: %s: %s", admitted.Reason, admitted.Message)
		}
	}
	if c := meta(w.Status.Conditions, kueue.WorkloadFinished); c != nil && c.Status == metav1.ConditionTrue {
		s.line(1, "Finished:       %s: %s", c.Reason, c.Message)
	}
}

func meta(conds []metav1.Condition, t string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}
