package mpijob

import (
	"context"
	"sync/atomic"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// When the launcher finishes, cleanPodPolicy Running deletes the workers.
// If the status write that records Succeeded then meets a conflict, the
// next pass still sees the job as running in its (stale) copy: it must not
// recreate the deleted workers. (Found by the migration e2e test, where
// upstream's last status write races ours.)
func TestFinishedLauncherNeverRecreatesWorkers(t *testing.T) {
	conflicts := 1
	var created atomic.Int32
	e := newFakeEnv(t, "", interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*corev1.Pod); ok {
				created.Add(1) // a job's workers are created concurrently
			}
			return c.Create(ctx, obj, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			if job, ok := obj.(*kubeflow.MPIJob); ok && conflicts > 0 && isFinished(&job.Status) {
				conflicts--
				return apierrors.NewConflict(schema.GroupResource{Group: kubeflow.GroupName, Resource: "mpijobs"}, job.Name, nil)
			}
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	})
	job := &kubeflow.MPIJob{}
	if err := e.c.Get(context.Background(), client.ObjectKeyFromObject(e.job), job); err != nil {
		t.Fatal(err)
	}
	job.Spec.RunPolicy.CleanPodPolicy = ptr.To(kubeflow.CleanPodPolicyRunning)
	if err := e.c.Update(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	e.reconcile(t) // creates the workers and the launcher
	workers := created.Load()
	if workers == 0 {
		t.Fatal("no workers created")
	}
	l := e.launcher(t)
	l.Status.Conditions = append(l.Status.Conditions,
		batchv1.JobCondition{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue},
		batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue})
	if err := e.c.Status().Update(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	e.reconcile(t) // finishes: deletes running workers; the Succeeded write conflicts
	e.reconcile(t) // the stale pass
	e.reconcile(t)
	if n := created.Load(); n != workers {
		t.Errorf("%d worker pods created after the launcher finished", n-workers)
	}
	for _, p := range e.pods(t) {
		if p.Labels[kubeflow.JobRoleLabel] == kubeflow.RoleWorker {
			t.Errorf("worker %s still exists after cleanPodPolicy Running", p.Name)
		}
	}
	got := &kubeflow.MPIJob{}
	if err := e.c.Get(context.Background(), client.ObjectKeyFromObject(e.job), got); err != nil {
		t.Fatal(err)
	}
	if !isFinished(&got.Status) {
		t.Errorf("job not finished: %+v", got.Status.Conditions)
	}
}
