package backend

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/queue"
)

// pendingWorkload is a workload at Kueue's 0-based position pos.
func pendingWorkload(ns, kind, owner string, pos int32) queue.Workload {
	return queue.Workload{
		Namespace: ns, Name: strings.ToLower(kind) + "-" + owner + "-1a2b3",
		Owners:   []metav1.OwnerReference{{Kind: kind, Name: owner}},
		Position: queue.Position{LocalQueue: pos + 1},
	}
}

// fakeVisibility answers per LocalQueue, or fails like an absent API.
type fakeVisibility struct {
	queues map[string][]queue.Workload // "ns/queue"
	absent bool
	calls  []string
}

func (f *fakeVisibility) list(_ context.Context, ns, lq string) ([]queue.Workload, error) {
	f.calls = append(f.calls, ns+"/"+lq)
	if f.absent {
		return nil, errors.New(`the server could not find the requested resource`)
	}
	return f.queues[ns+"/"+lq], nil
}

func TestAddQueuePositions(t *testing.T) {
	items := func() []JobSummary {
		return []JobSummary{
			{Type: "MPIJob", Namespace: "team-a", Name: "first", Status: "Queued", Queue: "default"},
			{Type: "MPIJob", Namespace: "team-a", Name: "second", Status: "Queued", Queue: "default"},
			{Type: "PyTorchJob", Namespace: "team-a", Name: "torch", Status: "Queued", Queue: "default"},
			{Type: "MPIJob", Namespace: "team-a", Name: "running", Status: "Running", Queue: "default"},
			{Type: "MPIJob", Namespace: "team-a", Name: "small", Status: "Queued", Queue: "small"},
		}
	}
	queues := map[string][]queue.Workload{
		"team-a/default": {pendingWorkload("team-a", "MPIJob", "first", 0), pendingWorkload("team-a", "PyTorchJob", "torch", 1), pendingWorkload("team-a", "MPIJob", "second", 2)},
		"team-a/small":   {pendingWorkload("team-a", "PyTorchJob", "small", 0)}, // same name, other kind
	}
	cases := map[string]struct {
		vis       *fakeVisibility
		want      map[string]int32
		wantCalls []string
	}{
		"positions from the visibility API, one call per queue": {
			vis:       &fakeVisibility{queues: queues},
			want:      map[string]int32{"first": 1, "torch": 2, "second": 3},
			wantCalls: []string{"team-a/default", "team-a/small"},
		},
		"no visibility API: no positions, no error": {
			vis:       &fakeVisibility{absent: true},
			want:      map[string]int32{},
			wantCalls: []string{"team-a/default", "team-a/small"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := items()
			addQueuePositions(context.Background(), &Clients{Pending: tc.vis.list}, got)
			positions := map[string]int32{}
			for _, s := range got {
				if s.QueuePosition != nil {
					positions[s.Name] = *s.QueuePosition
				}
			}
			if diff := cmp.Diff(tc.want, positions); diff != "" {
				t.Errorf("positions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantCalls, tc.vis.calls); diff != "" {
				t.Errorf("visibility calls (-want +got):\n%s", diff)
			}
		})
	}
	// Without a lister (fake clients) nothing happens.
	got := items()
	addQueuePositions(context.Background(), &Clients{}, got)
	if got[0].QueuePosition != nil {
		t.Errorf("a position without a visibility lister: %d", *got[0].QueuePosition)
	}
}

// The REST lister asks v1beta2, falls back to v1beta1, and reports an
// absent API as an error.
func TestRESTPendingLister(t *testing.T) {
	var paths []string
	serve := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		body, ok := serve[r.URL.Path]
		if !ok {
			http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	kube, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	list := restPendingLister(kube.Discovery().RESTClient())

	if _, err := list(context.Background(), "team-a", "default"); err == nil {
		t.Error("no visibility API: want an error")
	}
	want := []string{
		"/apis/visibility.kueue.x-k8s.io/v1beta2/namespaces/team-a/localqueues/default/pendingworkloads",
		"/apis/visibility.kueue.x-k8s.io/v1beta1/namespaces/team-a/localqueues/default/pendingworkloads",
	}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	serve[want[1]] = `{"kind":"PendingWorkloadsSummary","apiVersion":"visibility.kueue.x-k8s.io/v1beta1","metadata":{},
		"items":[{"metadata":{"name":"mpijob-pi-1a2b3","namespace":"team-a","ownerReferences":[{"apiVersion":"kubeflow.org/v2beta1","kind":"MPIJob","name":"pi","uid":"u"}]},
		"priority":0,"localQueueName":"default","positionInClusterQueue":4,"positionInLocalQueue":1}]}`
	got, err := list(context.Background(), "team-a", "default")
	if err != nil || len(got) != 1 || got[0].LocalQueue != 2 || got[0].Owners[0].Name != "pi" {
		t.Errorf("v1beta1 answer: %+v, %v", got, err)
	}
}

// The list endpoint carries the position.
func TestQueuePositionInList(t *testing.T) {
	job := mpiJob("team-a", "pi", 2)
	job.Labels = map[string]string{"kueue.x-k8s.io/queue-name": "default"}
	job.Spec.RunPolicy.Suspend = ptr.To(true)
	cl := fake.NewClientBuilder().WithScheme(Scheme).WithRESTMapper(restMapper()).WithRuntimeObjects([]runtime.Object{job}...).Build()
	vis := &fakeVisibility{queues: map[string][]queue.Workload{"team-a/default": {pendingWorkload("team-a", "MPIJob", "pi", 3)}}}
	f := &fixture{cl: cl}
	f.srv = httptest.NewServer(New(Options{Clients: func(string) (*Clients, error) {
		return &Clients{Client: cl, Pending: vis.list}, nil
	}}).Handler())
	defer f.srv.Close()
	var list JobList
	if code := f.do(t, http.MethodGet, "/api/v1/namespaces/team-a/mpijobs", "", &list); code != http.StatusOK || len(list.Items) != 1 {
		t.Fatalf("list: %d %+v", code, list)
	}
	if s := list.Items[0]; s.Status != "Queued" || s.QueuePosition == nil || *s.QueuePosition != 4 {
		t.Errorf("list row: status %s position %v, want Queued at 4", s.Status, s.QueuePosition)
	}
}
