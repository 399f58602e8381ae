package mpijob

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
)

func TestLauncherMustWait(t *testing.T) {
	job := func(impl kubeflow.MPIImplementation, policy kubeflow.LauncherCreationPolicy, suspended bool) *kubeflow.MPIJob {
		return wrappers.MakeMPIJob("pi", "team-a").Implementation(impl).LauncherCreationPolicy(policy).Suspend(suspended).Obj()
	}
	worker := func(ip string, ready bool) corev1.Pod {
		p := corev1.Pod{Status: corev1.PodStatus{PodIP: ip}}
		if ready {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}
		return p
	}
	deleting := worker("10.0.0.9", true)
	deleting.DeletionTimestamp = &metav1.Time{}
	addressed := []corev1.Pod{worker("10.0.0.1", false), worker("10.0.0.2", false)}
	ready := []corev1.Pod{worker("10.0.0.1", true), worker("10.0.0.2", true)}
	for _, tc := range []struct {
		name    string
		job     *kubeflow.MPIJob
		workers []corev1.Pod
		want    bool
	}{
		{"OpenMPI at startup", job(kubeflow.MPIImplementationOpenMPI, kubeflow.LauncherCreationPolicyAtStartup, false), nil, false},
		{"OpenMPI suspended", job(kubeflow.MPIImplementationOpenMPI, kubeflow.LauncherCreationPolicyAtStartup, true), nil, false},
		{"OpenMPI waiting for Ready", job(kubeflow.MPIImplementationOpenMPI, kubeflow.LauncherCreationPolicyWaitForWorkersReady, false), addressed, true},
		{"OpenMPI workers Ready", job(kubeflow.MPIImplementationOpenMPI, kubeflow.LauncherCreationPolicyWaitForWorkersReady, false), ready, false},
		{"Intel without workers", job(kubeflow.MPIImplementationIntel, kubeflow.LauncherCreationPolicyAtStartup, false), nil, true},
		{"Intel one worker without address", job(kubeflow.MPIImplementationIntel, kubeflow.LauncherCreationPolicyAtStartup, false),
			[]corev1.Pod{worker("10.0.0.1", false), worker("", false)}, true},
		{"Intel a deleted worker does not count", job(kubeflow.MPIImplementationIntel, kubeflow.LauncherCreationPolicyAtStartup, false),
			[]corev1.Pod{worker("10.0.0.1", false), deleting}, true},
		{"MPICH all addressed", job(kubeflow.MPIImplementationMPICH, kubeflow.LauncherCreationPolicyAtStartup, false), addressed, false},
		{"MPICH suspended", job(kubeflow.MPIImplementationMPICH, kubeflow.LauncherCreationPolicyAtStartup, true), addressed, true},
		{"MPICH waiting for Ready", job(kubeflow.MPIImplementationMPICH, kubeflow.LauncherCreationPolicyWaitForWorkersReady, false), addressed, true},
	} {
		if got := launcherMustWait(tc.job, tc.workers); got != tc.want {
			t.Errorf("%s: launcherMustWait = %v, want %v", tc.name, got, tc.want)
		}
	}
}
