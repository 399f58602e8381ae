package webhook

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
)

// gpuJob is a job with a small launcher and n workers of g GPUs each.
func gpuJob(name string, n, g int32) *kubeflow.MPIJob {
	return wrappers.MakeMPIJob(name, "team-a").Image("mpi:1").Workers(n).
		LauncherResources("500m", "1Gi").WorkerResources("8", "64Gi", int64(g)).Defaulted()
}

func TestJobTotals(t *testing.T) {
	job := gpuJob("train", 4, 8)
	// An init container larger than the main one raises the pod's request.
	w := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker]
	w.Template.Spec.InitContainers = []corev1.Container{{Name: "fetch", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10")}}}}
	requests, limits, pods := jobTotals(jobPodSets(job))
	if got := formatList(requests); got != "cpu=40500m, memory=257Gi, nvidia.com/gpu=32" {
		t.Errorf("requests = %s", got)
	}
	if got := formatList(limits); got != "nvidia.com/gpu=32" {
		t.Errorf("limits = %s", got)
	}
	if pods != 5 {
		t.Errorf("pods = %d, want 5 (launcher + 4 workers)", pods)
	}
}

func quota(hard, used corev1.ResourceList) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "compute", Namespace: "team-a"},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
		Status:     corev1.ResourceQuotaStatus{Hard: hard, Used: used},
	}
}

func list(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func TestCheckResourceQuota(t *testing.T) {
	requests, limits, pods := jobTotals(jobPodSets(gpuJob("train", 4, 8)))
	cases := []struct {
		name        string
		q           *corev1.ResourceQuota
		never       []string
		later       []string
		wantMessage string
	}{
		{name: "fits", q: quota(list("requests.nvidia.com/gpu", "64", "pods", "10"), list("requests.nvidia.com/gpu", "8", "pods", "2"))},
		{
			name:        "GPUs exceed the hard limit",
			q:           quota(list("requests.nvidia.com/gpu", "24", "cpu", "100"), list("requests.nvidia.com/gpu", "8")),
			never:       []string{"requests.nvidia.com/gpu"},
			wantMessage: "requests.nvidia.com/gpu: requested 32, used 8, available 16, limit 24",
		},
		{
			name:        "fits only once others finish",
			q:           quota(list("requests.nvidia.com/gpu", "40", "memory", "1Ti", "limits.nvidia.com/gpu", "40"), list("requests.nvidia.com/gpu", "16", "memory", "512Gi", "limits.nvidia.com/gpu", "16")),
			later:       []string{"limits.nvidia.com/gpu", "requests.nvidia.com/gpu"},
			wantMessage: "requests.nvidia.com/gpu: requested 32, used 16, available 24, limit 40",
		},
		{name: "pod count", q: quota(list("pods", "3"), nil), never: []string{"pods"}, wantMessage: "pods: requested 5, used 0, available 3, limit 3"},
		{name: "object counts are not the job's", q: quota(list("count/secrets", "0", "services", "0"), nil)},
		{name: "scoped quotas are skipped", q: func() *corev1.ResourceQuota {
			q := quota(list("pods", "1"), nil)
			q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}
			return q
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := checkResourceQuota(tc.q, requests, limits, pods)
			if got := names(v.Never); strings.Join(got, ",") != strings.Join(tc.never, ",") {
				t.Errorf("never = %v, want %v", got, tc.never)
			}
			if got := names(v.Later); strings.Join(got, ",") != strings.Join(tc.later, ",") {
				t.Errorf("later = %v, want %v", got, tc.later)
			}
			if tc.wantMessage != "" && !strings.Contains(joinShortfalls(append(v.Never, v.Later...)), tc.wantMessage) {
				t.Errorf("messages %q lack %q", joinShortfalls(append(v.Never, v.Later...)), tc.wantMessage)
			}
		})
	}
}

func names(s []shortfall) []string {
	var out []string
	for _, x := range s {
		out = append(out, x.Resource)
	}
	return out
}

type flavorQuota struct {
	flavor             string
	gpus               string
	borrowing, lending *string
	reservedGPUs       string
}

func clusterQueue(name, cohort string, flavors ...flavorQuota) *kueue.ClusterQueue {
	cq := &kueue.ClusterQueue{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kueue.ClusterQueueSpec{CohortName: kueue.CohortReference(cohort)}}
	group := kueue.ResourceGroup{CoveredResources: []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, "nvidia.com/gpu"}}
	for _, f := range flavors {
		q := func(r corev1.ResourceName, v string) kueue.ResourceQuota {
			rq := kueue.ResourceQuota{Name: r, NominalQuota: resource.MustParse(v)}
			if r == "nvidia.com/gpu" {
				if f.borrowing != nil {
					rq.BorrowingLimit = ptr.To(resource.MustParse(*f.borrowing))
				}
				if f.lending != nil {
					rq.LendingLimit = ptr.To(resource.MustParse(*f.lending))
				}
			}
			return rq
		}
		group.Flavors = append(group.Flavors, kueue.FlavorQuotas{Name: kueue.ResourceFlavorReference(f.flavor), Resources: []kueue.ResourceQuota{
			q(corev1.ResourceCPU, "1000"), q(corev1.ResourceMemory, "10Ti"), q("nvidia.com/gpu", f.gpus),
		}})
		if f.reservedGPUs != "" {
			cq.Status.FlavorsReservation = append(cq.Status.FlavorsReservation, kueue.FlavorUsage{Name: kueue.ResourceFlavorReference(f.flavor), Resources: []kueue.ResourceUsage{{Name: "nvidia.com/gpu", Total: resource.MustParse(f.reservedGPUs)}}})
		}
	}
	cq.Spec.ResourceGroups = []kueue.ResourceGroup{group}
	return cq
}

