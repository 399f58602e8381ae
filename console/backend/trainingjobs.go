package backend

import (
	"context"
	"net/http"
	"slices"
	"strings"
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

// TrainingJobList is the unified list.
type TrainingJobList struct {
	Items []JobSummary `json:"items"`
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

// listTrainingJobs answers GET /api/v1/trainingjobs?type=MPIJob,PyTorchJob
// (&namespace=) and its namespaced form.
func (s *Server) listTrainingJobs(w http.ResponseWriter, r *http.Request, c *Clients) {
	opts, err := listOptions(r)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	want := map[string]bool{}
	for _, t := range strings.Split(r.URL.Query().Get("type"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			want[strings.ToLower(t)] = true
		}
	}
	wanted := func(kind string) bool { return len(want) == 0 || want[strings.ToLower(kind)] }

	out := TrainingJobList{Items: []JobSummary{}, Types: []string{kubeflow.SchemeGroupVersionKind.Kind}}
	if wanted(kubeflow.SchemeGroupVersionKind.Kind) {
		list := &kubeflow.MPIJobList{}
		if err := c.Client.List(r.Context(), list, opts...); err != nil {
			writeError(w, err, nil)
			return
		}
		for i := range list.Items {
			out.Items = append(out.Items, summarize(&list.Items[i]))
		}
	}
	for _, k := range installedKinds(c) {
		out.Types = append(out.Types, k.Kind)
		if !wanted(k.Kind) {
			continue
		}
		items, err := listOther(r.Context(), c, k, opts)
		if err != nil {
			if out.Errors == nil {
				out.Errors = map[string]string{}
			}
			_, body := errorBody(err)
			out.Errors[k.Kind] = body.Error
			continue
		}
		out.Items = append(out.Items, items...)
	}
	sortSummaries(out.Items)
	addQueuePositions(r.Context(), c, out.Items)
	writeJSON(w, http.StatusOK, out)
}

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
