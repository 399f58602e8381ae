package backend

import (
	"context"
	"errors"
	"time"

	"k8s.io/client-go/rest"

	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/queue"
)

// PendingLister returns the pending workloads of a Kueue LocalQueue in
// queue order, from Kueue's visibility API. An error means no positions:
// the API is absent (VisibilityOnDemand off, Kueue missing), or the caller
// may not read it.
type PendingLister func(ctx context.Context, namespace, localQueue string) ([]queue.Workload, error)

// errNoVisibility says the visibility API is not served or not readable.
var errNoVisibility = errors.New("kueue's visibility API is not available")

// positionTimeout bounds the visibility calls of one request, so a slow
// or absent aggregated API never holds up a list.
const positionTimeout = 2 * time.Second

// restPendingLister asks the visibility API (pkg/mpijob/queue) with the
// caller's own credentials.
func restPendingLister(rc rest.Interface) PendingLister {
	return func(ctx context.Context, ns, lq string) ([]queue.Workload, error) {
		workloads, available, err := queue.Pending(ctx, rc, ns, lq)
		if err == nil && !available {
			err = errNoVisibility
		}
		return workloads, err
	}
}

// addQueuePositions sets QueuePosition on the queued jobs of items, one
// visibility call per LocalQueue. It degrades silently: when the API does
// not answer, jobs simply have no position.
func addQueuePositions(ctx context.Context, c *Clients, items []JobSummary) {
	if c.Pending == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, positionTimeout)
	defer cancel()
	type queueKey struct{ ns, queue string }
	type jobKey struct{ ns, kind, name string }
	positions := map[jobKey]int32{}
	asked := map[queueKey]bool{}
	for i := range items {
		s := &items[i]
		if s.Status != mpijob.PhaseQueued || s.Queue == "" {
			continue
		}
		q := queueKey{s.Namespace, s.Queue}
		if !asked[q] {
			asked[q] = true
			pending, err := c.Pending(ctx, q.ns, q.queue)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				continue
			}
			for _, p := range pending {
				for _, ref := range p.Owners {
					positions[jobKey{p.Namespace, ref.Kind, ref.Name}] = p.LocalQueue
				}
			}
		}
		if pos, ok := positions[jobKey{s.Namespace, s.Type, s.Name}]; ok {
			s.QueuePosition = ptrInt32(pos) // 1 is next in line
		}
	}
}

func ptrInt32(v int32) *int32 { return &v }
