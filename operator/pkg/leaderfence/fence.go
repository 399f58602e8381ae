// Package leaderfence keeps a replica that lost its lease from writing.
//
// Leader election with a Lease is advisory: a leader whose process is
// frozen (SIGSTOP, a long GC or VM pause, a stalled node) still believes
// it leads when it wakes up, and its reconcilers may write for a moment
// before its elector notices that another replica took over. A Fence
// closes that window. It learns from the lock when this replica last
// renewed the Lease, and its RoundTripper refuses every write once that
// renewal is older than the renew deadline: the other replicas wait a
// whole lease duration (longer than the renew deadline) after the last
// renewal they saw before they take over, so the old leader has stopped
// writing before the new one starts.
//
// Until a replica has been leader once, the fence lets its writes through:
// such a replica runs only the work every replica runs (serving webhooks,
// rotating their certificate), never a reconciler.
package leaderfence

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Fence tracks this replica's last renewal of its Lease.
type Fence struct {
	validFor time.Duration
	now      func() time.Time

	mu        sync.Mutex
	renewedAt time.Time // when the last successful renewal was sent; zero before the first
	refused   int64
}

// New returns a fence whose writes stay open for validFor after each
// renewal (the elector's renew deadline).
func New(validFor time.Duration) *Fence {
	return &Fence{validFor: validFor, now: time.Now}
}

// Lock wraps the election's lock so that the fence sees each renewal.
func (f *Fence) Lock(l resourcelock.Interface) resourcelock.Interface {
	return &lock{Interface: l, f: f}
}

// Open reports whether this replica may write now.
func (f *Fence) Open() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.renewedAt.IsZero() || f.now().Sub(f.renewedAt) < f.validFor
}

// Refused is how many writes the fence has refused.
func (f *Fence) Refused() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused
}

func (f *Fence) renewed(at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if at.After(f.renewedAt) {
		f.renewedAt = at
	}
}

// lock records the time each of this replica's successful acquisitions or
// renewals was sent. The time taken before the request is the safe one:
// the API server stores the renewal later, so others time out later.
type lock struct {
	resourcelock.Interface
	f *Fence
}

func (l *lock) Create(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	return l.record(r, func() error { return l.Interface.Create(ctx, r) })
}

func (l *lock) Update(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	return l.record(r, func() error { return l.Interface.Update(ctx, r) })
}

func (l *lock) record(r resourcelock.LeaderElectionRecord, write func() error) error {
	sent := l.f.now()
	err := write()
	// A release writes an empty holder: that is no renewal.
	if err == nil && r.HolderIdentity == l.Identity() {
		l.f.renewed(sent)
	}
	return err
}

// Error is what a fenced write fails with.
type Error struct {
	Method, Path string
	Since        time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("leader fence: refusing %s %s: this replica last renewed its leader Lease %s ago and may no longer lead", e.Method, e.Path, e.Since.Round(time.Millisecond))
}

// Wrap is a rest.Config WrapTransport: writes fail while the fence is
// closed; reads, the Lease itself and access reviews (which change
// nothing) always pass.
func (f *Fence) Wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		if isWrite(req) && !f.Open() {
			f.mu.Lock()
			f.refused++
			since := f.now().Sub(f.renewedAt)
			f.mu.Unlock()
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return nil, &Error{Method: req.Method, Path: req.URL.Path, Since: since}
		}
		return rt.RoundTrip(req)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// exempt are API groups whose POSTs either are the election itself or
// only ask a question.
var exempt = []string{
	"/apis/coordination.k8s.io/",
	"/apis/authentication.k8s.io/",
	"/apis/authorization.k8s.io/",
}

func isWrite(req *http.Request) bool {
	switch req.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return false
	}
	for _, p := range exempt {
		if strings.HasPrefix(req.URL.Path, p) {
			return false
		}
	}
	return true
}
