// Package queue reads where pending jobs stand in their Kueue queues, from
// Kueue's visibility API (visibility.kueue.x-k8s.io, served by Kueue's
// manager when its VisibilityOnDemand feature is on). Without the API the
// positions are simply unknown: callers show none.
package queue

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
)

// Group is the visibility API group.
const Group = "visibility.kueue.x-k8s.io"

// versions are tried newest first; Kueue before v0.15 serves only v1beta1.
var versions = []string{"v1beta2", "v1beta1"}

// Position is a pending workload's place in its queues, counted from 1 (1
// is admitted next).
type Position struct {
	LocalQueue, ClusterQueue int32
}

// pendingWorkloads is the part of the visibility API's
// PendingWorkloadsSummary this package reads.
type pendingWorkloads struct {
	Items []struct {
		metav1.ObjectMeta      `json:"metadata"`
		PositionInLocalQueue   int32 `json:"positionInLocalQueue"`
		PositionInClusterQueue int32 `json:"positionInClusterQueue"`
	} `json:"items"`
}

// Workload is a pending workload of a LocalQueue: the objects owning it
// (the MPIJob) and its place.
type Workload struct {
	Namespace, Name string
	Owners          []metav1.OwnerReference
	Position
}

// Pending lists the pending workloads of LocalQueue namespace/localQueue in
// queue order. available is false when the cluster does not serve the API,
// or does not let the caller read it: positions are then unknown, which is
// not an error.
func Pending(ctx context.Context, rc rest.Interface, namespace, localQueue string) (workloads []Workload, available bool, err error) {
	for _, v := range versions {
		raw, err := rc.Get().AbsPath("/apis", Group, v, "namespaces", namespace, "localqueues", localQueue, "pendingworkloads").DoRaw(ctx)
		switch {
		case apierrors.IsNotFound(err) && isMissingAPI(raw):
			continue
		case apierrors.IsNotFound(err):
			// The API is served, the queue is not there (or not yet
			// known to Kueue): nothing pends in it.
			return []Workload{}, true, nil
		case apierrors.IsForbidden(err) || apierrors.IsServiceUnavailable(err):
			return nil, false, nil
		case err != nil:
			return nil, false, fmt.Errorf("reading the pending workloads of LocalQueue %s/%s: %w", namespace, localQueue, err)
		}
		var pw pendingWorkloads
		if err := json.Unmarshal(raw, &pw); err != nil {
			return nil, false, fmt.Errorf("decoding the pending workloads of LocalQueue %s/%s: %w", namespace, localQueue, err)
		}
		workloads = make([]Workload, 0, len(pw.Items))
		for _, w := range pw.Items {
			workloads = append(workloads, Workload{
				Namespace: w.Namespace, Name: w.Name, Owners: w.OwnerReferences,
				Position: Position{LocalQueue: w.PositionInLocalQueue + 1, ClusterQueue: w.PositionInClusterQueue + 1},
			})
		}
		return workloads, true, nil
	}
	return nil, false, nil
}

// Positions returns the positions of the pending workloads of LocalQueue
// namespace/localQueue, keyed by the UID of each workload's owner (the
// MPIJob); available as for Pending.
func Positions(ctx context.Context, rc rest.Interface, namespace, localQueue string) (positions map[types.UID]Position, available bool, err error) {
	workloads, available, err := Pending(ctx, rc, namespace, localQueue)
	if !available || err != nil {
		return nil, available, err
	}
	positions = map[types.UID]Position{}
	for _, w := range workloads {
		for _, o := range w.Owners {
			positions[o.UID] = w.Position
		}
	}
	return positions, true, nil
}

// isMissingAPI tells a 404 for an API group or version the server does not
// serve (a bare 404 page) from a 404 Status about a missing object.
func isMissingAPI(body []byte) bool {
	var st metav1.Status
	if json.Unmarshal(body, &st) != nil || st.Kind != "Status" {
		return true
	}
	return st.Details == nil || st.Details.Name == ""
}
