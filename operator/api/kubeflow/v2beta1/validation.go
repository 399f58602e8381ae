package v2beta1

import (
	"fmt"
	"regexp"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits of an MPIJob. A job over one is refused at admission (the
// replicas and slots maxima also by the CRD schema, before any webhook or
// controller sees the job) and, should it get past, by the controller,
// which fails it with reason ValidationError instead of building anything.
const (
	// MaxWorkers is the most worker replicas an MPIJob may have. Every
	// worker is a line of the hostfile and of discover_hosts.sh in the
	// job's ConfigMap, and Kubernetes caps a ConfigMap at 1 MiB. At the
	// longest name (MaxNameLength) in the longest namespace (63) a worker
	// takes at most 2*(181+d)+18 bytes there, d being the length of the
	// controller's clusterDomain plus its dot: about 410 bytes with
	// cluster.local, 510 with a 63-character domain. 1024 workers so stay
	// under half of the limit, and under the limit with any cluster domain
	// Kubernetes accepts (operator/internal/mpijob/limits_test.go builds
	// that worst case). A power of two, as MPI jobs are often sized; with
	// slotsPerWorker it still allows millions of ranks. Indices stay
	// within maxWorkerIndexDigits, so pod names stay valid for every index
	// and the name rule would not change were the maximum ever raised (up
	// to 99999, if the hostfile left the ConfigMap). The platform may
	// lower it (MPIJobPlatform spec.webhooks.maxWorkers). The
	// +kubebuilder:validation:Maximum marker on ReplicaSpec.Replicas must
	// say the same (TestSchemaMarkersMatchLimits).
	MaxWorkers = 1024
	// MaxSlotsPerWorker is the most MPI processes per worker: more than
	// the hardware threads of the largest nodes (a few hundred), with room
	// for oversubscription; workers * slots stays far within int32.
	MaxSlotsPerWorker = 4096
	// MaxNameLength is the longest job name: worker pods are named
	// <job>-worker-<index> and are hostnames, so that name must be a DNS
	// label (63 characters) for every index of up to maxWorkerIndexDigits
	// digits. The other children fit too: Service <job>, Secret <job>-ssh,
	// ConfigMap <job>-config, launcher Job and hostname <job>-launcher (59,
	// also the value of the job-name labels the Job controller puts on its
	// pods, at most 63). The launcher Job's pods are <job>-launcher-xxxxx;
	// the apiserver cuts a generateName prefix to 58 so they stay 63.
	MaxNameLength = validation.DNS1123LabelMaxLength - len(WorkerNameInfix) - maxWorkerIndexDigits
)

// maxWorkerIndexDigits is the room the name check keeps for worker indices:
// 5 digits, indices up to 99999, more than MaxWorkers needs.
const maxWorkerIndexDigits = 5

// dns1035Label is a DNS-1035 label without its length limit (MaxNameLength
// is stricter and reported on its own).
var dns1035Label = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

var (
	validCleanPodPolicies = []string{string(CleanPodPolicyNone), string(CleanPodPolicyRunning), string(CleanPodPolicyAll)}
	validImplementations  = []string{string(MPIImplementationOpenMPI), string(MPIImplementationIntel), string(MPIImplementationMPICH)}
	validLauncherPolicies = []string{string(LauncherCreationPolicyAtStartup), string(LauncherCreationPolicyWaitForWorkersReady)}
	validRestartPolicies  = []string{string(RestartPolicyAlways), string(RestartPolicyOnFailure), string(RestartPolicyNever), string(RestartPolicyExitCode)}
	validManagedBy        = []string{KubeflowJobController, MultiKueueController}
)

// ValidateMPIJob checks a defaulted MPIJob. The controller and the admission
// webhook share it, so a webhook outage never lets an invalid job run. Each
// error names the field, the bad value and what is allowed.
func ValidateMPIJob(job *MPIJob) field.ErrorList {
	errs := ValidateName(job.Name)
	spec := field.NewPath("spec")
	errs = append(errs, validateSpec(&job.Spec, spec)...)
	return errs
}

// ratchetedFields hold limits that came after jobs may have been created:
// an update that leaves such a field as it was is not refused for it, so a
// job admitted before can still be suspended, resumed and labelled (the
// API server ratchets the schema's maxima the same way).
var ratchetedFields = map[string]bool{
	"metadata.name":                         true,
	"spec.slotsPerWorker":                   true,
	"spec.mpiReplicaSpecs[Worker].replicas": true,
}

// ValidateMPIJobUpdate checks an update: the new object must be valid, but
// for unchanged values of ratchetedFields, and the fields that cannot
// change did not.
func ValidateMPIJobUpdate(oldJob, newJob *MPIJob) field.ErrorList {
	before := map[string]bool{}
	for _, e := range ValidateMPIJob(oldJob) {
		if ratchetedFields[e.Field] {
			before[e.Error()] = true
		}
	}
	var errs field.ErrorList
	for _, e := range ValidateMPIJob(newJob) {
		if !before[e.Error()] {
			errs = append(errs, e)
		}
	}
	oldM, newM := oldJob.Spec.RunPolicy.ManagedBy, newJob.Spec.RunPolicy.ManagedBy
	if (oldM == nil) != (newM == nil) || (oldM != nil && *oldM != *newM) {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "runPolicy", "managedBy"), "is immutable: delete and recreate the job to hand it to another controller"))
	}
	return errs
}