func TestCheckClusterQueue(t *testing.T) {
	sets := jobPodSets(gpuJob("train", 4, 8)) // 32 GPUs, 8 per worker
	cases := []struct {
		name         string
		cq           *kueue.ClusterQueue
		cohort       cohortView
		never, later bool
		wantMessage  string
	}{
		{name: "fits now", cq: clusterQueue("cq", "", flavorQuota{flavor: "h100", gpus: "32"})},
		{
			name: "fits later", cq: clusterQueue("cq", "", flavorQuota{flavor: "h100", gpus: "32", reservedGPUs: "16"}), later: true,
			wantMessage: "nvidia.com/gpu: requested 32, used 16, available 16, limit 32",
		},
		{
			name: "nominal too small, no cohort", cq: clusterQueue("cq", "", flavorQuota{flavor: "h100", gpus: "24", reservedGPUs: "8"}), never: true,
			wantMessage: "nvidia.com/gpu: requested 32, used 8, available 16, limit 24 (ClusterQueue cq: h100 nominal 24)",
		},
		{
			name: "borrowing limit makes it fit", cq: clusterQueue("cq", "pool", flavorQuota{flavor: "h100", gpus: "24", borrowing: ptr.To("8")}),
			cohort: cohortView{Peers: []kueue.ClusterQueue{*clusterQueue("other", "pool", flavorQuota{flavor: "h100", gpus: "64"})}},
			later:  true, // it needs to borrow, so not admitted on its nominal quota now
		},
		{
			name: "borrowing bounded by what peers lend", cq: clusterQueue("cq", "pool", flavorQuota{flavor: "h100", gpus: "24"}),
			cohort: cohortView{Peers: []kueue.ClusterQueue{*clusterQueue("other", "pool", flavorQuota{flavor: "h100", gpus: "64", lending: ptr.To("4")})}},
			never:  true, wantMessage: "limit 28 (ClusterQueue cq in cohort pool: h100 nominal 24 + borrowing 4)",
		},
		{
			name: "a Cohort object may hold more quota: never reject", cq: clusterQueue("cq", "pool", flavorQuota{flavor: "h100", gpus: "24"}),
			cohort: cohortView{HasObject: true}, later: true,
		},
		{
			name: "workers must share one flavor", cq: clusterQueue("cq", "", flavorQuota{flavor: "h100", gpus: "16"}, flavorQuota{flavor: "a100", gpus: "16"}),
			never: true, wantMessage: "the 4 worker pod(s) must share one flavor and the largest, h100, holds at most 16",
		},
		{
			name: "resource not covered", cq: func() *kueue.ClusterQueue {
				cq := clusterQueue("cpu-only", "", flavorQuota{flavor: "cpu", gpus: "0"})
				cq.Spec.ResourceGroups[0].CoveredResources = cq.Spec.ResourceGroups[0].CoveredResources[:2]
				cq.Spec.ResourceGroups[0].Flavors[0].Resources = cq.Spec.ResourceGroups[0].Flavors[0].Resources[:2]
				return cq
			}(),
			never: true, wantMessage: "ClusterQueue cpu-only has no quota for nvidia.com/gpu",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := checkClusterQueue(tc.cq, tc.cohort, sets)
			if (len(v.Never) > 0) != tc.never || (len(v.Later) > 0) != tc.later {
				t.Fatalf("never=%v later=%v, want never=%v later=%v", v.Never, v.Later, tc.never, tc.later)
			}
			if msg := joinShortfalls(append(v.Never, v.Later...)); tc.wantMessage != "" && !strings.Contains(msg, tc.wantMessage) {
				t.Errorf("message %q lacks %q", msg, tc.wantMessage)
			}
		})
	}
}

func TestCheckClusterQueueCountsPodsWhenCovered(t *testing.T) {
	cq := clusterQueue("cq", "", flavorQuota{flavor: "h100", gpus: "64"})
	g := &cq.Spec.ResourceGroups[0]
	g.CoveredResources = append(g.CoveredResources, corev1.ResourcePods)
	g.Flavors[0].Resources = append(g.Flavors[0].Resources, kueue.ResourceQuota{Name: corev1.ResourcePods, NominalQuota: resource.MustParse("4")})
	v := checkClusterQueue(cq, cohortView{}, jobPodSets(gpuJob("train", 4, 8)))
	if len(v.Never) != 1 || v.Never[0].Resource != "pods" || v.Never[0].Requested.Value() != 5 {
		t.Errorf("never = %v, want pods 5 > 4", v.Never)
	}
}
