// Package kueue is the platform's kueue component: ResourceFlavors (e.g.
// one per GPU model, selected by node labels), ClusterQueues with nominal
// quotas, cohorts and fair-sharing weights, and LocalQueues in listed
// namespaces or in every namespace a selector matches, kept in step as
// namespaces come and go.
package kueue

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/component"
)

// Component is kueue.
type Component struct{}

var _ component.Component = Component{}

func (Component) Name() string { return "Kueue" }
func (Component) Key() string  { return "kueue" }

func (Component) State(spec *platformv1.MPIJobPlatformSpec) string {
	return string(spec.Kueue.ManagementState)
}

func (Component) Kinds() []schema.GroupVersionKind {
	return []schema.GroupVersionKind{
		kueue.GroupVersion.WithKind("ResourceFlavor"),
		kueue.GroupVersion.WithKind("ClusterQueue"),
		kueue.GroupVersion.WithKind("LocalQueue"),
	}
}

// OptionalKinds: Kueue's CRDs may be absent.
func (Component) OptionalKinds() map[schema.GroupKind]string {
	const what = "Kueue v0.17 or later (kueue.x-k8s.io/v1beta2 CRDs)"
	out := map[schema.GroupKind]string{}
	for _, gvk := range (Component{}).Kinds() {
		out[gvk.GroupKind()] = what
	}
	return out
}

// Desired renders flavors, ClusterQueues and LocalQueues.
func (Component) Desired(in component.Inputs) ([]client.Object, error) {
	spec := in.Platform.Spec.Kueue
	var objs []client.Object
	for _, f := range spec.ResourceFlavors {
		objs = append(objs, &kueue.ResourceFlavor{
			ObjectMeta: metav1.ObjectMeta{Name: f.Name},
			Spec:       kueue.ResourceFlavorSpec{NodeLabels: f.NodeLabels, Tolerations: f.Tolerations},
		})
	}
	for _, cq := range spec.ClusterQueues {
		objs = append(objs, clusterQueue(cq))
	}
	lqs, err := localQueues(spec.LocalQueues, in.Namespaces)
	if err != nil {
		return nil, err
	}
	return append(objs, lqs...), nil
}

// clusterQueue maps our flat quota list to Kueue's resource group: one
// group covering every resource any flavor names (a flavor that does not
// name one gets a zero quota for it, as Kueue requires every flavor of a
// group to list every covered resource).
func clusterQueue(cq platformv1.ClusterQueue) *kueue.ClusterQueue {
	var covered []corev1.ResourceName
	seen := map[corev1.ResourceName]bool{}
	for _, f := range cq.Flavors {
		for _, r := range f.Resources {
			if !seen[r.Name] {
				seen[r.Name] = true
				covered = append(covered, r.Name)
			}
		}
	}
	group := kueue.ResourceGroup{CoveredResources: covered}
	for _, f := range cq.Flavors {
		byName := map[corev1.ResourceName]platformv1.ResourceQuota{}
		for _, r := range f.Resources {
			byName[r.Name] = r
		}
		fq := kueue.FlavorQuotas{Name: kueue.ResourceFlavorReference(f.Name)}
		for _, name := range covered {
			r, ok := byName[name]
			q := kueue.ResourceQuota{Name: name, NominalQuota: resource.MustParse("0")}
			if ok {
				q.NominalQuota, q.BorrowingLimit, q.LendingLimit = r.NominalQuota, r.BorrowingLimit, r.LendingLimit
			}
			fq.Resources = append(fq.Resources, q)
		}
		group.Flavors = append(group.Flavors, fq)
	}
	out := &kueue.ClusterQueue{
		ObjectMeta: metav1.ObjectMeta{Name: cq.Name},
		Spec: kueue.ClusterQueueSpec{
			CohortName:        kueue.CohortReference(cq.Cohort),
			NamespaceSelector: &metav1.LabelSelector{}, // LocalQueues decide which namespaces use it
			ResourceGroups:    []kueue.ResourceGroup{group},
		},
	}
	if cq.FairSharingWeight != nil {
		out.Spec.FairSharing = &kueue.FairSharing{Weight: cq.FairSharingWeight}
	}
	return out
}

// localQueues places each LocalQueue in the listed namespaces that exist,
// or in every active namespace the selector matches.
func localQueues(specs []platformv1.LocalQueue, namespaces []corev1.Namespace) ([]client.Object, error) {
	active := map[string]*corev1.Namespace{}
	for i := range namespaces {
		ns := &namespaces[i]
		if ns.DeletionTimestamp == nil && ns.Status.Phase != corev1.NamespaceTerminating {
			active[ns.Name] = ns
		}
	}
	var objs []client.Object
	placed := map[string]string{}
	for i, lq := range specs {
		var targets []string
		if lq.NamespaceSelector != nil {
			sel, err := metav1.LabelSelectorAsSelector(lq.NamespaceSelector)
			if err != nil {
				return nil, fmt.Errorf("kueue.localQueues[%d].namespaceSelector: %w", i, err)
			}
			for name, ns := range active {
				if sel.Matches(labels.Set(ns.Labels)) {
					targets = append(targets, name)
				}
			}
		}
		for _, name := range lq.Namespaces {
			if active[name] != nil {
				targets = append(targets, name)
			}
		}
		sort.Strings(targets)
		name := lq.Name
		if name == "" {
			name = "default"
		}
		for _, ns := range targets {
			key := ns + "/" + name
			if prev, dup := placed[key]; dup {
				return nil, fmt.Errorf("kueue.localQueues[%d] and %s both place LocalQueue %s: give them different names or namespaces", i, prev, key)
			}
			placed[key] = fmt.Sprintf("kueue.localQueues[%d]", i)
			objs = append(objs, &kueue.LocalQueue{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				Spec:       kueue.LocalQueueSpec{ClusterQueue: kueue.ClusterQueueReference(lq.ClusterQueue)},
			})
		}
	}
	return objs, nil
}

// Ready when every ClusterQueue the platform made is Active in Kueue; for
// Unmanaged, when Kueue is installed.
func (Component) Ready(ctx context.Context, c client.Reader, in component.Inputs) (bool, string, error) {
	spec := in.Platform.Spec.Kueue
	if spec.ManagementState == platformv1.Unmanaged {
		return true, "queues are managed outside the platform", nil
	}
	var inactive []string
	for _, want := range spec.ClusterQueues {
		cq := &kueue.ClusterQueue{}
		if err := c.Get(ctx, client.ObjectKey{Name: want.Name}, cq); err != nil {
			return false, "", client.IgnoreNotFound(err)
		}
		if cond := meta.FindStatusCondition(cq.Status.Conditions, kueue.ClusterQueueActive); cond == nil || cond.Status != metav1.ConditionTrue {
			why := "no status from Kueue yet"
			if cond != nil {
				why = cond.Reason + ": " + cond.Message
			}
			inactive = append(inactive, fmt.Sprintf("ClusterQueue %s is not active (%s)", cq.Name, why))
		}
	}
	if len(inactive) > 0 {
		return false, strings.Join(inactive, "; "), nil
	}
	return true, fmt.Sprintf("%d ClusterQueue(s) active", len(spec.ClusterQueues)), nil
}
