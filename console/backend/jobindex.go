package backend

import (
	"context"
	"fmt"
	"sync"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// JobIndex keeps the list row (JobSummary) of every MPIJob in the cluster,
// fed by one watch with the console's own identity, so that a list page
// costs the console a filter, a sort and a page of what it holds, not a
// LIST of every job through the API server. A caller sees a namespace's
// rows only after the API server has said that they may list its MPIJobs
// (a SelfSubjectAccessReview with their own token, see access.go).
//
// It also tells the list's live-update streams when jobs of a namespace
// change, so that a browser asks for its page again only then.
type JobIndex struct {
	mu   sync.RWMutex
	rows map[string]map[string]*JobSummary // namespace, name; a row is never changed, only replaced
	subs map[*subscription]struct{}

	informer toolscache.SharedIndexInformer
	// handler has synced once every row of the first list is in rows (the
	// informer's own sync comes before its handlers have run).
	handler toolscache.ResourceEventHandlerRegistration
}

// subscription is one live-update stream: ns "" is every namespace.
type subscription struct {
	ns string
	ch chan struct{}
}

// NewJobIndex returns an index that lists and watches MPIJobs through cfg
// (the console's ServiceAccount, which may list and watch them in every
// namespace). Run starts it.
func NewJobIndex(cfg *rest.Config) (*JobIndex, error) {
	cl, err := client.NewWithWatch(cfg, client.Options{Scheme: Scheme, Mapper: restMapper()})
	if err != nil {
		return nil, err
	}
	lw := &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			list := &kubeflow.MPIJobList{}
			err := cl.List(ctx, list, &client.ListOptions{Raw: &opts})
			return list, err
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return cl.Watch(ctx, &kubeflow.MPIJobList{}, &client.ListOptions{Raw: &opts})
		},
	}
	return newJobIndex(lw), nil
}

func newJobIndex(lw toolscache.ListerWatcher) *JobIndex {
	x := &JobIndex{rows: map[string]map[string]*JobSummary{}, subs: map[*subscription]struct{}{}}
	x.informer = toolscache.NewSharedIndexInformer(lw, &kubeflow.MPIJob{}, 0, toolscache.Indexers{})
	// The informer's store keeps only what a row is made of.
	_ = x.informer.SetTransform(func(obj any) (any, error) {
		if job, ok := obj.(*kubeflow.MPIJob); ok {
			return trimForRow(job), nil
		}
		return obj, nil
	})
	x.handler, _ = x.informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { x.put(obj) },
		UpdateFunc: func(_, obj any) { x.put(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if job, ok := obj.(*kubeflow.MPIJob); ok {
				x.remove(job.Namespace, job.Name)
			}
		},
	})
	return x
}

// Run lists and watches until ctx ends.
func (x *JobIndex) Run(ctx context.Context) { x.informer.RunWithContext(ctx) }

// WaitSynced waits until the first list is in the rows, or ctx ends.
func (x *JobIndex) WaitSynced(ctx context.Context) bool {
	return toolscache.WaitForCacheSync(ctx.Done(), x.Synced)
}

// Synced says whether the first list is in the rows: before, lists are
// read with the caller's token.
func (x *JobIndex) Synced() bool { return x != nil && x.handler != nil && x.handler.HasSynced() }

// trimForRow keeps the fields summarize reads: metadata without managed
// fields and annotations, the replica counts and containers' resources,
// the run policy and the status.
func trimForRow(job *kubeflow.MPIJob) *kubeflow.MPIJob {
	out := &kubeflow.MPIJob{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: job.Namespace, Name: job.Name, UID: job.UID, ResourceVersion: job.ResourceVersion,
			CreationTimestamp: job.CreationTimestamp, Labels: job.Labels,
		},
		Spec:   kubeflow.MPIJobSpec{RunPolicy: job.Spec.RunPolicy, MPIReplicaSpecs: map[kubeflow.MPIReplicaType]*kubeflow.ReplicaSpec{}},
		Status: job.Status,
	}
	for role, rs := range job.Spec.MPIReplicaSpecs {
		if rs == nil {
			continue
		}
		trimmed := &kubeflow.ReplicaSpec{Replicas: rs.Replicas}
		for _, c := range rs.Template.Spec.Containers {
			trimmed.Template.Spec.Containers = append(trimmed.Template.Spec.Containers, corev1.Container{Name: c.Name, Resources: c.Resources})
		}
		out.Spec.MPIReplicaSpecs[role] = trimmed
	}
	return out
}

func (x *JobIndex) put(obj any) {
	job, ok := obj.(*kubeflow.MPIJob)
	if !ok {
		return
	}
	row := summarize(job)
	x.mu.Lock()
	ns := x.rows[job.Namespace]
	if ns == nil {
		ns = map[string]*JobSummary{}
		x.rows[job.Namespace] = ns
	}
	ns[job.Name] = &row
	x.mu.Unlock()
	x.notify(job.Namespace)
}

func (x *JobIndex) remove(namespace, name string) {
	x.mu.Lock()
	delete(x.rows[namespace], name)
	if len(x.rows[namespace]) == 0 {
		delete(x.rows, namespace)
	}
	x.mu.Unlock()
	x.notify(namespace)
}

// rowsOf appends the rows of one namespace ("" every one) matching q.
// The rows are shared: never change them.
func (x *JobIndex) rowsOf(namespace string, q jobQuery, out []*JobSummary) []*JobSummary {
	x.mu.RLock()
	defer x.mu.RUnlock()
	add := func(rows map[string]*JobSummary) {
		for _, r := range rows {
			if q.match(r) {
				out = append(out, r)
			}
		}
	}
	if namespace != "" {
		add(x.rows[namespace])
		return out
	}
	for _, rows := range x.rows {
		add(rows)
	}
	return out
}

// Len is the number of MPIJobs indexed.
func (x *JobIndex) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := 0
	for _, rows := range x.rows {
		n += len(rows)
	}
	return n
}

// subscribe returns a channel that receives (without blocking the index,
// coalesced) when a job of namespace ("" any) changes, and its cancel.
func (x *JobIndex) subscribe(namespace string) (<-chan struct{}, func()) {
	s := &subscription{ns: namespace, ch: make(chan struct{}, 1)}
	x.mu.Lock()
	x.subs[s] = struct{}{}
	x.mu.Unlock()
	return s.ch, func() {
		x.mu.Lock()
		delete(x.subs, s)
		x.mu.Unlock()
	}
}

func (x *JobIndex) notify(namespace string) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for s := range x.subs {
		if s.ns == "" || s.ns == namespace {
			select {
			case s.ch <- struct{}{}:
			default: // a change is already pending for it
			}
		}
	}
}

// StartJobIndex starts an index of cfg's MPIJobs when cfg's identity may
// list and watch them in every namespace, and returns nil (lists read with
// each caller's token) when it may not, saying so in log.
func StartJobIndex(ctx context.Context, cfg *rest.Config, log logr.Logger) *JobIndex {
	allowed, err := mayWatchMPIJobs(ctx, cfg)
	if err != nil || !allowed {
		log.Info("job index off: the console's ServiceAccount may not list and watch MPIJobs in every namespace; the job list is read with each caller's token, in full, on every request", "error", fmt.Sprint(err))
		return nil
	}
	x, err := NewJobIndex(cfg)
	if err != nil {
		log.Error(err, "job index off")
		return nil
	}
	go x.Run(ctx)
	return x
}
