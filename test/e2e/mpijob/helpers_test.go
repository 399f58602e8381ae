package mpijob_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// simpleJob is a small job built in code: workers with one GPU each.
func simpleJob(ns, name string, workers int32) *kubeflow.MPIJob {
	return wrappers.MakeMPIJob(name, ns).SlotsPerWorker(1).Workers(workers).
		ContainerName(kubeflow.MPIReplicaTypeLauncher, "launcher").Command(kubeflow.MPIReplicaTypeLauncher, "mpirun", "python", "train.py").
		Limits(kubeflow.MPIReplicaTypeLauncher, "cpu", "1", "memory", "16Gi").
		ContainerName(kubeflow.MPIReplicaTypeWorker, "worker").Command(kubeflow.MPIReplicaTypeWorker).
		Limits(kubeflow.MPIReplicaTypeWorker, "cpu", "1", "memory", "16Gi", string(cluster.GPUResource), "1").Obj()
}

// finishLauncher makes kwok end the launcher after d with exitCode.
func finishLauncher(job *kubeflow.MPIJob, d string, exitCode int) {
	annotate(&job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template, map[string]string{
		cluster.FinishAfterAnnotation: d, cluster.ExitCodeAnnotation: fmt.Sprint(exitCode),
	})
}

func annotate(t *corev1.PodTemplateSpec, ann map[string]string) {
	if t.Annotations == nil {
		t.Annotations = map[string]string{}
	}
	for k, v := range ann {
		t.Annotations[k] = v
	}
}

func condition(job *kubeflow.MPIJob, t kubeflow.JobConditionType) *kubeflow.JobCondition {
	for i := range job.Status.Conditions {
		if job.Status.Conditions[i].Type == t {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

// waitCondition waits for a condition to be True and returns the job.
func waitCondition(t *testing.T, job *kubeflow.MPIJob, want kubeflow.JobConditionType) *kubeflow.MPIJob {
	t.Helper()
	got := &kubeflow.MPIJob{}
	framework.Eventually(t, framework.DefaultTimeout, fmt.Sprintf("MPIJob %s %s", job.Name, want), func(ctx context.Context) (bool, string, error) {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(job), got); err != nil {
			return false, "", err
		}
		if c := condition(got, want); c != nil && c.Status == corev1.ConditionTrue {
			return true, "", nil
		}
		return false, fmt.Sprintf("conditions %+v", got.Status.Conditions), nil
	})
	return got
}

func jobPods(t *testing.T, job *kubeflow.MPIJob, role string) []corev1.Pod {
	t.Helper()
	pods := &corev1.PodList{}
	if err := env.Client.List(context.Background(), pods, client.InNamespace(job.Namespace),
		client.MatchingLabels{kubeflow.JobNameLabel: job.Name, kubeflow.JobRoleLabel: role}); err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

func metav1ListFor(name string) metav1.ListOptions {
	return metav1.ListOptions{FieldSelector: "regarding.name=" + name}
}