// ValidateName checks an MPIJob's name (metadata.name). It names the job's
// headless Service, and Services accept only DNS-1035 labels (a letter
// first) before Kubernetes 1.34, as upstream mpi-operator checks too; its
// children's names add suffixes up to MaxNameLength. The CLI and the
// console check names with it before building a job.
func ValidateName(name string) field.ErrorList {
	path := field.NewPath("metadata", "name")
	if name == "" {
		return field.ErrorList{field.Required(path, "a name such as pi or resnet-train")}
	}
	var errs field.ErrorList
	if len(name) > MaxNameLength {
		errs = append(errs, field.Invalid(path, name, fmt.Sprintf(
			"must be at most %d characters, not %d: worker pods are named %q and must be DNS labels of at most %d characters: use a shorter name",
			MaxNameLength, len(name), name+WorkerNameInfix+"99999"[:maxWorkerIndexDigits], validation.DNS1123LabelMaxLength)))
	}
	if !dns1035Label.MatchString(name) {
		errs = append(errs, field.Invalid(path, name,
			"must be a DNS-1035 label: lower-case letters, digits and '-', starting with a letter and ending with a letter or digit (e.g. pi or resnet-train): the name is also the name of the job's headless Service, which Kubernetes before 1.34 accepts only in that form"))
	}
	return errs
}

func validateSpec(spec *MPIJobSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.SlotsPerWorker == nil {
		errs = append(errs, field.Required(path.Child("slotsPerWorker"), "the number of MPI processes per worker; 1 is the default"))
	} else if *spec.SlotsPerWorker < 1 {
		errs = append(errs, field.Invalid(path.Child("slotsPerWorker"), *spec.SlotsPerWorker, "must be at least 1"))
	} else if *spec.SlotsPerWorker > MaxSlotsPerWorker {
		errs = append(errs, field.Invalid(path.Child("slotsPerWorker"), *spec.SlotsPerWorker, fmt.Sprintf(
			"must be at most %d MPI processes per worker: set it to the GPUs (or CPU cores) of one worker", MaxSlotsPerWorker)))
	}
	if spec.SSHAuthMountPath == "" {
		errs = append(errs, field.Required(path.Child("sshAuthMountPath"), "where SSH credentials are mounted, e.g. /root/.ssh or /home/mpiuser/.ssh"))
	}
	if !oneOf(string(spec.MPIImplementation), validImplementations) {
		errs = append(errs, field.NotSupported(path.Child("mpiImplementation"), spec.MPIImplementation, validImplementations))
	}
	if !oneOf(string(spec.LauncherCreationPolicy), validLauncherPolicies) {
		errs = append(errs, field.NotSupported(path.Child("launcherCreationPolicy"), spec.LauncherCreationPolicy, validLauncherPolicies))
	}
	errs = append(errs, validateRunPolicy(&spec.RunPolicy, path.Child("runPolicy"))...)
	errs = append(errs, validateReplicaSpecs(spec.MPIReplicaSpecs, path.Child("mpiReplicaSpecs"))...)
	return errs
}

func validateRunPolicy(p *RunPolicy, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if p.CleanPodPolicy == nil {
		errs = append(errs, field.Required(path.Child("cleanPodPolicy"), "one of None, Running, All"))
	} else if !oneOf(string(*p.CleanPodPolicy), validCleanPodPolicies) {
		errs = append(errs, field.NotSupported(path.Child("cleanPodPolicy"), *p.CleanPodPolicy, validCleanPodPolicies))
	}
	if p.TTLSecondsAfterFinished != nil {
		errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(*p.TTLSecondsAfterFinished), path.Child("ttlSecondsAfterFinished"))...)
	}
	if p.ActiveDeadlineSeconds != nil && *p.ActiveDeadlineSeconds <= 0 {
		errs = append(errs, field.Invalid(path.Child("activeDeadlineSeconds"), *p.ActiveDeadlineSeconds, "must be a positive number of seconds"))
	}
	if p.BackoffLimit != nil {
		errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(*p.BackoffLimit), path.Child("backoffLimit"))...)
	}
	if p.ManagedBy != nil && !oneOf(*p.ManagedBy, validManagedBy) {
		errs = append(errs, field.NotSupported(path.Child("managedBy"), *p.ManagedBy, validManagedBy))
	}
	if sp := p.SchedulingPolicy; sp != nil {
		if sp.MinAvailable != nil && *sp.MinAvailable < 0 {
			errs = append(errs, field.Invalid(path.Child("schedulingPolicy", "minAvailable"), *sp.MinAvailable, "must not be negative"))
		}
		if sp.ScheduleTimeoutSeconds != nil && *sp.ScheduleTimeoutSeconds < 0 {
			errs = append(errs, field.Invalid(path.Child("schedulingPolicy", "scheduleTimeoutSeconds"), *sp.ScheduleTimeoutSeconds, "must not be negative"))
		}
	}
	return errs
}

