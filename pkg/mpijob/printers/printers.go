// Package printers renders MPIJobs as tables and describe text. Everything
// here is a pure function of its inputs (the time included) so that golden
// files can pin the output.
package printers

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/utils/ptr"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
)

// GPUResource is the GPU extended resource.
const GPUResource corev1.ResourceName = "nvidia.com/gpu"

const none = "<none>"

// JobView is a job with its pods (those labelled with its name).
type JobView struct {
	Job  *kubeflow.MPIJob
	Pods []corev1.Pod
	// QueuePosition is a queued job's place in its LocalQueue from Kueue's
	// visibility API (1 is admitted next); 0 when unknown.
	QueuePosition int32
}

// Workers is the desired worker count.
func Workers(job *kubeflow.MPIJob) int32 {
	if w := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker]; w != nil {
		return ptr.Deref(w.Replicas, 0)
	}
	return 0
}

func role(p *corev1.Pod) string { return p.Labels[kubeflow.JobRoleLabel] }

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ReadyWorkers counts the job's ready worker pods.
func ReadyWorkers(v JobView) int {
	n := 0
	for i := range v.Pods {
		if role(&v.Pods[i]) == kubeflow.RoleWorker && podReady(&v.Pods[i]) && v.Pods[i].DeletionTimestamp == nil {
			n++
		}
	}
	return n
}

// Launcher is the job's launcher pod (the newest one), or nil.
func Launcher(pods []corev1.Pod) *corev1.Pod {
	var l *corev1.Pod
	for i := range pods {
		p := &pods[i]
		if role(p) != kubeflow.RoleLauncher {
			continue
		}
		if l == nil || l.CreationTimestamp.Before(&p.CreationTimestamp) {
			l = p
		}
	}
	return l
}

func containerGPUs(spec *kubeflow.ReplicaSpec) int64 {
	if spec == nil {
		return 0
	}
	var n int64
	for _, c := range spec.Template.Spec.Containers {
		if q, ok := c.Resources.Limits[GPUResource]; ok {
			n += q.Value()
		} else if q, ok := c.Resources.Requests[GPUResource]; ok {
			n += q.Value()
		}
	}
	return n
}

// GPUsPerWorker is the GPUs one worker pod asks for.
func GPUsPerWorker(job *kubeflow.MPIJob) int64 {
	return containerGPUs(job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker])
}

// TotalGPUs is the GPUs of all the job's pods.
func TotalGPUs(job *kubeflow.MPIJob) int64 {
	return GPUsPerWorker(job)*int64(Workers(job)) + containerGPUs(job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher])
}

// Age renders the time since t like kubectl does.
func Age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return none
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// Header is the table header; wide adds LAUNCHER, GPUS and POSITION,
// allNamespaces prepends NAMESPACE.
func Header(wide, allNamespaces bool) []string {
	h := []string{"NAME", "STATUS", "WORKERS READY", "QUEUE", "AGE"}
	if wide {
		h = append(h, "LAUNCHER", "GPUS", "POSITION")
	}
	if allNamespaces {
		h = append([]string{"NAMESPACE"}, h...)
	}
	return h
}

// Row is one table row.
func Row(v JobView, wide, allNamespaces bool, now time.Time) []string {
	job := v.Job
	q := mpijob.QueueOf(job)
	if q == "" {
		q = none
	}
	r := []string{job.Name, string(mpijob.PhaseOf(job)), fmt.Sprintf("%d/%d", ReadyWorkers(v), Workers(job)), q, Age(job.CreationTimestamp, now)}
	if wide {
		phase := none
		if l := Launcher(v.Pods); l != nil {
			phase = string(l.Status.Phase)
		}
		position := none
		if v.QueuePosition > 0 {
			position = strconv.Itoa(int(v.QueuePosition))
		}
		r = append(r, phase, strconv.FormatInt(TotalGPUs(job), 10), position)
	}
	if allNamespaces {
		r = append([]string{job.Namespace}, r...)
	}
	return r
}

// NewTabWriter is the tab writer kubectl uses for tables.
func NewTabWriter(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
}

// Table aligns rows like kubectl's tab writer (3 spaces between columns)
// and remembers the column widths, so that rows printed later (get -w)
// line up with the ones printed before.
type Table struct {
	Widths []int
}

// Fit widens the columns for rows.
func (t *Table) Fit(rows ...[]string) {
	for _, r := range rows {
		for i, cell := range r {
			for len(t.Widths) <= i {
				t.Widths = append(t.Widths, 0)
			}
			if w := max(len(cell)+3, 6); w > t.Widths[i] {
				t.Widths[i] = w
			}
		}
	}
}

// Format renders one row (with its newline); the last cell is not padded.
func (t *Table) Format(row []string) string {
	var b strings.Builder
	for i, cell := range row {
		b.WriteString(cell)
		if i < len(row)-1 && i < len(t.Widths) {
			b.WriteString(strings.Repeat(" ", max(t.Widths[i]-len(cell), 1)))
		}
	}
	b.WriteString("\n")
	return b.String()
}

// PrintTable writes the header (unless noHeader) and one row per job; it
// returns the table so that later rows can be aligned with it.
func PrintTable(w io.Writer, views []JobView, wide, allNamespaces, noHeader bool, now time.Time) (*Table, error) {
	header := Header(wide, allNamespaces)
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		rows = append(rows, Row(v, wide, allNamespaces, now))
	}
	t := &Table{}
	t.Fit(header)
	t.Fit(rows...)
	var b strings.Builder
	if !noHeader {
		b.WriteString(t.Format(header))
	}
	for _, r := range rows {
		b.WriteString(t.Format(r))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return nil, fmt.Errorf("writing table: %w", err)
	}
	return t, nil
}

// SortViews orders jobs by namespace and name.
func SortViews(views []JobView) {
	sort.Slice(views, func(i, j int) bool {
		a, b := views[i].Job, views[j].Job
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
}
