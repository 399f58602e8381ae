package backend

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"
	"sigs.k8s.io/yaml"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/printers"
)

// JobList is a page of jobs.
type JobList struct {
	Items []JobSummary `json:"items"`
	// Continue fetches the next page (the Kubernetes continue token).
	Continue string `json:"continue,omitempty"`
}

// listOptions reads ?limit= and ?continue= and the namespace of the path
// ("" for all namespaces).
func listOptions(r *http.Request) ([]client.ListOption, error) {
	var opts []client.ListOption
	if ns := r.PathValue("namespace"); ns != "" {
		opts = append(opts, client.InNamespace(ns))
	} else if ns := r.URL.Query().Get("namespace"); ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil || n < 0 {
			return nil, errors.New("limit must be a non-negative integer, not " + strconv.Quote(l))
		}
		opts = append(opts, client.Limit(n))
	}
	if c := r.URL.Query().Get("continue"); c != "" {
		opts = append(opts, client.Continue(c))
	}
	return opts, nil
}

func (s *Server) listMPIJobs(w http.ResponseWriter, r *http.Request, c *Clients) {
	opts, err := listOptions(r)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	list := &kubeflow.MPIJobList{}
	if err := c.Client.List(r.Context(), list, opts...); err != nil {
		writeError(w, err, warnings(c))
		return
	}
	out := JobList{Items: make([]JobSummary, 0, len(list.Items)), Continue: list.Continue}
	for i := range list.Items {
		out.Items = append(out.Items, summarize(&list.Items[i]))
	}
	sortSummaries(out.Items)
	addQueuePositions(r.Context(), c, out.Items)
	writeJSON(w, http.StatusOK, out)
}

// sortSummaries puts the newest first, then by namespace and name: the
// unified list's default order.
func sortSummaries(items []JobSummary) {
	slices.SortFunc(items, func(a, b JobSummary) int { return newestFirst.compare(&a, &b) })
}

// JobDetails is everything the details page shows but logs and events.
type JobDetails struct {
	Summary   JobSummary        `json:"summary"`
	Diagnosis *mpijob.Diagnosis `json:"diagnosis,omitempty"`
	MPIJob    *kubeflow.MPIJob  `json:"mpijob"`
	// YAML is the job as stored, without managedFields.
	YAML     string        `json:"yaml"`
	Pods     []PodView     `json:"pods"`
	Workload *WorkloadView `json:"workload,omitempty"`
	// Describe is `kubectl odh mpijob describe` for the same job.
	Describe string `json:"describe"`
}

// WorkloadView is the job's Kueue Workload.
type WorkloadView struct {
	Name         string `json:"name"`
	Queue        string `json:"queue"`
	ClusterQueue string `json:"clusterQueue,omitempty"`
	Admitted     bool   `json:"admitted"`
	Message      string `json:"message,omitempty"`
}

func (s *Server) getJob(ctx context.Context, r *http.Request, c *Clients) (*kubeflow.MPIJob, error) {
	job := &kubeflow.MPIJob{}
	err := c.Client.Get(ctx, types.NamespacedName{Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}, job)
	return job, err
}

// jobPods lists the pods labelled with the job's name.
func jobPods(ctx context.Context, c *Clients, ns, name string) ([]corev1.Pod, error) {
	pods := &corev1.PodList{}
	if err := c.Client.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{kubeflow.JobNameLabel: name}); err != nil {
		return nil, err
	}
	return pods.Items, nil
}

// jobWorkload finds the Kueue Workload owned by the job; nil without Kueue
// or without a Workload, and an error only when reading it failed for
// another reason than those.
func jobWorkload(ctx context.Context, c *Clients, job *kubeflow.MPIJob) (*kueue.Workload, error) {
	list := &kueue.WorkloadList{}
	err := c.Client.List(ctx, list, client.InNamespace(job.Namespace))
	if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for i := range list.Items {
		for _, ref := range list.Items[i].OwnerReferences {
			if ref.UID == job.UID {
				return &list.Items[i], nil
			}
		}
	}
	return nil, nil
}

func workloadView(wl *kueue.Workload) *WorkloadView {
	v := &WorkloadView{Name: wl.Name, Queue: string(wl.Spec.QueueName), Admitted: mpijob.WorkloadAdmitted(wl)}
	if wl.Status.Admission != nil {
		v.ClusterQueue = string(wl.Status.Admission.ClusterQueue)
	}
	if !v.Admitted {
		if c := meta.FindStatusCondition(wl.Status.Conditions, kueue.WorkloadQuotaReserved); c != nil {
			v.Message = c.Message
		}
	}
	return v
}

