// Package jobspec is an MPIJob as a user describes it: a name, an image, a
// command, how many workers with how many GPUs. The CLI's `create` flags,
// the console's creation wizard and the contract fixtures
// (testdata/contract/validation.yaml, which the SDK's tests load too) all
// fill one Spec; Validate is the one set of rules they share, and Build
// the one way to turn it into an MPIJob that upstream mpi-operator
// (kubeflow.org/v2beta1) also accepts.
package jobspec

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
)

const (
	// GPUResource is the extended resource requested per worker.
	GPUResource corev1.ResourceName = "nvidia.com/gpu"
	// LauncherContainer and WorkerContainer are the container names
	// upstream examples use.
	LauncherContainer = "mpi-launcher"
	WorkerContainer   = "mpi-worker"
)

// Spec is a job as a user describes it. Field errors of Validate and Build
// are named by the JSON names below (name, image, workers, cpu,
// env[0].name, volumes[1].mountPath...).
type Spec struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	Image     string `json:"image"`
	// Command is the launcher's argv, e.g. mpirun -np 8 python train.py.
	Command []string `json:"command,omitempty"`
	Workers int32    `json:"workers"`
	// GPUsPerWorker is the nvidia.com/gpu limit of each worker.
	GPUsPerWorker int64 `json:"gpusPerWorker,omitempty"`
	// CPU and Memory are each worker's request and limit ("" for none).
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
	// SlotsPerWorker: 0 means one per GPU, or 1 without GPUs.
	SlotsPerWorker int32 `json:"slotsPerWorker,omitempty"`
	// MPIImplementation is OpenMPI (the default), Intel or MPICH, in any
	// case.
	MPIImplementation string `json:"mpiImplementation,omitempty"`
	// Queue is the Kueue LocalQueue.
	Queue string `json:"queue,omitempty"`
	// Env is set on the launcher and every worker.
	Env          []corev1.EnvVar   `json:"env,omitempty"`
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	Volumes      []Volume          `json:"volumes,omitempty"`
	// BackoffLimit and ActiveDeadlineSeconds go to spec.runPolicy.
	BackoffLimit          *int32 `json:"backoffLimit,omitempty"`
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`
}

// Volume mounts a PersistentVolumeClaim, or an emptyDir when ClaimName is
// empty, into the launcher and every worker.
type Volume struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	ClaimName string `json:"claimName,omitempty"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

// ParseImplementation accepts an MPI implementation case-insensitively;
// "" is OpenMPI.
func ParseImplementation(s string) (kubeflow.MPIImplementation, bool) {
	if s == "" {
		return kubeflow.MPIImplementationOpenMPI, true
	}
	for _, i := range []kubeflow.MPIImplementation{kubeflow.MPIImplementationOpenMPI, kubeflow.MPIImplementationIntel, kubeflow.MPIImplementationMPICH} {
		if strings.EqualFold(s, string(i)) {
			return i, true
		}
	}
	return "", false
}

