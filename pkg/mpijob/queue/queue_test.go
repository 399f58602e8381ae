package queue

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const summary = `{"kind":"PendingWorkloadsSummary","apiVersion":"visibility.kueue.x-k8s.io/%s","metadata":{},"items":[
 {"metadata":{"name":"mpijob-bert-1a2b3","namespace":"team-a","ownerReferences":[{"apiVersion":"kubeflow.org/v2beta1","kind":"MPIJob","name":"bert","uid":"uid-bert"}]},"priority":0,"localQueueName":"team","positionInClusterQueue":3,"positionInLocalQueue":0},
 {"metadata":{"name":"mpijob-gpt-4c5d6","namespace":"team-a","ownerReferences":[{"apiVersion":"kubeflow.org/v2beta1","kind":"MPIJob","name":"gpt","uid":"uid-gpt"}]},"priority":0,"localQueueName":"team","positionInClusterQueue":5,"positionInLocalQueue":1}]}`

const notFoundStatus = `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"localqueues.visibility.kueue.x-k8s.io \"team\" not found","reason":"NotFound","details":{"name":"team","group":"visibility.kueue.x-k8s.io","kind":"localqueues"},"code":404}`

// server answers the visibility API's paths per version: a body and a
// status, or a plain 404 page for a version it does not serve.
func server(t *testing.T, answers map[string]func(w http.ResponseWriter)) rest.Interface {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for v, answer := range answers {
			if r.URL.Path == "/apis/visibility.kueue.x-k8s.io/"+v+"/namespaces/team-a/localqueues/team/pendingworkloads" {
				answer(w)
				return
			}
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return cs.CoreV1().RESTClient()
}

func status(code int, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}
}

func TestPositions(t *testing.T) {
	want := map[types.UID]Position{"uid-bert": {LocalQueue: 1, ClusterQueue: 4}, "uid-gpt": {LocalQueue: 2, ClusterQueue: 6}}
	cases := []struct {
		name          string
		answers       map[string]func(w http.ResponseWriter)
		want          map[types.UID]Position
		available     bool
		errorContains string
	}{
		{name: "v1beta2", answers: map[string]func(http.ResponseWriter){"v1beta2": status(200, fmt.Sprintf(summary, "v1beta2"))}, want: want, available: true},
		{name: "older Kueue: v1beta1 only", answers: map[string]func(http.ResponseWriter){"v1beta1": status(200, fmt.Sprintf(summary, "v1beta1"))}, want: want, available: true},
		{name: "API not served", answers: nil, available: false},
		{name: "queue unknown to Kueue", answers: map[string]func(http.ResponseWriter){"v1beta2": status(404, notFoundStatus)}, want: map[types.UID]Position{}, available: true},
		{name: "caller may not read it", answers: map[string]func(http.ResponseWriter){"v1beta2": status(403, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403}`)}, available: false},
		{name: "visibility server down", answers: map[string]func(http.ResponseWriter){"v1beta2": status(503, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"ServiceUnavailable","code":503}`)}, available: false},
		{name: "server error", answers: map[string]func(http.ResponseWriter){"v1beta2": status(500, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"boom","reason":"InternalError","code":500}`)}, errorContains: "LocalQueue team-a/team"},
		{name: "garbage", answers: map[string]func(http.ResponseWriter){"v1beta2": status(200, `{"items": 3}`)}, errorContains: "decoding"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, available, err := Positions(context.Background(), server(t, tc.answers), "team-a", "team")
			if tc.errorContains != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errorContains) {
					t.Fatalf("error %v, want one containing %q", err, tc.errorContains)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if available != tc.available || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v available=%v, want %v available=%v", got, available, tc.want, tc.available)
			}
		})
	}
}
