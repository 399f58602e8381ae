package devcluster_test

import (
	"context"
	"fmt"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// queuedJob asks for 4 GPUs for as long as finishAfter says.
func queuedJob(ns, name, queue, finishAfter string) *batchv1.Job {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"kueue.x-k8s.io/queue-name": queue}},
		Spec: batchv1.JobSpec{
			Suspend:      ptr.To(true),
			BackoffLimit: ptr.To[int32](0),
			Template: podTemplate(map[string]string{cluster.FinishAfterAnnotation: finishAfter}, corev1.RestartPolicyNever, corev1.ResourceList{
				corev1.ResourceCPU:  resource.MustParse("1"),
				cluster.GPUResource: resource.MustParse("4"),
			}),
		},
	}
	return job
}

func suspended(ctx context.Context, job *batchv1.Job) (bool, error) {
	got := &batchv1.Job{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(job), got); err != nil {
		return false, err
	}
	return ptr.Deref(got.Spec.Suspend, false), nil
}

func TestKueueAdmitsWithinQuotaAndQueuesTheRest(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "kueue")
	cq := "cq-" + ns
	objs := []*unstructured.Unstructured{
		framework.KueueObject("ResourceFlavor", "", "gpu-"+ns, map[string]any{
			"nodeLabels": map[string]any{"nvidia.com/gpu.product": cluster.GPUProduct},
		}),
		framework.KueueObject("ClusterQueue", "", cq, map[string]any{
			"namespaceSelector": map[string]any{},
			"resourceGroups": []any{map[string]any{
				"coveredResources": []any{"cpu", "nvidia.com/gpu"},
				"flavors": []any{map[string]any{
					"name": "gpu-" + ns,
					"resources": []any{
						map[string]any{"name": "cpu", "nominalQuota": "8"},
						map[string]any{"name": "nvidia.com/gpu", "nominalQuota": "4"},
					},
				}},
			}},
		}),
		framework.KueueObject("LocalQueue", ns, "team", map[string]any{"clusterQueue": cq}),
	}
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatalf("creating %s %s: %v", o.GetKind(), o.GetName(), err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}

	first := queuedJob(ns, "first", "team", "3s")
	second := queuedJob(ns, "second", "team", "1s")
	if err := env.Client.Create(ctx, first); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, framework.DefaultTimeout, "the first Job admitted (unsuspended)", func(ctx context.Context) (bool, string, error) {
		s, err := suspended(ctx, first)
		return !s, fmt.Sprintf("suspended=%v", s), err
	})
	if err := env.Client.Create(ctx, second); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, framework.DefaultTimeout, "the second Job's Workload pending for quota", func(ctx context.Context) (bool, string, error) {
		wls := &unstructured.UnstructuredList{}
		wls.SetAPIVersion("kueue.x-k8s.io/v1beta2")
		wls.SetKind("WorkloadList")
		if err := env.Client.List(ctx, wls, client.InNamespace(ns)); err != nil {
			return false, "", err
		}
		for _, wl := range wls.Items {
			owners := wl.GetOwnerReferences()
			if len(owners) == 0 || owners[0].Name != second.Name {
				continue
			}
			conds, _, _ := unstructured.NestedSlice(wl.Object, "status", "conditions")
			for _, raw := range conds {
				c, _ := raw.(map[string]any)
				if c["type"] == "QuotaReserved" && c["status"] == "False" && c["reason"] == "Pending" {
					return true, "", nil
				}
			}
			return false, fmt.Sprintf("workload conditions %v", conds), nil
		}
		return false, "no workload for the second Job yet", nil
	})
	if s, err := suspended(ctx, second); err != nil || !s {
		t.Fatalf("second Job suspended = %v (err %v) while the first holds the quota, want true", s, err)
	}
	pods := &corev1.PodList{}
	if err := env.Client.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{"job-name": second.Name}); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 0 {
		t.Fatalf("the queued Job has %d pods, want none", len(pods.Items))
	}
	waitJobCondition(t, first, batchv1.JobComplete)
	framework.Eventually(t, framework.DefaultTimeout, "the second Job admitted once the first finished", func(ctx context.Context) (bool, string, error) {
		s, err := suspended(ctx, second)
		return !s, fmt.Sprintf("suspended=%v", s), err
	})
	waitJobCondition(t, second, batchv1.JobComplete)
}
