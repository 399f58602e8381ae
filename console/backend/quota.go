package backend

import (
	"net/http"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/quota"
)

// Usage is one resource of a quota: its limit and what is used of it.
type Usage struct {
	Resource string `json:"resource"`
	// Flavor is the Kueue ResourceFlavor; empty for ResourceQuotas.
	Flavor string `json:"flavor,omitempty"`
	// Limit is the hard limit or nominal quota; empty when the object
	// gives none (a LocalQueue).
	Limit string `json:"limit,omitempty"`
	Used  string `json:"used"`
	// Percent is Used/Limit*100, when there is a limit.
	Percent *float64 `json:"percent,omitempty"`
}

func usage(res, flavor string, limit *resource.Quantity, used resource.Quantity) Usage {
	u := Usage{Resource: res, Flavor: flavor, Used: used.String()}
	if limit != nil {
		u.Limit = limit.String()
		if l := limit.AsApproximateFloat64(); l > 0 {
			p := used.AsApproximateFloat64() / l * 100
			u.Percent = &p
		}
	}
	return u
}

// ResourceQuotaView is one ResourceQuota.
type ResourceQuotaView struct {
	Name      string  `json:"name"`
	Namespace string  `json:"namespace"`
	Resources []Usage `json:"resources"`
}

// LocalQueueView is one Kueue LocalQueue with its ClusterQueue.
type LocalQueueView struct {
	Name         string  `json:"name"`
	Namespace    string  `json:"namespace"`
	ClusterQueue string  `json:"clusterQueue"`
	Pending      int32   `json:"pendingWorkloads"`
	Admitted     int32   `json:"admittedWorkloads"`
	Usage        []Usage `json:"usage"`
	// ClusterQueueStatus is the ClusterQueue's quota and usage, when the
	// caller may read it; ClusterQueueError says why not otherwise.
	ClusterQueueStatus *ClusterQueueView `json:"clusterQueueStatus,omitempty"`
	ClusterQueueError  string            `json:"clusterQueueError,omitempty"`
}

// ClusterQueueView is a ClusterQueue's nominal quota and usage per flavor.
type ClusterQueueView struct {
	Name      string  `json:"name"`
	Cohort    string  `json:"cohort,omitempty"`
	Pending   int32   `json:"pendingWorkloads"`
	Admitted  int32   `json:"admittedWorkloads"`
	Resources []Usage `json:"resources"`
}

// QuotaView is a namespace's quotas.
type QuotaView struct {
	Namespace      string              `json:"namespace"`
	ResourceQuotas []ResourceQuotaView `json:"resourceQuotas"`
	LocalQueues    []LocalQueueView    `json:"localQueues"`
	// Kueue is false when Kueue's API is not installed.
	Kueue bool `json:"kueue"`
}

func resourceQuotaView(q *corev1.ResourceQuota) ResourceQuotaView {
	v := ResourceQuotaView{Name: q.Name, Namespace: q.Namespace, Resources: []Usage{}}
	names := make([]string, 0, len(q.Spec.Hard))
	for n := range q.Spec.Hard {
		names = append(names, string(n))
	}
	sort.Strings(names)
	for _, n := range names {
		hard := q.Spec.Hard[corev1.ResourceName(n)]
		v.Resources = append(v.Resources, usage(n, "", &hard, q.Status.Used[corev1.ResourceName(n)]))
	}
	return v
}

func clusterQueueView(cq *kueue.ClusterQueue) *ClusterQueueView {
	v := &ClusterQueueView{Name: cq.Name, Cohort: string(cq.Spec.CohortName), Pending: cq.Status.PendingWorkloads, Admitted: cq.Status.AdmittedWorkloads, Resources: []Usage{}}
	for _, rg := range cq.Spec.ResourceGroups {
		for _, f := range rg.Flavors {
			for _, r := range f.Resources {
				nominal := r.NominalQuota
				v.Resources = append(v.Resources, usage(string(r.Name), string(f.Name), &nominal, quota.Reserved(cq, f.Name, r.Name)))
			}
		}
	}
	return v
}

func localQueueView(lq *kueue.LocalQueue) LocalQueueView {
	v := LocalQueueView{Name: lq.Name, Namespace: lq.Namespace, ClusterQueue: string(lq.Spec.ClusterQueue),
		Pending: lq.Status.PendingWorkloads, Admitted: lq.Status.AdmittedWorkloads, Usage: []Usage{}}
	for _, f := range lq.Status.FlavorsReservation {
		for _, r := range f.Resources {
			v.Usage = append(v.Usage, usage(string(r.Name), string(f.Name), nil, r.Total))
		}
	}
	return v
}

