package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// The Kueue scenario sends every job through a LocalQueue whose
// ClusterQueue has GPUs for a third of the jobs at a time: the path of
// every real user. Kueue suspends each MPIJob at create, admits as many as
// the quota holds, and admits the next ones as jobs finish. The floor there
// is the bench acting as a controller that costs nothing: once Kueue admits
// a job, it creates the job's objects at once, and once the launcher Job
// completes it writes the MPIJob's Succeeded condition, so that Kueue
// releases the quota.

// benchQueue is the LocalQueue (and ClusterQueue) of the Kueue scenario.
const benchQueue = "bench"

// queueQuota is the ClusterQueue's GPUs: a third of what the jobs ask.
func queueQuota(o options) int { return max(o.Workers, o.Jobs*o.Workers/3) }

// createQueues makes the Kueue scenario's ResourceFlavor, ClusterQueue and
// LocalQueue, and waits until the ClusterQueue is active.
func createQueues(ctx context.Context, cl client.Client, o options) error {
	objs := []client.Object{
		&kueue.ResourceFlavor{ObjectMeta: metav1.ObjectMeta{Name: "gpu"}},
		gpuClusterQueue(benchQueue, "100k", "100Ti", int64(queueQuota(o))),
		&kueue.LocalQueue{ObjectMeta: metav1.ObjectMeta{Namespace: benchNamespace, Name: benchQueue}, Spec: kueue.LocalQueueSpec{ClusterQueue: benchQueue}},
	}
	for _, obj := range objs {
		if err := cl.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		cq := &kueue.ClusterQueue{}
		if err := cl.Get(ctx, client.ObjectKey{Name: benchQueue}, cq); err != nil {
			return err
		}
		if apimeta.IsStatusConditionTrue(cq.Status.Conditions, kueue.ClusterQueueActive) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ClusterQueue %s not active after a minute: %+v", benchQueue, cq.Status.Conditions)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// gpuClusterQueue is a ClusterQueue for every namespace with one flavor,
// "gpu", holding cpu, memory and gpus nvidia.com/gpu.
func gpuClusterQueue(name, cpu, memory string, gpus int64) *kueue.ClusterQueue {
	return &kueue.ClusterQueue{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kueue.ClusterQueueSpec{
		NamespaceSelector: &metav1.LabelSelector{},
		ResourceGroups: []kueue.ResourceGroup{{
			CoveredResources: []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, cluster.GPUResource},
			Flavors: []kueue.FlavorQuotas{{Name: "gpu", Resources: []kueue.ResourceQuota{
				{Name: corev1.ResourceCPU, NominalQuota: resource.MustParse(cpu)},
				{Name: corev1.ResourceMemory, NominalQuota: resource.MustParse(memory)},
				{Name: cluster.GPUResource, NominalQuota: *resource.NewQuantity(gpus, resource.DecimalSI)},
			}}},
		}},
	}}
}

// admitted says whether Kueue has let a job start: it suspends each job at
// create and resumes it on admission.
func admitted(job *kubeflow.MPIJob) bool {
	return job.Spec.RunPolicy.Suspend != nil && !*job.Spec.RunPolicy.Suspend
}

// finishFloorJob writes the Succeeded condition of a floor job's MPIJob,
// as a controller would once its launcher completed, so that Kueue
// releases its quota.
func finishFloorJob(ctx context.Context, cl client.Client, name string) error {
	now := metav1.Now()
	job := &kubeflow.MPIJob{ObjectMeta: metav1.ObjectMeta{Namespace: benchNamespace, Name: name}}
	status := kubeflow.JobStatus{CompletionTime: &now, Conditions: []kubeflow.JobCondition{
		{Type: kubeflow.JobSucceeded, Status: corev1.ConditionTrue, Reason: "LauncherCompleted", LastTransitionTime: now, LastUpdateTime: now},
	}}
	body, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	if err := cl.Status().Patch(ctx, job, client.RawPatch(types.MergePatchType, body)); err != nil {
		return fmt.Errorf("finishing floor job %s: %w", name, err)
	}
	return nil
}
