package jobspec

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
)

func TestBuild(t *testing.T) {
	job, errs := (&Spec{
		Name: "bert", Namespace: "team-a", Image: "registry.example/bert:1", Workers: 4,
		GPUsPerWorker: 8, CPU: "16", Memory: "64Gi",
		Command: []string{"mpirun", "-np", "32", "python", "train.py"},
		Env:     []corev1.EnvVar{{Name: "NCCL_DEBUG", Value: "INFO"}, {Name: "EMPTY"}}, Queue: "team-a-queue", MPIImplementation: "intel",
	}).Build()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if job.APIVersion != "kubeflow.org/v2beta1" || job.Kind != "MPIJob" || job.Name != "bert" || job.Namespace != "team-a" {
		t.Errorf("type or object meta: %+v %+v", job.TypeMeta, job.ObjectMeta)
	}
	if got := job.Labels[mpijob.QueueLabel]; got != "team-a-queue" {
		t.Errorf("queue label %q", got)
	}
	if got := ptr.Deref(job.Spec.SlotsPerWorker, 0); got != 8 {
		t.Errorf("slots default to the GPUs: %d", got)
	}
	if job.Spec.MPIImplementation != kubeflow.MPIImplementationIntel {
		t.Errorf("implementation %q", job.Spec.MPIImplementation)
	}
	l := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher]
	w := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker]
	if l == nil || w == nil || ptr.Deref(l.Replicas, 0) != 1 || ptr.Deref(w.Replicas, 0) != 4 {
		t.Fatalf("replica specs: %+v", job.Spec.MPIReplicaSpecs)
	}
	lc, wc := l.Template.Spec.Containers[0], w.Template.Spec.Containers[0]
	if strings.Join(lc.Command, " ") != "mpirun -np 32 python train.py" || len(wc.Command) != 0 {
		t.Errorf("launcher command %q, worker command %q", lc.Command, wc.Command)
	}
	if lc.Image != "registry.example/bert:1" || wc.Image != lc.Image {
		t.Errorf("images %q %q", lc.Image, wc.Image)
	}
	if _, ok := lc.Resources.Limits[GPUResource]; ok {
		t.Error("the launcher must not ask for GPUs")
	}
	want := corev1.ResourceList{GPUResource: resource.MustParse("8"), corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi")}
	for name, q := range want {
		if got := wc.Resources.Limits[name]; got.Cmp(q) != 0 {
			t.Errorf("worker limit %s = %s, want %s", name, got.String(), q.String())
		}
	}
	if got := wc.Resources.Requests[corev1.ResourceMemory]; got.Cmp(resource.MustParse("64Gi")) != 0 {
		t.Errorf("worker memory request %s", got.String())
	}
	if len(wc.Env) != 2 || wc.Env[0] != (corev1.EnvVar{Name: "NCCL_DEBUG", Value: "INFO"}) || wc.Env[1].Name != "EMPTY" || len(lc.Env) != 2 {
		t.Errorf("env %+v", wc.Env)
	}
	// The job passes the API's own validation after defaulting.
	kubeflow.SetDefaults(job)
	if errs := kubeflow.ValidateMPIJob(job); len(errs) > 0 {
		t.Errorf("validation: %v", errs.ToAggregate())
	}
}

func TestBuildDefaults(t *testing.T) {
	job, errs := (&Spec{Name: "pi", Image: "mpi-pi", Workers: 2}).Build()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if ptr.Deref(job.Spec.SlotsPerWorker, 0) != 1 || job.Spec.MPIImplementation != kubeflow.MPIImplementationOpenMPI || job.Labels != nil {
		t.Errorf("defaults: %+v", job.Spec)
	}
	if job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template.Spec.Containers[0].Resources.Limits != nil {
		t.Error("no resources expected")
	}
	job, errs = (&Spec{Name: "pi", Image: "mpi-pi", Workers: 2, GPUsPerWorker: 4, SlotsPerWorker: 2}).Build()
	if len(errs) > 0 || ptr.Deref(job.Spec.SlotsPerWorker, 0) != 2 {
		t.Errorf("explicit slots: %v %v", errs, job.Spec.SlotsPerWorker)
	}
}