// kueueMissing says whether err means Kueue's API is not installed.
func kueueMissing(err error) bool {
	return meta.IsNoMatchError(err) || apierrors.IsNotFound(err)
}

func (s *Server) namespaceQuota(w http.ResponseWriter, r *http.Request, c *Clients) {
	ctx, ns := r.Context(), r.PathValue("namespace")
	out := QuotaView{Namespace: ns, ResourceQuotas: []ResourceQuotaView{}, LocalQueues: []LocalQueueView{}, Kueue: true}
	quotas := &corev1.ResourceQuotaList{}
	if err := c.Client.List(ctx, quotas, client.InNamespace(ns)); err != nil {
		writeError(w, err, nil)
		return
	}
	for i := range quotas.Items {
		out.ResourceQuotas = append(out.ResourceQuotas, resourceQuotaView(&quotas.Items[i]))
	}
	lqs := &kueue.LocalQueueList{}
	err := c.Client.List(ctx, lqs, client.InNamespace(ns))
	switch {
	case kueueMissing(err):
		out.Kueue = false
	case err != nil:
		writeError(w, err, nil)
		return
	}
	for i := range lqs.Items {
		v := localQueueView(&lqs.Items[i])
		// Team members often may not read cluster-scoped queues; the page
		// then shows the LocalQueue's own usage only.
		cq := &kueue.ClusterQueue{}
		if err := c.Client.Get(ctx, types.NamespacedName{Name: v.ClusterQueue}, cq); err != nil {
			_, body := errorBody(err)
			v.ClusterQueueError = body.Error
		} else {
			v.ClusterQueueStatus = clusterQueueView(cq)
		}
		out.LocalQueues = append(out.LocalQueues, v)
	}
	writeJSON(w, http.StatusOK, out)
}

// ClusterQuota is the admin view's quota page: every namespace's quotas
// and every ClusterQueue.
type ClusterQuota struct {
	Namespaces    []QuotaView        `json:"namespaces"`
	ClusterQueues []ClusterQueueView `json:"clusterQueues"`
	Kueue         bool               `json:"kueue"`
}

func (s *Server) clusterQuota(w http.ResponseWriter, r *http.Request, c *Clients) {
	ctx := r.Context()
	quotas := &corev1.ResourceQuotaList{}
	if err := c.Client.List(ctx, quotas); err != nil {
		writeError(w, err, nil)
		return
	}
	byNS := map[string]*QuotaView{}
	view := func(ns string) *QuotaView {
		if byNS[ns] == nil {
			byNS[ns] = &QuotaView{Namespace: ns, ResourceQuotas: []ResourceQuotaView{}, LocalQueues: []LocalQueueView{}, Kueue: true}
		}
		return byNS[ns]
	}
	for i := range quotas.Items {
		v := view(quotas.Items[i].Namespace)
		v.ResourceQuotas = append(v.ResourceQuotas, resourceQuotaView(&quotas.Items[i]))
	}
	out := ClusterQuota{Namespaces: []QuotaView{}, ClusterQueues: []ClusterQueueView{}, Kueue: true}
	cqs := &kueue.ClusterQueueList{}
	err := c.Client.List(ctx, cqs)
	switch {
	case kueueMissing(err):
		out.Kueue = false
	case err != nil:
		writeError(w, err, nil)
		return
	default:
		byName := map[string]*ClusterQueueView{}
		for i := range cqs.Items {
			v := clusterQueueView(&cqs.Items[i])
			out.ClusterQueues = append(out.ClusterQueues, *v)
			byName[v.Name] = v
		}
		lqs := &kueue.LocalQueueList{}
		if err := c.Client.List(ctx, lqs); err != nil {
			writeError(w, err, nil)
			return
		}
		for i := range lqs.Items {
			lv := localQueueView(&lqs.Items[i])
			lv.ClusterQueueStatus = byName[lv.ClusterQueue]
			v := view(lv.Namespace)
			v.LocalQueues = append(v.LocalQueues, lv)
		}
	}
	for _, v := range byNS {
		v.Kueue = out.Kueue
		out.Namespaces = append(out.Namespaces, *v)
	}
	sort.Slice(out.Namespaces, func(i, j int) bool { return out.Namespaces[i].Namespace < out.Namespaces[j].Namespace })
	sort.Slice(out.ClusterQueues, func(i, j int) bool { return out.ClusterQueues[i].Name < out.ClusterQueues[j].Name })
	writeJSON(w, http.StatusOK, out)
}
