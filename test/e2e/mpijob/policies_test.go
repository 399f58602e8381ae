package mpijob_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

// With runLauncherAsWorker the launcher is rank 0: first in the hostfile,
// selected by the Service, and worker indexes start at 1.
func TestLauncherAsWorker(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "lw")
	job := simpleJob(ns, "lw", 2)
	job.Spec.RunLauncherAsWorker = ptr.To(true)
	finishLauncher(job, "2s", 0)
	if err := env.Client.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, job, kubeflow.JobSucceeded)
	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "lw-config"}, cm); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(cm.Data["hostfile"]), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "lw-launcher.lw.") {
		t.Errorf("hostfile %q: want the launcher first, then 2 workers", cm.Data["hostfile"])
	}
	svc := &corev1.Service{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "lw"}, svc); err != nil {
		t.Fatal(err)
	}
	if _, selectsRole := svc.Spec.Selector[kubeflow.JobRoleLabel]; selectsRole || !svc.Spec.PublishNotReadyAddresses {
		t.Errorf("service selector %v, publishNotReadyAddresses %v: want every pod of the job, not-ready ones too", svc.Spec.Selector, svc.Spec.PublishNotReadyAddresses)
	}
}

// WaitForWorkersReady creates the launcher only once every worker is Ready,
// also when Kueue admits launcher and workers as one gang: no deadlock.
func TestWaitForWorkersReadyUnderKueue(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "wait")
	createQueue(t, ns, 4)
	job := queued(simpleJob(ns, "patient", 3))
	job.Spec.LauncherCreationPolicy = kubeflow.LauncherCreationPolicyWaitForWorkersReady
	finishLauncher(job, "1s", 0)
	if err := env.Client.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	// The launcher Job must not exist before all workers are Ready.
	framework.Eventually(t, framework.DefaultTimeout, "workers Ready, then the launcher", func(ctx context.Context) (bool, string, error) {
		launcher := &batchv1.Job{}
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "patient-launcher"}, launcher)
		ready := 0
		for _, p := range jobPods(t, job, kubeflow.RoleWorker) {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		switch {
		case apierrors.IsNotFound(err):
			return false, fmt.Sprintf("%d/3 workers Ready, no launcher yet", ready), nil
		case err != nil:
			return false, "", err
		case launcher.CreationTimestamp.IsZero():
			return false, "", nil
		}
		return true, "", nil
	})
	launcher := &batchv1.Job{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "patient-launcher"}, launcher); err != nil {
		t.Fatal(err)
	}
	workers := jobPods(t, job, kubeflow.RoleWorker)
	if len(workers) != 3 {
		t.Fatalf("%d workers, want 3", len(workers))
	}
	for _, p := range workers {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && (c.Status != corev1.ConditionTrue || launcher.CreationTimestamp.Before(&c.LastTransitionTime)) {
				t.Errorf("launcher created at %v before %s was Ready (%s at %v)", launcher.CreationTimestamp, p.Name, c.Status, c.LastTransitionTime)
			}
		}
	}
	waitCondition(t, job, kubeflow.JobSucceeded)
}

// Without admission webhooks (this suite registers none) the controller
// still refuses an invalid job: it fails with the validation message and
// creates nothing, so a webhook outage never lets an invalid job run.
func TestControllerRefusesInvalidJobsWithoutWebhooks(t *testing.T) {
	ns := env.CreateNamespace(t, "invalid")
	job := simpleJob(ns, "zero-slots", 2)
	job.Spec.SlotsPerWorker = ptr.To[int32](0)
	if err := env.Client.Create(context.Background(), job); err != nil {
		t.Fatalf("the CRD alone accepts this job; got %v", err)
	}
	failed := waitCondition(t, job, kubeflow.JobFailed)
	c := condition(failed, kubeflow.JobFailed)
	if c.Reason != "ValidationError" || !strings.Contains(c.Message, "spec.slotsPerWorker: Invalid value: 0: must be at least 1") {
		t.Errorf("Failed condition = %s: %s", c.Reason, c.Message)
	}
	if pods := jobPods(t, job, kubeflow.RoleWorker); len(pods) != 0 {
		t.Errorf("an invalid job got %d worker pods", len(pods))
	}
}
