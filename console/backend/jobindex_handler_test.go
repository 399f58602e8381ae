package backend

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	fcache "k8s.io/client-go/tools/cache/testing"
)

// With the job index, the list is served from it once the caller's own
// SelfSubjectAccessReview allows (remembered), and the watch endpoint
// streams changes of the namespace.
func TestListAndWatchFromTheIndex(t *testing.T) {
	src := fcache.NewFakeControllerSource()
	for _, name := range []string{"a", "b", "c"} {
		src.Add(mpiJob("team-a", name, 2))
	}
	src.Add(mpiJob("team-b", "secret", 2))
	x := newJobIndex(src)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go x.Run(ctx)
	if !x.WaitSynced(ctx) {
		t.Fatal("no sync")
	}
	kube := kubefake.NewClientset()
	var reviews atomic.Int32
	kube.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		reviews.Add(1)
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		sar.Status.Allowed = sar.Spec.ResourceAttributes.Namespace == "team-a" && sar.Spec.ResourceAttributes.Verb == "list"
		return true, sar, nil
	})
	s := New(Options{Clients: func(string) (*Clients, error) { return &Clients{Kube: kube}, nil }, Jobs: x})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	f := &fixture{srv: srv}

	var list TrainingJobList
	if code := f.do(t, http.MethodGet, "/api/v1/namespaces/team-a/trainingjobs?perPage=2&sort=name", "", &list); code != http.StatusOK ||
		list.Total != 3 || len(list.Items) != 2 || list.Items[0].Name != "a" || !list.Live {
		t.Errorf("team-a's first page: %d %+v", code, list)
	}
	if code := f.do(t, http.MethodGet, "/api/v1/namespaces/team-a/trainingjobs?page=2&perPage=2&sort=name", "", &list); code != http.StatusOK || len(list.Items) != 1 || list.Items[0].Name != "c" {
		t.Errorf("team-a's second page: %d %+v", code, list)
	}
	if n := reviews.Load(); n != 1 {
		t.Errorf("%d access reviews for two lists of one namespace, want 1 (remembered)", n)
	}
	var e Error
	for _, path := range []string{"/api/v1/namespaces/team-b/trainingjobs", "/api/v1/trainingjobs", "/api/v1/namespaces/team-b/trainingjobs/watch"} {
		if code := f.do(t, http.MethodGet, path, "", &e); code != http.StatusForbidden || e.Reason != "Forbidden" || !strings.Contains(e.Error, "mpijobs") || strings.Contains(e.Error, "secret") {
			t.Errorf("GET %s: %d %+v, want 403 naming mpijobs", path, code, e)
		}
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/namespaces/team-a/trainingjobs/watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events <- ev
			}
		}
	}()
	next := func() string {
		select {
		case ev := <-events:
			return ev
		case <-time.After(10 * time.Second):
			return "(none)"
		}
	}
	if ev := next(); ev != "ready" {
		t.Fatalf("first event %q", ev)
	}
	src.Add(mpiJob("team-b", "other", 1)) // not team-a's: no event
	src.Add(mpiJob("team-a", "d", 1))
	if ev := next(); ev != "changed" {
		t.Fatalf("after team-a's job was added: %q", ev)
	}
	select {
	case ev := <-events:
		t.Errorf("a second event %q for one change of team-a", ev)
	case <-time.After(2 * watchCoalesce):
	}
}

// Without the index, there is no stream: 503, and the page polls.
func TestWatchWithoutTheIndex(t *testing.T) {
	f := newFixture(t)
	var e Error
	if code := f.do(t, http.MethodGet, "/api/v1/namespaces/team-a/trainingjobs/watch", "", &e); code != http.StatusServiceUnavailable || !strings.Contains(e.Error, "job index") {
		t.Errorf("watch without an index: %d %+v", code, e)
	}
}
