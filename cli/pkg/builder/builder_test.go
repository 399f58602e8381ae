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

// TestBuildAtTheLimits: the largest job the API admits builds.
func TestBuildAtTheLimits(t *testing.T) {
	name := "a" + strings.Repeat("b", kubeflow.MaxNameLength-1)
	job, err := Build(Options{Name: name, Image: "i", Workers: kubeflow.MaxWorkers, Slots: kubeflow.MaxSlotsPerWorker})
	if err != nil {
		t.Fatal(err)
	}
	if got := job.Workers(); got != kubeflow.MaxWorkers {
		t.Errorf("workers %d", got)
	}
}

func TestBuildErrorsSayTheLimit(t *testing.T) {
	for name, tc := range map[string]struct {
		o    Options
		want string
	}{
		"workers": {Options{Name: "a", Image: "i", Workers: 10_000_000}, "--workers must be at most 1024"},
		"slots":   {Options{Name: "a", Image: "i", Workers: 1, Slots: 5000}, "at most 4096 MPI processes per worker"},
		"digit":   {Options{Name: "2nd", Image: "i", Workers: 1}, `NAME "2nd" must be a DNS-1035 label`},
		"long":    {Options{Name: strings.Repeat("a", 51), Image: "i", Workers: 1}, "must be at most 50 characters, not 51"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Build(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v lacks %q", err, tc.want)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	ok := Options{Name: "a", Image: "i", Workers: 1}
	for name, mutate := range map[string]func(*Options){
		"no name":                             func(o *Options) { o.Name = "" },
		"no image":                            func(o *Options) { o.Image = "" },
		"zero workers":                        func(o *Options) { o.Workers = 0 },
		"negative gpus":                       func(o *Options) { o.GPUsPerWorker = -1 },
		"bad cpu":                             func(o *Options) { o.CPU = "lots" },
		"bad memory":                          func(o *Options) { o.Memory = "16 GB" },
		"bad env":                             func(o *Options) { o.Env = []string{"NOVALUE"} },
		"empty env key":                       func(o *Options) { o.Env = []string{"=x"} },
		"bad mpi":                             func(o *Options) { o.MPIImplementation = "LAM" },
		"negative slots":                      func(o *Options) { o.Slots = -2 },
		"too many workers":                    func(o *Options) { o.Workers = kubeflow.MaxWorkers + 1 },
		"too many slots":                      func(o *Options) { o.Slots = kubeflow.MaxSlotsPerWorker + 1 },
		"too many GPUs for the default slots": func(o *Options) { o.GPUsPerWorker = 1 << 32 },
		"name starts with a digit":            func(o *Options) { o.Name = "1st-run" },
		"name too long":                       func(o *Options) { o.Name = strings.Repeat("a", kubeflow.MaxNameLength+1) },
		"name with capitals":                  func(o *Options) { o.Name = "Train" },
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