func (s *Server) getMPIJob(w http.ResponseWriter, r *http.Request, c *Clients) {
	ctx := r.Context()
	job, err := s.getJob(ctx, r, c)
	if err != nil {
		writeError(w, err, warnings(c))
		return
	}
	pods, err := jobPods(ctx, c, job.Namespace, job.Name)
	if err != nil {
		writeError(w, err, warnings(c))
		return
	}
	// The Workload and events add to the page; a user who may read the
	// job but not them still gets the rest.
	wl, _ := jobWorkload(ctx, c, job)
	evs, _ := jobEvents(ctx, c, job.Namespace, job.Name)

	stored := job.DeepCopy()
	stored.ManagedFields = nil
	stored.APIVersion, stored.Kind = kubeflow.SchemeGroupVersion.String(), kubeflow.SchemeGroupVersionKind.Kind
	y, err := yaml.Marshal(stored)
	if err != nil {
		writeError(w, err, nil)
		return
	}
	d := JobDetails{
		Summary:   summarize(job),
		Diagnosis: mpijob.Diagnose(job, pods, wl),
		MPIJob:    stored,
		YAML:      string(y),
		Pods:      podViews(pods),
		Describe:  printers.Describe(printers.DescribeInput{Job: job, Pods: pods, Workload: wl, Events: evs, Now: time.Now()}),
	}
	if wl != nil {
		d.Workload = workloadView(wl)
	}
	one := []JobSummary{d.Summary}
	addQueuePositions(ctx, c, one)
	d.Summary = one[0]
	writeJSON(w, http.StatusOK, d)
}

func podViews(pods []corev1.Pod) []PodView {
	out := make([]PodView, 0, len(pods))
	for i := range pods {
		out = append(out, podView(&pods[i]))
	}
	sortPods(out)
	return out
}

// withJob reads the job of the path first, so that a job the caller may
// not read, or that does not exist, answers 403 or 404 rather than an
// empty list of its pods or events.
func (s *Server) withJob(h func(http.ResponseWriter, *http.Request, *Clients, *kubeflow.MPIJob) error) func(http.ResponseWriter, *http.Request, *Clients) {
	return func(w http.ResponseWriter, r *http.Request, c *Clients) {
		job, err := s.getJob(r.Context(), r, c)
		if err == nil {
			err = h(w, r, c, job)
		}
		if err != nil {
			writeError(w, err, warnings(c))
		}
	}
}

func (s *Server) workers(w http.ResponseWriter, r *http.Request, c *Clients, job *kubeflow.MPIJob) error {
	pods, err := jobPods(r.Context(), c, job.Namespace, job.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": podViews(pods)})
	return nil
}

func jobEvents(ctx context.Context, c *Clients, ns, name string) ([]corev1.Event, error) {
	list := &corev1.EventList{}
	if err := c.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var out []corev1.Event
	for i := range list.Items {
		if belongsTo(&list.Items[i], name) {
			out = append(out, list.Items[i])
		}
	}
	return out, nil
}

func (s *Server) events(w http.ResponseWriter, r *http.Request, c *Clients, job *kubeflow.MPIJob) error {
	evs, err := jobEvents(r.Context(), c, job.Namespace, job.Name)
	if err != nil {
		return err
	}
	out := make([]EventView, 0, len(evs))
	for i := range evs {
		out = append(out, eventView(&evs[i]))
	}
	slices.SortStableFunc(out, func(a, b EventView) int { return b.Time.Compare(a.Time) })
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
	return nil
}

func (s *Server) deleteMPIJob(w http.ResponseWriter, r *http.Request, c *Clients) {
	job := &kubeflow.MPIJob{ObjectMeta: metav1.ObjectMeta{Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}}
	if err := c.Client.Delete(r.Context(), job, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		writeError(w, err, warnings(c))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": true, "warnings": warnings(c)})
}

// suspend sets spec.runPolicy.suspend. Resuming a job that Kueue manages
// is Kueue's call: it suspends the job again until the queue admits it.
func (s *Server) suspend(suspend bool) func(http.ResponseWriter, *http.Request, *Clients) {
	return func(w http.ResponseWriter, r *http.Request, c *Clients) {
		ctx := r.Context()
		job := &kubeflow.MPIJob{ObjectMeta: metav1.ObjectMeta{Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}}
		patch := []byte(`{"spec":{"runPolicy":{"suspend":` + strconv.FormatBool(suspend) + `}}}`)
		if err := c.Client.Patch(ctx, job, client.RawPatch(types.MergePatchType, patch)); err != nil {
			writeError(w, err, warnings(c))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"summary": summarize(job), "warnings": warnings(c)})
	}
}
