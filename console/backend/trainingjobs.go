package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
)

// trainingKind is a training job kind of the unified list.
type trainingKind struct {
	Kind     string
	GV       schema.GroupVersion
	Resource string
	// ReplicaSpecs is the spec field of v1 jobs' replica specs; empty for
	// TrainJob.
	ReplicaSpecs string
}

var otherKinds = []trainingKind{
	{Kind: "PyTorchJob", GV: trainingV1, Resource: "pytorchjobs", ReplicaSpecs: "pytorchReplicaSpecs"},
	{Kind: "TFJob", GV: trainingV1, Resource: "tfjobs", ReplicaSpecs: "tfReplicaSpecs"},
	{Kind: "TrainJob", GV: trainerV1, Resource: "trainjobs"},
}

// TrainingJobList is the unified list: one page of the jobs that match the
// query, newest first unless asked otherwise.
type TrainingJobList struct {
	Items []JobSummary `json:"items"`
	// Total is how many jobs match the query, on every page.
	Total int `json:"total"`
	// Page (from 1) and PerPage (0: every job on one page) are the page
	// returned.
	Page    int `json:"page"`
	PerPage int `json:"perPage"`
	// Live says whether .../trainingjobs/watch streams changes (the
	// console's job index runs).
	Live bool `json:"live"`
	// Types are the kinds installed in the cluster (MPIJob always).
	Types []string `json:"types"`
	// Errors are kinds that could not be listed (forbidden, say), by kind.
	Errors map[string]string `json:"errors,omitempty"`
}

// installedKinds asks discovery which optional kinds exist.
func installedKinds(c *Clients) []trainingKind {
	var out []trainingKind
	served := map[schema.GroupVersion][]string{}
	for _, k := range otherKinds {
		names, ok := served[k.GV]
		if !ok {
			res, err := c.Kube.Discovery().ServerResourcesForGroupVersion(k.GV.String())
			if err == nil && res != nil {
				for _, r := range res.APIResources {
					names = append(names, r.Name)
				}
			}
			served[k.GV] = names
		}
		if slices.Contains(names, k.Resource) {
			out = append(out, k)
		}
	}
	return out
}

// listTrainingJobs answers GET /api/v1/trainingjobs (every namespace,
// or ?namespace=) and its namespaced form: one page of the jobs that match
// the query (jobquery.go). MPIJobs come from the console's job index when
// it runs, after the API server has said the caller may list them there;
// otherwise, and for the other kinds, they are listed with the caller's
// token.
func (s *Server) listTrainingJobs(w http.ResponseWriter, r *http.Request, c *Clients) {
	opts, err := listOptions(r)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	q, err := parseJobQuery(r)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	ns := requestNamespace(r)
	out := TrainingJobList{Types: []string{kubeflow.SchemeGroupVersionKind.Kind}, Page: q.Page, PerPage: q.PerPage, Live: s.opts.Jobs.Synced()}
	var items []*JobSummary
	if q.wants(kubeflow.SchemeGroupVersionKind.Kind) {
		if out.Live {
			if err := s.access.mayList(r.Context(), c.Kube, c.token, ns); err != nil {
				writeError(w, err, nil)
				return
			}
			items = s.opts.Jobs.rowsOf(ns, q, items)
		} else {
			list := &kubeflow.MPIJobList{}
			if err := c.Client.List(r.Context(), list, opts...); err != nil {
				writeError(w, err, nil)
				return
			}
			for i := range list.Items {
				row := summarize(&list.Items[i])
				items = append(items, &row)
			}
		}
	}
	for _, k := range installedKinds(c) {
		out.Types = append(out.Types, k.Kind)
		if !q.wants(k.Kind) {
			continue
		}
		other, err := listOther(r.Context(), c, k, opts)
		if err != nil {
			if out.Errors == nil {
				out.Errors = map[string]string{}
			}
			_, body := errorBody(err)
			out.Errors[k.Kind] = body.Error
			continue
		}
		for i := range other {
			items = append(items, &other[i])
		}
	}
	out.Items, out.Total = q.apply(items)
	if out.Items == nil {
		out.Items = []JobSummary{}
	}
	addQueuePositions(r.Context(), c, out.Items)
	writeJSON(w, http.StatusOK, out)
}

// requestNamespace is the namespace of the path, or of ?namespace=; ""
// for every namespace.
func requestNamespace(r *http.Request) string {
	if ns := r.PathValue("namespace"); ns != "" {
		return ns
	}
	return r.URL.Query().Get("namespace")
}

