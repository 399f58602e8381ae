package mpijob

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// The SSH Secret is never cached (the controller may not list or watch
// Secrets): a new job's is created at once; after a restart it is read by
// name, once, and never regenerated; a Secret of the same name that the job
// does not control fails the job.
func TestSSHSecretIsCreatedOnceAndReadByNameOnly(t *testing.T) {
	for name, tc := range map[string]struct {
		started               bool           // the job had children before this controller started
		existing              *corev1.Secret // already in the cluster
		wantCreates, wantGets int
		wantFailed            bool
	}{
		"new job: created, never read":              {wantCreates: 1},
		"restart: read once by name, not recreated": {started: true, existing: &corev1.Secret{}, wantGets: 1},
		"restart, Secret gone: read, then created":  {started: true, wantGets: 1, wantCreates: 1},
		"name taken by someone else's Secret":       {existing: &corev1.Secret{}, wantCreates: 1, wantGets: 1, wantFailed: true},
	} {
		t.Run(name, func(t *testing.T) {
			creates, gets := 0, 0
			var objs []client.Object
			job := testJob()
			if tc.existing != nil {
				s := tc.existing.DeepCopy()
				s.Namespace, s.Name = job.Namespace, sshSecretName(job)
				if tc.started {
					s.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(job, kubeflow.SchemeGroupVersionKind)}
				}
				objs = append(objs, s)
			}
			e := newFakeEnv(t, "", interceptor.Funcs{
				Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
					if _, ok := obj.(*corev1.Secret); ok {
						creates++
					}
					return c.Create(ctx, obj, opts...)
				},
				Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
					if _, ok := obj.(*corev1.Secret); ok {
						gets++
					}
					return c.Get(ctx, key, obj, opts...)
				},
			}, objs...)
			ctx := context.Background()
			if tc.started {
				got := &kubeflow.MPIJob{}
				if err := e.c.Get(ctx, client.ObjectKeyFromObject(e.job), got); err != nil {
					t.Fatal(err)
				}
				setCondition(&got.Status, kubeflow.JobCreated, corev1.ConditionTrue, ReasonCreated, "created", got.CreationTimestamp)
				if err := e.c.Status().Update(ctx, got); err != nil {
					t.Fatal(err)
				}
			}
			e.reconcile(t)
			e.reconcile(t) // once known, later passes cost nothing
			if creates != tc.wantCreates || gets != tc.wantGets {
				t.Errorf("Secret creates %d, gets %d; want %d and %d", creates, gets, tc.wantCreates, tc.wantGets)
			}
			got := &kubeflow.MPIJob{}
			if err := e.c.Get(ctx, client.ObjectKeyFromObject(e.job), got); err != nil {
				t.Fatal(err)
			}
			if failed := isTrue(&got.Status, kubeflow.JobFailed); failed != tc.wantFailed {
				t.Errorf("Failed = %v, want %v (conditions %+v)", failed, tc.wantFailed, got.Status.Conditions)
			}
		})
	}
}
