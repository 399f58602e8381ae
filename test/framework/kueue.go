package framework

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// KueueObject builds a kueue.x-k8s.io/v1beta2 object (ResourceFlavor,
// ClusterQueue, LocalQueue...) from its spec; ns is empty for cluster-scoped
// kinds.
func KueueObject(kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion("kueue.x-k8s.io/v1beta2")
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// CreateGPUQueue makes LocalQueue ns/localQueue backed by a ClusterQueue
// "cq-<ns>" (returned) with room for gpus GPUs of the dev cluster's GPU
// nodes (flavor "gpu-<ns>"), 64 CPUs and 1Ti memory; the cluster-scoped
// objects are deleted when the test ends.
func (e *Env) CreateGPUQueue(t testing.TB, ns, localQueue string, gpus int) string {
	t.Helper()
	return e.CreateGPUQueueWith(t, ns, localQueue, gpus, nil)
}

// CreateGPUQueueWith is CreateGPUQueue with more ClusterQueue spec fields
// (e.g. "preemption").
func (e *Env) CreateGPUQueueWith(t testing.TB, ns, localQueue string, gpus int, clusterQueueSpec map[string]any) string {
	t.Helper()
	flavor, cq := "gpu-"+ns, "cq-"+ns
	cqSpec := map[string]any{
		"namespaceSelector": map[string]any{},
		"resourceGroups": []any{map[string]any{
			"coveredResources": []any{"cpu", "memory", "nvidia.com/gpu"},
			"flavors": []any{map[string]any{"name": flavor, "resources": []any{
				map[string]any{"name": "cpu", "nominalQuota": "64"},
				map[string]any{"name": "memory", "nominalQuota": "1Ti"},
				map[string]any{"name": "nvidia.com/gpu", "nominalQuota": fmt.Sprint(gpus)},
			}}},
		}},
	}
	for k, v := range clusterQueueSpec {
		cqSpec[k] = v
	}
	for _, o := range []*unstructured.Unstructured{
		KueueObject("ResourceFlavor", "", flavor, map[string]any{"nodeLabels": map[string]any{"nvidia.com/gpu.product": cluster.GPUProduct}}),
		KueueObject("ClusterQueue", "", cq, cqSpec),
		KueueObject("LocalQueue", ns, localQueue, map[string]any{"clusterQueue": cq}),
	} {
		if err := e.Client.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %s %s: %v", o.GetKind(), o.GetName(), err)
		}
		t.Cleanup(func() { _ = e.Client.Delete(context.Background(), o) })
	}
	return cq
}

// CreateWorkloadPriorityClass makes Kueue WorkloadPriorityClass name with
// value, deleted when the test ends.
func (e *Env) CreateWorkloadPriorityClass(t testing.TB, name string, value int64) {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{"value": value}}
	u.SetAPIVersion("kueue.x-k8s.io/v1beta2")
	u.SetKind("WorkloadPriorityClass")
	u.SetName(name)
	if err := e.Client.Create(context.Background(), u); err != nil {
		t.Fatalf("creating WorkloadPriorityClass %s: %v", name, err)
	}
	t.Cleanup(func() { _ = e.Client.Delete(context.Background(), u) })
}
