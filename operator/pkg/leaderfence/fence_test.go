package leaderfence

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

type fakeLock struct {
	id  string
	err error
}

func (l *fakeLock) Get(context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	return nil, nil, nil
}
func (l *fakeLock) Create(context.Context, resourcelock.LeaderElectionRecord) error { return l.err }
func (l *fakeLock) Update(context.Context, resourcelock.LeaderElectionRecord) error { return l.err }
func (l *fakeLock) RecordEvent(string)                                              {}
func (l *fakeLock) Identity() string                                                { return l.id }
func (l *fakeLock) Describe() string                                                { return "fake" }

type okTransport struct{ calls int }

func (t *okTransport) RoundTrip(*http.Request) (*http.Response, error) {
	t.calls++
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
}

func request(t *testing.T, rt http.RoundTripper, method, path string) error {
	t.Helper()
	req, err := http.NewRequest(method, "https://127.0.0.1:6443"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

func TestFenceClosesWhenTheLeaseIsNotRenewed(t *testing.T) {
	clock := time.Unix(1000, 0)
	f := New(10 * time.Second)
	f.now = func() time.Time { return clock }
	inner := &fakeLock{id: "me"}
	l := f.Lock(inner)
	next := &okTransport{}
	rt := f.Wrap(next)
	const pods = "/api/v1/namespaces/team/pods"

	// Never leader: writes pass (webhooks and certificates of a standby).
	if err := request(t, rt, http.MethodPost, pods); err != nil {
		t.Fatalf("a replica that never led was fenced: %v", err)
	}
	if err := l.Create(context.Background(), resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(9 * time.Second)
	if err := request(t, rt, http.MethodPatch, pods+"/a"); err != nil {
		t.Fatalf("a write 9 s after the renewal was fenced: %v", err)
	}
	clock = clock.Add(time.Second)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		err := request(t, rt, m, pods+"/a")
		var fenced *Error
		if !errors.As(err, &fenced) {
			t.Fatalf("%s 10 s after the last renewal: got %v, want a fence error", m, err)
		}
	}
	if got := f.Refused(); got != 4 {
		t.Errorf("Refused() = %d, want 4", got)
	}
	// Reads, the Lease and access reviews still pass.
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, pods},
		{http.MethodPut, "/apis/coordination.k8s.io/v1/namespaces/ns/leases/x"},
		{http.MethodPost, "/apis/authorization.k8s.io/v1/subjectaccessreviews"},
	} {
		if err := request(t, rt, c.method, c.path); err != nil {
			t.Errorf("%s %s was fenced: %v", c.method, c.path, err)
		}
	}
	// A release (empty holder) and a failed renewal reopen nothing.
	if err := l.Update(context.Background(), resourcelock.LeaderElectionRecord{}); err != nil {
		t.Fatal(err)
	}
	inner.err = errors.New("conflict")
	_ = l.Update(context.Background(), resourcelock.LeaderElectionRecord{HolderIdentity: "me"})
	if f.Open() {
		t.Fatal("the fence opened without a successful renewal")
	}
	inner.err = nil
	if err := l.Update(context.Background(), resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
		t.Fatal(err)
	}
	if err := request(t, rt, http.MethodPost, pods); err != nil {
		t.Fatalf("a write after a renewal was fenced: %v", err)
	}
}
