package platform

import (
	"context"
	"fmt"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/component"
)

// FieldOwner is the one server-side apply field manager of the platform.
const FieldOwner = "mpijob-platform-operator"

// render turns a component's typed object into the unstructured object the
// platform applies: its GVK set, the platform's labels added, owned by the
// MPIJobPlatform (so deleting it removes everything), and without the
// fields a desired object has no opinion on.
func render(scheme *runtime.Scheme, owner *platformv1.MPIJobPlatform, key string, obj client.Object) (*unstructured.Unstructured, error) {
	gvk, err := apiutil.GVKForObject(obj, scheme)
	if err != nil {
		return nil, err
	}
	var u *unstructured.Unstructured
	if already, ok := obj.(*unstructured.Unstructured); ok {
		u = already.DeepCopy()
	} else {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return nil, err
		}
		u = &unstructured.Unstructured{Object: m}
	}
	u.SetGroupVersionKind(gvk)
	delete(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	labels := u.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	for k, v := range component.Labels(key) {
		labels[k] = v
	}
	u.SetLabels(labels)
	u.SetOwnerReferences([]metav1.OwnerReference{{
		APIVersion: platformv1.SchemeGroupVersion.String(), Kind: "MPIJobPlatform",
		Name: owner.Name, UID: owner.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}})
	return u, nil
}

// contains reports whether live already holds every value desired sets.
// Fields the API server or other managers add (defaults, status, caBundle
// injected by a certificate manager) do not count as drift; nil and empty
// values in desired express no opinion.
func contains(live, desired any) bool {
	switch d := desired.(type) {
	case nil:
		return true
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return len(d) == 0 && live == nil
		}
		for k, dv := range d {
			if !contains(l[k], dv) {
				return false
			}
		}
		return true
	case []any:
		l, ok := live.([]any)
		if !ok {
			return len(d) == 0 && live == nil
		}
		if len(l) != len(d) {
			return false
		}
		for i := range d {
			if !contains(l[i], d[i]) {
				return false
			}
		}
		return true
	case string:
		l, ok := live.(string)
		return ok && l == d || d == "" && live == nil
	case bool:
		l, ok := live.(bool)
		return ok && l == d || !d && live == nil
	}
	if df, ok := number(desired); ok {
		lf, ok := number(live)
		return ok && lf == df || df == 0 && live == nil
	}
	return reflect.DeepEqual(live, desired)
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// applyResult counts what an apply pass did.
type applyResult struct {
	applied, deleted int
}

// applyAll brings the cluster to the desired objects of one component:
// objects that differ are server-side applied with FieldOwner, objects the
// component owns but no longer wants are deleted. An object that already
// matches costs no write.
func (r *Reconciler) applyAll(ctx context.Context, key string, kinds []schema.GroupVersionKind, desired []*unstructured.Unstructured) (applyResult, error) {
	var res applyResult
	want := map[string]bool{}
	for _, u := range desired {
		want[objectID(u.GroupVersionKind(), u.GetNamespace(), u.GetName())] = true
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(u.GroupVersionKind())
		err := r.Reader.Get(ctx, client.ObjectKeyFromObject(u), live)
		if err != nil && !apierrors.IsNotFound(err) {
			return res, fmt.Errorf("reading %s %s: %w", u.GetKind(), u.GetName(), err)
		}
		if err == nil && contains(live.Object, u.Object) {
			continue
		}
		if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
			return res, fmt.Errorf("applying %s %s: %w", u.GetKind(), u.GetName(), err)
		}
		res.applied++
	}
	for _, gvk := range kinds {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := r.Reader.List(ctx, list, client.MatchingLabels{component.ComponentLabel: key}); err != nil {
			if isNoMatch(err) {
				continue // the CRD is absent, so are its objects
			}
			return res, fmt.Errorf("listing %s: %w", gvk.Kind, err)
		}
		for i := range list.Items {
			o := &list.Items[i]
			if want[objectID(gvk, o.GetNamespace(), o.GetName())] || o.GetDeletionTimestamp() != nil {
				continue
			}
			if err := r.Client.Delete(ctx, o, client.Preconditions{UID: ptr.To(o.GetUID())}, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
				return res, fmt.Errorf("deleting %s %s: %w", gvk.Kind, o.GetName(), err)
			}
			res.deleted++
		}
	}
	return res, nil
}

func objectID(gvk schema.GroupVersionKind, ns, name string) string {
	return gvk.GroupKind().String() + "/" + types.NamespacedName{Namespace: ns, Name: name}.String()
}