// TestBuildAdvanced: volumes, node selector and run policy reach every
// replica.
func TestBuildAdvanced(t *testing.T) {
	job, errs := (&Spec{
		Name: "pi", Image: "mpi-pi", Workers: 2,
		NodeSelector: map[string]string{"gpu": "a100"},
		Volumes:      []Volume{{Name: "data", MountPath: "/data", ClaimName: "datasets", ReadOnly: true}, {Name: "scratch", MountPath: "/scratch"}},
		BackoffLimit: ptr.To[int32](3), ActiveDeadlineSeconds: ptr.To[int64](600),
	}).Build()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if ptr.Deref(job.Spec.RunPolicy.BackoffLimit, 0) != 3 || ptr.Deref(job.Spec.RunPolicy.ActiveDeadlineSeconds, 0) != 600 {
		t.Errorf("run policy %+v", job.Spec.RunPolicy)
	}
	for role, spec := range job.Spec.MPIReplicaSpecs {
		pod := spec.Template.Spec
		if pod.NodeSelector["gpu"] != "a100" || len(pod.Volumes) != 2 || pod.Volumes[0].PersistentVolumeClaim == nil || pod.Volumes[1].EmptyDir == nil {
			t.Errorf("%s: node selector %v, volumes %+v", role, pod.NodeSelector, pod.Volumes)
		}
		if m := pod.Containers[0].VolumeMounts; len(m) != 2 || m[0].MountPath != "/data" || !m[0].ReadOnly {
			t.Errorf("%s: mounts %+v", role, m)
		}
	}
}

// TestBuildAtTheLimits: the largest job the API admits builds.
func TestBuildAtTheLimits(t *testing.T) {
	name := "a" + strings.Repeat("b", kubeflow.MaxNameLength-1)
	job, errs := (&Spec{Name: name, Image: "i", Workers: kubeflow.MaxWorkers, SlotsPerWorker: kubeflow.MaxSlotsPerWorker}).Build()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := job.Workers(); got != kubeflow.MaxWorkers {
		t.Errorf("workers %d", got)
	}
}

func TestErrorsNameTheFieldAndTheLimit(t *testing.T) {
	for name, tc := range map[string]struct {
		s           Spec
		field, want string
	}{
		"workers": {Spec{Name: "a", Image: "i", Workers: 10_000_000}, "workers", "must be at most 1024"},
		"slots":   {Spec{Name: "a", Image: "i", Workers: 1, SlotsPerWorker: 5000}, "slotsPerWorker", "at most 4096 MPI processes per worker"},
		"digit":   {Spec{Name: "2nd", Image: "i", Workers: 1}, "name", "must be a DNS-1035 label"},
		"long":    {Spec{Name: strings.Repeat("a", 51), Image: "i", Workers: 1}, "name", "must be at most 50 characters, not 51"},
		"image":   {Spec{Name: "a", Workers: 1}, "image", "Required value"},
		"env":     {Spec{Name: "a", Image: "i", Workers: 1, Env: []corev1.EnvVar{{Name: "1X"}}}, "env[0].name", "is not a valid variable name"},
	} {
		t.Run(name, func(t *testing.T) {
			_, errs := tc.s.Build()
			if len(errs) != 1 || errs[0].Field != tc.field || !strings.Contains(errs[0].Error(), tc.want) {
				t.Errorf("errors %v, want one on %s saying %q", errs, tc.field, tc.want)
			}
		})
	}
}

func TestSpecField(t *testing.T) {
	for api, want := range map[string]string{
		"metadata.name":                         "name",
		"spec.mpiReplicaSpecs[Worker].replicas": "workers",
		"spec.mpiReplicaSpecs[Worker].template.spec.containers[0].image":                            "image",
		"spec.mpiReplicaSpecs[Worker].template.spec.containers[0].resources.limits[nvidia.com/gpu]": "gpusPerWorker",
		"metadata.labels[kueue.x-k8s.io/queue-name]":                                                "queue",
		"spec.runPolicy.backoffLimit":                                                               "backoffLimit",
		"spec.sshAuthMountPath":                                                                     "",
	} {
		if got := SpecField(api); got != want {
			t.Errorf("SpecField(%s) = %q, want %q", api, got, want)
		}
	}
}
