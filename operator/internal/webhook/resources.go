package webhook

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// podSet is one group of identical pods of a job: the launcher or the
// workers. Kueue admits each pod set into one flavor, so the pre-check
// reasons about them separately as well as in total.
type podSet struct {
	Name     string // "launcher" or "worker", as Kueue names the pod sets
	Count    int64
	Requests corev1.ResourceList // per pod
	Limits   corev1.ResourceList // per pod
}

// total is Count times the per-pod requests.
func (p podSet) total() corev1.ResourceList { return scale(p.Requests, p.Count) }

// jobPodSets returns the pods a (defaulted) MPIJob will create: one launcher
// and its workers. A pod's requests follow the scheduler's rules (init
// containers, sidecars and overhead included), with limits standing in for
// requests that are not set, as the API server would default them.
func jobPodSets(job *kubeflow.MPIJob) []podSet {
	var sets []podSet
	add := func(name string, spec *kubeflow.ReplicaSpec, count int64) {
		if spec == nil || count <= 0 {
			return
		}
		pod := &corev1.Pod{Spec: *spec.Template.Spec.DeepCopy()}
		defaultRequestsFromLimits(pod)
		sets = append(sets, podSet{
			Name:     name,
			Count:    count,
			Requests: resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}),
			Limits:   resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{}),
		})
	}
	add(kubeflow.RoleLauncher, job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher], 1)
	add(kubeflow.RoleWorker, job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker], int64(job.Workers()))
	return sets
}

// jobTotals sums requests and limits over every pod of the job.
func jobTotals(sets []podSet) (requests, limits corev1.ResourceList, pods int64) {
	requests, limits = corev1.ResourceList{}, corev1.ResourceList{}
	for _, s := range sets {
		addTo(requests, s.total())
		addTo(limits, scale(s.Limits, s.Count))
		pods += s.Count
	}
	return requests, limits, pods
}

func defaultRequestsFromLimits(pod *corev1.Pod) {
	fill := func(cs []corev1.Container) {
		for i := range cs {
			r := &cs[i].Resources
			for name, limit := range r.Limits {
				if _, ok := r.Requests[name]; !ok {
					if r.Requests == nil {
						r.Requests = corev1.ResourceList{}
					}
					r.Requests[name] = limit.DeepCopy()
				}
			}
		}
	}
	fill(pod.Spec.InitContainers)
	fill(pod.Spec.Containers)
}

func scale(list corev1.ResourceList, n int64) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name, q := range list {
		out[name] = mul(q, n)
	}
	return out
}

// mul multiplies a quantity exactly (milli-units, so 500m CPU x 3 is 1500m).
func mul(q resource.Quantity, n int64) resource.Quantity {
	if q.Value() < (1<<62)/max(n, 1)/1000 {
		return *resource.NewMilliQuantity(q.MilliValue()*n, q.Format)
	}
	return *resource.NewQuantity(q.Value()*n, q.Format)
}

func addTo(dst, src corev1.ResourceList) {
	for name, q := range src {
		sum := dst[name]
		sum.Add(q)
		dst[name] = sum
	}
}

// sortedNames lists a resource list's names in a stable order: cpu, memory,
// then the rest alphabetically (GPUs after the basics reads naturally).
func sortedNames(list corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(list))
	for n := range list {
		names = append(names, n)
	}
	rank := func(n corev1.ResourceName) int {
		switch n {
		case corev1.ResourceCPU:
			return 0
		case corev1.ResourceMemory:
			return 1
		}
		return 2
	}
	sort.Slice(names, func(i, j int) bool {
		if ri, rj := rank(names[i]), rank(names[j]); ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	return names
}

// formatList renders "cpu=4, memory=16Gi, nvidia.com/gpu=8".
func formatList(list corev1.ResourceList) string {
	parts := make([]string, 0, len(list))
	for _, n := range sortedNames(list) {
		q := list[n]
		parts = append(parts, fmt.Sprintf("%s=%s", n, q.String()))
	}
	return strings.Join(parts, ", ")
}