// watchTrainingJobs answers GET .../trainingjobs/watch: a stream of
// server-sent events, "changed" when MPIJobs of the namespace (every
// namespace without one) change, at most twice a second, so that the list
// page asks for its page again only then. It needs the job index (503
// without it: the page then refreshes itself on a timer).
func (s *Server) watchTrainingJobs(w http.ResponseWriter, r *http.Request, c *Clients) {
	if !s.opts.Jobs.Synced() {
		writeJSON(w, http.StatusServiceUnavailable, Error{
			Error:  "live updates need the console's job index, which is off (the console's ServiceAccount may not list and watch MPIJobs in every namespace, or its first list is not in yet); the list refreshes itself instead",
			Reason: "ServiceUnavailable",
		})
		return
	}
	ns := requestNamespace(r)
	if err := s.access.mayList(r.Context(), c.Kube, c.token, ns); err != nil {
		writeError(w, err, nil)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeJSON(w, http.StatusInternalServerError, Error{Error: "this connection cannot stream", Reason: "InternalError"})
		return
	}
	changes, cancel := s.opts.Jobs.subscribe(ns)
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event string) bool {
		_, err := fmt.Fprintf(w, "event: %s\ndata: {}\n\n", event)
		flusher.Flush()
		return err == nil
	}
	if !send("ready") {
		return
	}
	keepAlive := time.NewTicker(watchKeepAlive)
	defer keepAlive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keepAlive.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			flusher.Flush()
		case <-changes:
			// Let a burst of changes settle into one event.
			select {
			case <-r.Context().Done():
				return
			case <-time.After(watchCoalesce):
			}
			select {
			case <-changes:
			default:
			}
			if err := s.access.mayList(r.Context(), c.Kube, c.token, ns); err != nil {
				_, body := errorBody(err)
				data, _ := json.Marshal(body)
				_, _ = fmt.Fprintf(w, "event: error\ndata: %s\n\n", data)
				flusher.Flush()
				return
			}
			if !send("changed") {
				return
			}
		}
	}
}

// How often a live-update stream says it is alive, and how long it lets
// changes gather before it tells of them.
const (
	watchKeepAlive = 25 * time.Second
	watchCoalesce  = 500 * time.Millisecond
)

func listOther(ctx context.Context, c *Clients, k trainingKind, opts []client.ListOption) ([]JobSummary, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(k.GV.WithKind(k.Kind + "List"))
	if err := c.Client.List(ctx, list, opts...); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	out := make([]JobSummary, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, summarizeOther(k, &list.Items[i]))
	}
	return out, nil
}

// summarizeOther reads the fields the list shows from a PyTorchJob or
// TFJob (kubeflow.org/v1, the same JobStatus as MPIJob's) or a TrainJob
// (metav1.Conditions Complete and Failed).
func summarizeOther(k trainingKind, u *unstructured.Unstructured) JobSummary {
	s := JobSummary{Type: k.Kind, Namespace: u.GetNamespace(), Name: u.GetName(), Created: u.GetCreationTimestamp().Time}
	if q := u.GetLabels()[queueLabel]; q != "" {
		s.Queue = q
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	signals := mpijob.Signals{Conditions: map[string]bool{}, Queued: s.Queue != ""}
	var newest time.Time
	for _, raw := range conds {
		m, ok := raw.(map[string]any)
		if !ok || m["status"] != "True" {
			continue
		}
		t, _ := m["type"].(string)
		msg, _ := m["message"].(string)
		signals.Conditions[t] = true
		if ts, _ := m["lastTransitionTime"].(string); ts != "" {
			if parsed, err := time.Parse(time.RFC3339, ts); err == nil && !parsed.Before(newest) {
				newest, s.Message = parsed, msg
			}
		}
	}
	signals.Suspended, _, _ = unstructured.NestedBool(u.Object, "spec", "runPolicy", "suspend")
	if k.Kind == "TrainJob" {
		signals.Suspended, _, _ = unstructured.NestedBool(u.Object, "spec", "suspend")
	}
	s.Status = mpijob.PhaseFrom(signals)
	if k.ReplicaSpecs == "" {
		nodes, _, _ := unstructured.NestedInt64(u.Object, "spec", "trainer", "numNodes")
		s.Workers = int32(nodes)
		if g, ok, _ := unstructured.NestedString(u.Object, "spec", "trainer", "resourcesPerNode", "limits", "nvidia.com/gpu"); ok {
			s.GPUs = nodes * quantity(g)
		}
		return s
	}
	specs, _, _ := unstructured.NestedMap(u.Object, "spec", k.ReplicaSpecs)
	for role, raw := range specs {
		spec, ok := raw.(map[string]any)
		if !ok {
			continue
		}
		replicas, found, _ := unstructured.NestedInt64(spec, "replicas")
		if !found {
			replicas = 1
		}
		if role == "Worker" {
			s.Workers = int32(replicas)
		}
		containers, _, _ := unstructured.NestedSlice(spec, "template", "spec", "containers")
		for _, rc := range containers {
			cm, _ := rc.(map[string]any)
			if g, ok, _ := unstructured.NestedString(cm, "resources", "limits", "nvidia.com/gpu"); ok {
				s.GPUs += replicas * quantity(g)
			}
		}
	}
	if active, ok, _ := unstructured.NestedInt64(u.Object, "status", "replicaStatuses", "Worker", "active"); ok {
		s.ActiveWorkers = int32(active)
	}
	return s
}

func quantity(s string) int64 {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return 0
	}
	return q.Value()
}
