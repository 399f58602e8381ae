package framework

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// SmallMPIJob is a job for suites that need one to run to Succeeded: a
// launcher that kwok ends after 2 s with exit code 0, and two workers with
// one GPU each (1 CPU and 1Gi requested per pod).
func SmallMPIJob(ns, name string) *kubeflow.MPIJob {
	containers := func(gpu bool) []corev1.Container {
		c := corev1.Container{Name: "mpi", Image: "example.invalid/mpi:1"}
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}
		if gpu {
			c.Resources.Limits = corev1.ResourceList{cluster.GPUResource: resource.MustParse("1")}
		}
		return []corev1.Container{c}
	}
	return &kubeflow.MPIJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: kubeflow.MPIJobSpec{MPIReplicaSpecs: map[kubeflow.MPIReplicaType]*kubeflow.ReplicaSpec{
			kubeflow.MPIReplicaTypeLauncher: {Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{cluster.FinishAfterAnnotation: "2s"}},
				Spec:       corev1.PodSpec{Containers: containers(false)},
			}},
			kubeflow.MPIReplicaTypeWorker: {Replicas: ptr.To[int32](2), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers(true)}}},
		}},
	}
}
