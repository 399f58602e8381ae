package admission_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

// A tenant cannot hurt the shared controller (issue 15): a job of 10
// million workers, a name one past the length limit and a hostPath volume
// are each refused, through kubectl as a data scientist, with the field
// that is wrong; none of them ever reaches the controller.
func TestTenantLimitsAreFieldErrorsAndNeverReachTheController(t *testing.T) {
	ns := env.CreateNamespace(t, "limits")
	alice := dataScientist(t, ns)
	before := manager.Metrics(t)

	tooLong := "a" + strings.Repeat("b", kubeflow.MaxNameLength-1) + "c" // MaxNameLength+1
	for name, tc := range map[string]struct {
		job  *kubeflow.MPIJob
		want []string
	}{
		// The CRD schema's maximum: the apiserver refuses it before any
		// webhook validates it.
		"ten million workers": {
			job:  gpuJob(ns, "ten-million", 10_000_000, 0, "1s"),
			want: []string{"spec.mpiReplicaSpecs.Worker.replicas", "less than or equal to 1024"},
		},
		"a name one past the limit": {
			job: gpuJob(ns, tooLong, 1, 0, "1s"),
			want: []string{"metadata.name: Invalid value: \"" + tooLong + "\"",
				fmt.Sprintf("must be at most %d characters, not %d", kubeflow.MaxNameLength, kubeflow.MaxNameLength+1)},
		},
		"a hostPath volume": {
			job: func() *kubeflow.MPIJob {
				j := gpuJob(ns, "host-path", 1, 0, "1s")
				spec := &j.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template.Spec
				spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}}}
				spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "host", MountPath: "/host"}}
				return j
			}(),
			want: []string{"spec.mpiReplicaSpecs[Worker].template.spec.volumes[0].hostPath: Forbidden: hostPath volumes are not allowed"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, stderr, ok := kubectl(t, alice, manifest(t, tc.job), "apply", "-f", "-")
			if ok {
				t.Fatalf("kubectl apply succeeded; stderr:\n%s", stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("kubectl's error lacks %q:\n%s", w, stderr)
				}
			}
			t.Logf("kubectl apply: %s", stderr)
		})
	}
	// The limit itself is allowed (a server-side dry run: admitted, stored
	// nowhere, seen by no controller).
	atLimit := gpuJob(ns, "a"+strings.Repeat("b", kubeflow.MaxNameLength-2)+"c", 1, 0, "1s")
	if stdout, stderr, ok := kubectl(t, alice, manifest(t, atLimit), "create", "--dry-run=server", "-f", "-"); !ok {
		t.Errorf("a name of exactly %d characters was refused:\n%s%s", kubeflow.MaxNameLength, stdout, stderr)
	}

	refused := manager.Metrics(t)

	// None of them was stored...
	var list kubeflow.MPIJobList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Fatalf("%d MPIJobs stored after the refusals, want none", len(list.Items))
	}
	// ...so none reached the controller. To prove that without a sleep, a
	// valid (suspended, podless) witness follows them: the controller's watch
	// delivers a namespace's objects in order, so once it has counted the
	// witness as created it would have counted anything before it, and the
	// count for the namespace must be exactly one.
	witness := gpuJob(ns, "witness", 1, 0, "1h")
	witness.Spec.RunPolicy.Suspend = ptr.To(true)
	if err := alice.Client.Create(context.Background(), witness); err != nil {
		t.Fatalf("the witness job: %v", err)
	}
	created := `mpi_operator_jobs_created_total{namespace="` + ns + `"}`
	var after map[string]float64
	framework.Eventually(t, framework.DefaultTimeout, "the controller to count the witness job", func(context.Context) (bool, string, error) {
		after = manager.Metrics(t)
		_, ok := after[created]
		return ok, "", nil
	})
	if got := after[created]; got != 1 {
		t.Errorf("%s = %v, want 1 (the witness alone)", created, got)
	}
	if got := framework.SumSeries(after, `mpijob_jobs{namespace="`+ns+`"`); got != 1 {
		t.Errorf("mpijob_jobs for %s = %v in the controller's cache, want 1 (the witness alone)", ns, got)
	}
	// For the note: resident memory is noisy (GC, other tests), so it
	// is logged, not asserted.
	reconciles := `controller_runtime_reconcile_total{controller="mpijob-controller",result="success"}`
	rss := "process_resident_memory_bytes"
	t.Logf("controller RSS: %.1f MiB before the refusals, %.1f MiB after them, %.1f MiB after the witness; %s: %v, %v, %v",
		before[rss]/(1<<20), refused[rss]/(1<<20), after[rss]/(1<<20), reconciles, before[reconciles], refused[reconciles], after[reconciles])
}
