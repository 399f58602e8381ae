package mpijob

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// CacheOptions keeps only MPIJob children (pods, launcher Jobs,
// ConfigMaps, Services, NetworkPolicies) in the controller's cache, so its
// memory follows the number of MPIJobs, not everything in the cluster,
// and without their managed fields.
// Secrets are never cached: the controller reads its SSH Secrets by name.
func CacheOptions() cache.Options {
	req, err := labels.NewRequirement(kubeflow.OperatorNameLabel, selection.Equals, []string{kubeflow.OperatorName})
	if err != nil {
		panic(err) // a constant, valid requirement
	}
	ours := cache.ByObject{Label: labels.NewSelector().Add(*req)}
	return cache.Options{
		// Managed fields are most of a small object's bytes and the
		// controller never reads them.
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}:                 ours,
			&corev1.ConfigMap{}:           ours,
			&corev1.Service{}:             ours,
			&batchv1.Job{}:                ours,
			&networkingv1.NetworkPolicy{}: ours,
		},
	}
}

// podJobIndex indexes the cached pods by the name of their MPIJob (the
// job-name label): a pass reads its own job's pods, without scanning every
// pod of the namespace (which made each pass cost more as jobs were added).
const podJobIndex = "mpijob.kubeflow.org/job-name"

// podJobName is podJobIndex's value of a pod.
func podJobName(obj client.Object) []string {
	if name := obj.GetLabels()[kubeflow.JobNameLabel]; name != "" {
		return []string{name}
	}
	return nil
}
