package mpijob

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// CacheOptions keeps only the pods of MPIJobs in the controller's cache, so
// its memory follows the number of MPIJob pods, not of all pods.
func CacheOptions() cache.Options {
	req, err := labels.NewRequirement(kubeflow.OperatorNameLabel, selection.Equals, []string{kubeflow.OperatorName})
	if err != nil {
		panic(err) // a constant, valid requirement
	}
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Pod{}: {Label: labels.NewSelector().Add(*req)},
	}}
}