// Validate checks everything that needs no cluster, with messages that say
// how to fix each field. The admission webhooks check the rest (policy,
// quota) when the job is created.
func (s *Spec) Validate() field.ErrorList {
	var errs field.ErrorList
	name := field.NewPath("name")
	if s.Name == "" {
		errs = append(errs, field.Required(name, "a lower-case name such as pi or resnet-train"))
	} else {
		for _, e := range kubeflow.ValidateName(s.Name) {
			e.Field = name.String()
			errs = append(errs, e)
		}
	}
	if strings.TrimSpace(s.Image) == "" {
		errs = append(errs, field.Required(field.NewPath("image"), "the container image with your training code and MPI, e.g. mpioperator/mpi-pi:openmpi"))
	}
	workers := field.NewPath("workers")
	switch {
	case s.Workers < 1:
		errs = append(errs, field.Invalid(workers, s.Workers, "must be at least 1"))
	case s.Workers > kubeflow.MaxWorkers:
		errs = append(errs, field.Invalid(workers, s.Workers, fmt.Sprintf(
			"must be at most %d (the MPIJob API's limit): use fewer workers with more GPUs and slots each, or split the work into several jobs", kubeflow.MaxWorkers)))
	}
	if s.GPUsPerWorker < 0 {
		errs = append(errs, field.Invalid(field.NewPath("gpusPerWorker"), s.GPUsPerWorker, "must not be negative"))
	}
	slots := field.NewPath("slotsPerWorker")
	switch {
	case s.SlotsPerWorker < 0:
		errs = append(errs, field.Invalid(slots, s.SlotsPerWorker, "must not be negative; leave 0 for one slot per GPU"))
	case s.SlotsPerWorker > kubeflow.MaxSlotsPerWorker || (s.SlotsPerWorker == 0 && s.GPUsPerWorker > kubeflow.MaxSlotsPerWorker):
		errs = append(errs, field.Invalid(slots, s.slots(), fmt.Sprintf("(one per GPU unless set) must be at most %d MPI processes per worker", kubeflow.MaxSlotsPerWorker)))
	}
	for _, q := range []struct{ name, value, example string }{{"cpu", s.CPU, "2 or 500m"}, {"memory", s.Memory, "8Gi or 512Mi"}} {
		if q.value == "" {
			continue
		}
		v, err := resource.ParseQuantity(q.value)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(field.NewPath(q.name), q.value, "is not a quantity: write it like "+q.example))
		case v.Sign() < 0:
			errs = append(errs, field.Invalid(field.NewPath(q.name), q.value, "must not be negative"))
		}
	}
	if _, ok := ParseImplementation(s.MPIImplementation); !ok {
		errs = append(errs, field.NotSupported(field.NewPath("mpiImplementation"), s.MPIImplementation, []string{"OpenMPI", "Intel", "MPICH"}))
	}
	if s.Queue != "" {
		for _, msg := range validation.IsDNS1123Subdomain(s.Queue) {
			errs = append(errs, field.Invalid(field.NewPath("queue"), s.Queue, "is not a LocalQueue name: "+msg))
		}
	}
	for i, e := range s.Env {
		if msgs := validation.IsEnvVarName(e.Name); len(msgs) > 0 {
			errs = append(errs, field.Invalid(field.NewPath("env").Index(i).Child("name"), e.Name, "is not a valid variable name: "+strings.Join(msgs, "; ")))
		}
	}
	sel := field.NewPath("nodeSelector")
	for k, v := range s.NodeSelector {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			errs = append(errs, field.Invalid(sel.Key(k), k, "is not a label key: "+strings.Join(msgs, "; ")))
		}
		if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
			errs = append(errs, field.Invalid(sel.Key(k), v, "is not a label value: "+strings.Join(msgs, "; ")))
		}
	}
	seen := map[string]bool{}
	for i, v := range s.Volumes {
		p := field.NewPath("volumes").Index(i)
		switch {
		case len(validation.IsDNS1123Label(v.Name)) > 0:
			errs = append(errs, field.Invalid(p.Child("name"), v.Name, "is not a volume name: lower-case letters, digits and '-'"))
		case seen[v.Name]:
			errs = append(errs, field.Duplicate(p.Child("name"), v.Name))
		}
		seen[v.Name] = true
		if !path.IsAbs(v.MountPath) {
			errs = append(errs, field.Invalid(p.Child("mountPath"), v.MountPath, "must be an absolute path such as /data"))
		}
		if v.ClaimName != "" && len(validation.IsDNS1123Subdomain(v.ClaimName)) > 0 {
			errs = append(errs, field.Invalid(p.Child("claimName"), v.ClaimName, "is not a PersistentVolumeClaim name"))
		}
	}
	if s.BackoffLimit != nil && *s.BackoffLimit < 0 {
		errs = append(errs, field.Invalid(field.NewPath("backoffLimit"), *s.BackoffLimit, "must not be negative"))
	}
	if s.ActiveDeadlineSeconds != nil && *s.ActiveDeadlineSeconds <= 0 {
		errs = append(errs, field.Invalid(field.NewPath("activeDeadlineSeconds"), *s.ActiveDeadlineSeconds, "must be positive; leave it empty for no deadline"))
	}
	return errs
}

// slots is the slots per worker the job gets.
func (s *Spec) slots() int32 {
	switch {
	case s.SlotsPerWorker != 0:
		return s.SlotsPerWorker
	case s.GPUsPerWorker > 0:
		return int32(min(s.GPUsPerWorker, int64(kubeflow.MaxSlotsPerWorker)+1))
	}
	return 1
}

// Build validates the spec and returns the MPIJob. Whatever the API would
// refuse is refused here too, before any request, with the API's field
// path mapped back to the spec's field where one fits.
func (s *Spec) Build() (*kubeflow.MPIJob, field.ErrorList) {
	if errs := s.Validate(); len(errs) > 0 {
		return nil, errs
	}
	job := s.build()
	defaulted := job.DeepCopy()
	kubeflow.SetDefaults(defaulted)
	if errs := kubeflow.ValidateMPIJob(defaulted); len(errs) > 0 {
		for _, e := range errs {
			if f := SpecField(e.Field); f != "" {
				e.Field = f
			}
		}
		return nil, errs
	}
	return job, nil
}

// BuildUnchecked builds the MPIJob without validating the spec, for tests
// that hand the API what a spec gives (the contract fixtures prove the
// API refuses what Validate refuses). Quantities that do not parse are
// left out.
func (s *Spec) BuildUnchecked() *kubeflow.MPIJob { return s.build() }

