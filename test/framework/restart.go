package framework

import (
	"context"
	"sync"
	"syscall"
	"time"
)

// RestartComponent kills a component of the dev cluster (etcd, apiserver,
// kueue, scheduler, controller-manager, kwok) with sig and starts it again
// (cluster.Cluster.Restart), for fault tests.
//
// A restarted kube-apiserver answers requests before its RBAC authorizer
// has loaded the roles, and refuses them with 403 for that moment; such
// refusals of the product, from the kill until two seconds after the API
// server is ready again, are not counted as missing permissions when the
// cluster stops.
func (e *Env) RestartComponent(ctx context.Context, name string, sig syscall.Signal) error {
	begin := time.Now()
	err := e.Cluster.Restart(ctx, name, sig)
	if name == "apiserver" {
		e.restarts.add(begin, time.Now().Add(2*time.Second))
	}
	return err
}

type restarts struct {
	mu      sync.Mutex
	windows [][2]time.Time
}

func (r *restarts) add(from, to time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.windows = append(r.windows, [2]time.Time{from, to})
}

// authorizerWarming reports whether t falls in a window after an API
// server restart.
func (r *restarts) authorizerWarming(t time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.windows {
		if !t.Before(w[0]) && !t.After(w[1]) {
			return true
		}
	}
	return false
}