func validateReplicaSpecs(specs map[MPIReplicaType]*ReplicaSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(specs) == 0 {
		return field.ErrorList{field.Required(path, "a Launcher and usually a Worker replica spec")}
	}
	for role := range specs {
		if role != MPIReplicaTypeLauncher && role != MPIReplicaTypeWorker {
			errs = append(errs, field.NotSupported(path.Key(string(role)), role, []string{string(MPIReplicaTypeLauncher), string(MPIReplicaTypeWorker)}))
		}
	}
	launcher := specs[MPIReplicaTypeLauncher]
	lpath := path.Key(string(MPIReplicaTypeLauncher))
	if launcher == nil {
		errs = append(errs, field.Required(lpath, "every MPIJob needs exactly one Launcher"))
	} else {
		errs = append(errs, validateReplicaSpec(launcher, lpath)...)
		if launcher.Replicas != nil && *launcher.Replicas != 1 {
			errs = append(errs, field.Invalid(lpath.Child("replicas"), *launcher.Replicas, "must be 1: one launcher runs mpirun for all workers"))
		}
	}
	if worker := specs[MPIReplicaTypeWorker]; worker != nil {
		wpath := path.Key(string(MPIReplicaTypeWorker))
		errs = append(errs, validateReplicaSpec(worker, wpath)...)
		if worker.Replicas != nil && *worker.Replicas < 1 {
			errs = append(errs, field.Invalid(wpath.Child("replicas"), *worker.Replicas, "must be at least 1; remove the Worker spec and set runLauncherAsWorker to run on the launcher alone"))
		} else if worker.Replicas != nil && *worker.Replicas > MaxWorkers {
			errs = append(errs, field.Invalid(wpath.Child("replicas"), *worker.Replicas, fmt.Sprintf(
				"must be at most %d workers per MPIJob (every worker is a line of the hostfile in the job's ConfigMap, which Kubernetes caps at 1 MiB): "+
					"use fewer, larger workers (more GPUs and slotsPerWorker each), or split the work into several jobs", MaxWorkers)))
		}
	}
	return errs
}

func validateReplicaSpec(spec *ReplicaSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.Replicas == nil {
		errs = append(errs, field.Required(path.Child("replicas"), "the number of pods"))
	}
	if !oneOf(string(spec.RestartPolicy), validRestartPolicies) {
		errs = append(errs, field.NotSupported(path.Child("restartPolicy"), spec.RestartPolicy, validRestartPolicies))
	}
	if len(spec.Template.Spec.Containers) == 0 {
		errs = append(errs, field.Required(path.Child("template", "spec", "containers"), "at least one container; the first runs MPI"))
	}
	podSpec := path.Child("template", "spec")
	for i := range spec.Template.Spec.InitContainers {
		errs = append(errs, validatePortNames(spec.Template.Spec.InitContainers[i].Ports, podSpec.Child("initContainers").Index(i).Child("ports"))...)
	}
	for i := range spec.Template.Spec.Containers {
		errs = append(errs, validatePortNames(spec.Template.Spec.Containers[i].Ports, podSpec.Child("containers").Index(i).Child("ports"))...)
	}
	return errs
}

// validatePortNames refuses the port names Kubernetes refuses in pods: the
// job would be admitted, and then no worker pod could be created (a real
// run found the SDK's own metrics port name one character too long).
func validatePortNames(ports []corev1.ContainerPort, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, p := range ports {
		if p.Name == "" {
			continue
		}
		for _, msg := range validation.IsValidPortName(p.Name) {
			errs = append(errs, field.Invalid(path.Index(i).Child("name"), p.Name, msg+": Kubernetes refuses pods with such a port name; use at most 15 lower-case letters, digits and '-', e.g. train-metrics"))
		}
	}
	return errs
}

func oneOf(v string, allowed []string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}
