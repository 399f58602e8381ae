package framework

import "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

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