func (s *Spec) build() *kubeflow.MPIJob {
	impl, _ := ParseImplementation(s.MPIImplementation)
	resources := corev1.ResourceRequirements{}
	for _, r := range []struct {
		name  corev1.ResourceName
		value string
	}{{corev1.ResourceCPU, s.CPU}, {corev1.ResourceMemory, s.Memory}} {
		q, err := resource.ParseQuantity(r.value)
		if r.value == "" || err != nil {
			continue
		}
		if resources.Requests == nil {
			resources.Requests, resources.Limits = corev1.ResourceList{}, corev1.ResourceList{}
		}
		resources.Requests[r.name], resources.Limits[r.name] = q, q
	}
	if s.GPUsPerWorker > 0 {
		if resources.Limits == nil {
			resources.Limits = corev1.ResourceList{}
		}
		resources.Limits[GPUResource] = *resource.NewQuantity(s.GPUsPerWorker, resource.DecimalSI)
	}
	env := append([]corev1.EnvVar(nil), s.Env...)
	image := strings.TrimSpace(s.Image)
	job := &kubeflow.MPIJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: kubeflow.SchemeGroupVersion.String(), Kind: "MPIJob"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace},
		Spec: kubeflow.MPIJobSpec{
			SlotsPerWorker:    ptr.To(s.slots()),
			MPIImplementation: impl,
			RunPolicy: kubeflow.RunPolicy{
				CleanPodPolicy:        ptr.To(kubeflow.CleanPodPolicyRunning),
				BackoffLimit:          s.BackoffLimit,
				ActiveDeadlineSeconds: s.ActiveDeadlineSeconds,
			},
			MPIReplicaSpecs: map[kubeflow.MPIReplicaType]*kubeflow.ReplicaSpec{
				kubeflow.MPIReplicaTypeLauncher: {
					Replicas: ptr.To[int32](1),
					Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name: LauncherContainer, Image: image, Command: append([]string(nil), s.Command...), Env: env,
					}}}},
				},
				kubeflow.MPIReplicaTypeWorker: {
					Replicas: ptr.To(s.Workers),
					Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name: WorkerContainer, Image: image, Env: env, Resources: resources,
					}}}},
				},
			},
		},
	}
	if s.Queue != "" {
		job.Labels = map[string]string{mpijob.QueueLabel: s.Queue}
	}
	for _, spec := range job.Spec.MPIReplicaSpecs {
		pod := &spec.Template.Spec
		if len(s.NodeSelector) > 0 {
			pod.NodeSelector = map[string]string{}
			for k, v := range s.NodeSelector {
				pod.NodeSelector[k] = v
			}
		}
		for _, v := range s.Volumes {
			vol := corev1.Volume{Name: v.Name}
			if v.ClaimName != "" {
				vol.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: v.ClaimName, ReadOnly: v.ReadOnly}
			} else {
				vol.EmptyDir = &corev1.EmptyDirVolumeSource{}
			}
			pod.Volumes = append(pod.Volumes, vol)
			for i := range pod.Containers {
				pod.Containers[i].VolumeMounts = append(pod.Containers[i].VolumeMounts, corev1.VolumeMount{Name: v.Name, MountPath: v.MountPath, ReadOnly: v.ReadOnly})
			}
		}
	}
	return job
}

// specFields maps API field paths (lower-cased) to the Spec field they are
// about: the first entry whose every substring is in the path wins.
var specFields = []struct {
	in    []string
	field string
}{
	{[]string{"queue-name"}, "queue"},
	{[]string{"[worker].replicas"}, "workers"},
	{[]string{"slotsperworker"}, "slotsPerWorker"},
	{[]string{"mpiimplementation"}, "mpiImplementation"},
	{[]string{".image"}, "image"},
	{[]string{"nvidia.com/gpu"}, "gpusPerWorker"},
	{[]string{"resources", "memory"}, "memory"},
	{[]string{"resources", "cpu"}, "cpu"},
	{[]string{".command"}, "command"},
	{[]string{".args"}, "command"},
	{[]string{".env"}, "env"},
	{[]string{"nodeselector"}, "nodeSelector"},
	{[]string{"volume"}, "volumes"},
	{[]string{"backofflimit"}, "backoffLimit"},
	{[]string{"activedeadlineseconds"}, "activeDeadlineSeconds"},
}

// SpecField names the Spec field an API server or webhook field path is
// about (metadata.name is name), or "" when none fits.
func SpecField(apiField string) string {
	f := strings.ToLower(apiField)
	if f == "metadata.name" {
		return "name"
	}
	for _, m := range specFields {
		all := true
		for _, sub := range m.in {
			all = all && strings.Contains(f, sub)
		}
		if all {
			return m.field
		}
	}
	return ""
}
