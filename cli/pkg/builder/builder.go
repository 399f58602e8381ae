// Package builder turns the flags of `kubectl odh mpijob create` into an
// MPIJob that upstream mpi-operator (kubeflow.org/v2beta1) also accepts.
package builder

import (
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

const (
	// QueueLabel is the Kueue label naming the LocalQueue of a job.
	QueueLabel = "kueue.x-k8s.io/queue-name"
	// GPUResource is the extended resource requested per worker.
	GPUResource corev1.ResourceName = "nvidia.com/gpu"
	// LauncherContainer and WorkerContainer are the container names
	// upstream examples use.
	LauncherContainer = "mpi-launcher"
	WorkerContainer   = "mpi-worker"
)

// Options are the flag values of `mpijob create`.
type Options struct {
	Name      string
	Namespace string
	Image     string
	Workers   int32
	// GPUsPerWorker is the nvidia.com/gpu limit of each worker.
	GPUsPerWorker int64
	// CPU and Memory are the request and limit of each worker ("" for none).
	CPU    string
	Memory string
	// Slots per worker; 0 means GPUsPerWorker, or 1 without GPUs.
	Slots int32
	// Command is the launcher's command (argv), e.g. mpirun -np 8 python train.py.
	Command []string
	// Env are KEY=VALUE pairs set on the launcher and the workers.
	Env               []string
	Queue             string
	MPIImplementation string
}

// ErrInvalid wraps every error of Build: they are all usage errors.
var ErrInvalid = errors.New("invalid flags")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// ParseImplementation accepts an MPI implementation case-insensitively.
func ParseImplementation(s string) (kubeflow.MPIImplementation, error) {
	if s == "" {
		return kubeflow.MPIImplementationOpenMPI, nil
	}
	for _, i := range []kubeflow.MPIImplementation{kubeflow.MPIImplementationOpenMPI, kubeflow.MPIImplementationIntel, kubeflow.MPIImplementationMPICH} {
		if strings.EqualFold(s, string(i)) {
			return i, nil
		}
	}
	return "", invalid("--mpi-implementation must be OpenMPI, Intel or MPICH, not %q", s)
}

// ParseEnv turns KEY=VALUE strings into env vars.
func ParseEnv(kvs []string) ([]corev1.EnvVar, error) {
	var out []corev1.EnvVar
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, invalid("--env must be KEY=VALUE, not %q", kv)
		}
		out = append(out, corev1.EnvVar{Name: k, Value: v})
	}
	return out, nil
}

// Build validates the options and returns the MPIJob.
func Build(o Options) (*kubeflow.MPIJob, error) {
	if o.Name == "" {
		return nil, invalid("a NAME argument is required when creating from flags")
	}
	if errs := kubeflow.ValidateName(o.Name); len(errs) > 0 {
		return nil, invalid("NAME %q %s", o.Name, errs[0].Detail)
	}
	if o.Image == "" {
		return nil, invalid("--image is required when creating from flags")
	}
	if o.Workers < 1 {
		return nil, invalid("--workers must be at least 1, not %d", o.Workers)
	}
	if o.Workers > kubeflow.MaxWorkers {
		return nil, invalid("--workers must be at most %d (the MPIJob API's limit), not %d: use fewer workers with more GPUs and slots each, or split the work into several jobs", kubeflow.MaxWorkers, o.Workers)
	}
	if o.GPUsPerWorker < 0 {
		return nil, invalid("--gpus-per-worker must not be negative")
	}
	if o.Slots < 0 {
		return nil, invalid("--slots must not be negative")
	}
	if o.Slots > kubeflow.MaxSlotsPerWorker || (o.Slots == 0 && o.GPUsPerWorker > kubeflow.MaxSlotsPerWorker) {
		return nil, invalid("--slots (one per GPU unless set) must be at most %d MPI processes per worker", kubeflow.MaxSlotsPerWorker)
	}
	impl, err := ParseImplementation(o.MPIImplementation)
	if err != nil {
		return nil, err
	}
	env, err := ParseEnv(o.Env)
	if err != nil {
		return nil, err
	}
	resources := corev1.ResourceRequirements{}
	for _, r := range []struct {
		name  corev1.ResourceName
		value string
		flag  string
	}{{corev1.ResourceCPU, o.CPU, "--cpu"}, {corev1.ResourceMemory, o.Memory, "--memory"}} {
		if r.value == "" {
			continue
		}
		q, err := resource.ParseQuantity(r.value)
		if err != nil {
			return nil, invalid("%s: %q is not a quantity", r.flag, r.value)
		}
		if resources.Requests == nil {
			resources.Requests, resources.Limits = corev1.ResourceList{}, corev1.ResourceList{}
		}
		resources.Requests[r.name], resources.Limits[r.name] = q, q
	}
	if o.GPUsPerWorker > 0 {
		if resources.Limits == nil {
			resources.Limits = corev1.ResourceList{}
		}
		resources.Limits[GPUResource] = *resource.NewQuantity(o.GPUsPerWorker, resource.DecimalSI)
	}
	slots := o.Slots
	if slots == 0 {
		slots = 1
		if o.GPUsPerWorker > 0 {
			slots = int32(o.GPUsPerWorker)
		}
	}
	job := &kubeflow.MPIJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: kubeflow.SchemeGroupVersion.String(), Kind: "MPIJob"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace},
		Spec: kubeflow.MPIJobSpec{
			SlotsPerWorker:    ptr.To(slots),
			MPIImplementation: impl,
			RunPolicy:         kubeflow.RunPolicy{CleanPodPolicy: ptr.To(kubeflow.CleanPodPolicyRunning)},
			MPIReplicaSpecs: map[kubeflow.MPIReplicaType]*kubeflow.ReplicaSpec{
				kubeflow.MPIReplicaTypeLauncher: {
					Replicas: ptr.To[int32](1),
					Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name:    LauncherContainer,
						Image:   o.Image,
						Command: append([]string(nil), o.Command...),
						Env:     env,
					}}}},
				},
				kubeflow.MPIReplicaTypeWorker: {
					Replicas: ptr.To(o.Workers),
					Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name:      WorkerContainer,
						Image:     o.Image,
						Env:       env,
						Resources: resources,
					}}}},
				},
			},
		},
	}
	if o.Queue != "" {
		job.Labels = map[string]string{QueueLabel: o.Queue}
	}
	// Whatever the API would refuse is refused here, before any request.
	defaulted := job.DeepCopy()
	kubeflow.SetDefaults(defaulted)
	if errs := kubeflow.ValidateMPIJob(defaulted); len(errs) > 0 {
		return nil, invalid("%v", errs.ToAggregate())
	}
	return job, nil
}
