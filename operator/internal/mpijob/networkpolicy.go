package mpijob

import (
	"context"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// desiredNetworkPolicy admits traffic to the job's workers (and to a
// launcher that is a worker) only from the job's own pods.
func desiredNetworkPolicy(job *kubeflow.MPIJob) *networkingv1.NetworkPolicy {
	ownPods := metav1.LabelSelector{MatchLabels: map[string]string{
		kubeflow.OperatorNameLabel: kubeflow.OperatorName,
		kubeflow.JobNameLabel:      job.Name,
	}}
	target := ownPods.DeepCopy()
	if !job.LauncherIsWorker() {
		target.MatchLabels[kubeflow.JobRoleLabel] = kubeflow.RoleWorker
	}
	return &networkingv1.NetworkPolicy{
		ObjectMeta: childMeta(job, job.Name, appLabels(job)),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *target,
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &ownPods}}}},
		},
	}
}

func (r *Reconciler) syncNetworkPolicy(ctx context.Context, s *state) error {
	if !r.Config.NetworkPolicy {
		return nil
	}
	return r.ensureChild(ctx, s, s.job.Name, &networkingv1.NetworkPolicy{}, "NetworkPolicy", func() (client.Object, error) {
		return desiredNetworkPolicy(s.job), nil
	})
}
