package builder

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

func TestBuild(t *testing.T) {
	job, err := Build(Options{
		Name: "bert", Namespace: "team-a", Image: "registry.example/bert:1", Workers: 4,
		GPUsPerWorker: 8, CPU: "16", Memory: "64Gi",
		Command: []string{"mpirun", "-np", "32", "python", "train.py"},
		Env:     []string{"NCCL_DEBUG=INFO", "EMPTY="}, Queue: "team-a-queue", MPIImplementation: "intel",
	})
	if err != nil {
		t.Fatal(err)
	}
	if job.APIVersion != "kubeflow.org/v2beta1" || job.Kind != "MPIJob" || job.Name != "bert" || job.Namespace != "team-a" {
		t.Errorf("type or object meta: %+v %+v", job.TypeMeta, job.ObjectMeta)
	}
	if got := job.Labels[QueueLabel]; got != "team-a-queue" {
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
	job, err := Build(Options{Name: "pi", Image: "mpi-pi", Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if ptr.Deref(job.Spec.SlotsPerWorker, 0) != 1 || job.Spec.MPIImplementation != kubeflow.MPIImplementationOpenMPI || job.Labels != nil {
		t.Errorf("defaults: %+v", job.Spec)
	}
	if job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template.Spec.Containers[0].Resources.Limits != nil {
		t.Error("no resources expected")
	}
	job, err = Build(Options{Name: "pi", Image: "mpi-pi", Workers: 2, GPUsPerWorker: 4, Slots: 2})
	if err != nil || ptr.Deref(job.Spec.SlotsPerWorker, 0) != 2 {
		t.Errorf("explicit slots: %v %v", err, job.Spec.SlotsPerWorker)
	}
}

func TestBuildErrors(t *testing.T) {
	ok := Options{Name: "a", Image: "i", Workers: 1}
	for name, mutate := range map[string]func(*Options){
		"no name":        func(o *Options) { o.Name = "" },
		"no image":       func(o *Options) { o.Image = "" },
		"zero workers":   func(o *Options) { o.Workers = 0 },
		"negative gpus":  func(o *Options) { o.GPUsPerWorker = -1 },
		"bad cpu":        func(o *Options) { o.CPU = "lots" },
		"bad memory":     func(o *Options) { o.Memory = "16 GB" },
		"bad env":        func(o *Options) { o.Env = []string{"NOVALUE"} },
		"empty env key":  func(o *Options) { o.Env = []string{"=x"} },
		"bad mpi":        func(o *Options) { o.MPIImplementation = "LAM" },
		"negative slots": func(o *Options) { o.Slots = -2 },
	} {
		t.Run(name, func(t *testing.T) {
			o := ok
			mutate(&o)
			if _, err := Build(o); !errors.Is(err, ErrInvalid) {
				t.Errorf("want ErrInvalid, got %v", err)
			}
		})
	}
}
