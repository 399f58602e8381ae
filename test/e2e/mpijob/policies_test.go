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
// still refuses an invalid job, and one that breaks the platform's pod
// policy: it fails with the field messages the webhook would give and
// creates nothing, so a webhook outage (or a bypass) never lets such a job
// run.
func TestControllerRefusesInvalidJobsWithoutWebhooks(t *testing.T) {
	ns := env.CreateNamespace(t, "invalid")
	cases := map[string]struct {
		mutate     func(*kubeflow.MPIJob)
		wantReason string
		wantMsg    []string
	}{
		"zero-slots": {
			mutate:     func(j *kubeflow.MPIJob) { j.Spec.SlotsPerWorker = ptr.To[int32](0) },
			wantReason: "ValidationError",
			wantMsg:    []string{"spec.slotsPerWorker: Invalid value: 0: must be at least 1"},
		},
		"host-path": {
			mutate: func(j *kubeflow.MPIJob) {
				s := &j.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template.Spec
				s.Volumes = append(s.Volumes, corev1.Volume{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
			},
			wantReason: "PolicyViolation",
			wantMsg: []string{
				"spec.mpiReplicaSpecs[Worker].template.spec.volumes[0].hostPath: Forbidden: hostPath volumes are not allowed on this platform",
				"spec.webhooks.allowPrivileged=true in the MPIJobPlatform",
			},
		},
		"privileged": {
			mutate: func(j *kubeflow.MPIJob) {
				c := &j.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Spec.Containers[0]
				c.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
			},
			wantReason: "PolicyViolation",
			wantMsg: []string{
				"spec.mpiReplicaSpecs[Launcher].template.spec.containers[0].securityContext.privileged: Forbidden: privileged containers are not allowed on this platform",
				"spec.webhooks.allowPrivileged=true in the MPIJobPlatform",
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			job := simpleJob(ns, name, 2)
			tc.mutate(job)
			if err := env.Client.Create(ctx, job); err != nil {
				t.Fatalf("the CRD alone accepts this job; got %v", err)
			}
			failed := waitCondition(t, job, kubeflow.JobFailed)
			c := condition(failed, kubeflow.JobFailed)
			if c.Reason != tc.wantReason {
				t.Errorf("Failed condition = %s: %s; want reason %s", c.Reason, c.Message, tc.wantReason)
			}
			for _, want := range tc.wantMsg {
				if !strings.Contains(c.Message, want) {
					t.Errorf("Failed message lacks %q:\n%s", want, c.Message)
				}
			}
			if created := condition(failed, kubeflow.JobCreated); created != nil || failed.Status.CompletionTime == nil {
				t.Errorf("Created = %+v, completionTime %v: want no Created condition and a completion time", created, failed.Status.CompletionTime)
			}
			// The controller builds the Service, ConfigMap and launcher Job
			// before or beside any pod: none of them means no pod ever was.
			for child, obj := range map[string]client.Object{
				job.Name: &corev1.Service{}, job.Name + "-config": &corev1.ConfigMap{}, job.Name + "-launcher": &batchv1.Job{},
			} {
				if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: child}, obj); !apierrors.IsNotFound(err) {
					t.Errorf("%T %s: %v; want none for a refused job", obj, child, err)
				}
			}
			for _, role := range []string{kubeflow.RoleWorker, kubeflow.RoleLauncher} {
				if pods := jobPods(t, job, role); len(pods) != 0 {
					t.Errorf("a refused job got %d %s pods", len(pods), role)
				}
			}
			framework.Eventually(t, framework.DefaultTimeout, "a "+tc.wantReason+" warning event", func(ctx context.Context) (bool, string, error) {
				evs, err := env.Clientset.EventsV1().Events(ns).List(ctx, metav1ListFor(job.Name))
				if err != nil {
					return false, "", err
				}
				for _, e := range evs.Items {
					if e.Reason == tc.wantReason && e.Type == corev1.EventTypeWarning {
						return true, "", nil
					}
				}
				return false, fmt.Sprintf("%d events", len(evs.Items)), nil
			})
		})
	}
}
