package v2beta1

import (
	"fmt"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxWorkerIndexDigits bounds the name length check: worker pods are named
// <job>-worker-<index> and must be valid DNS labels (they are hostnames).
const maxWorkerIndexDigits = 5

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
	errs := validateName(job.Name)
	spec := field.NewPath("spec")
	errs = append(errs, validateSpec(&job.Spec, spec)...)
	return errs
}

// ValidateMPIJobUpdate checks an update: the new object must be valid and
// the fields that cannot change did not.
func ValidateMPIJobUpdate(oldJob, newJob *MPIJob) field.ErrorList {
	errs := ValidateMPIJob(newJob)
	oldM, newM := oldJob.Spec.RunPolicy.ManagedBy, newJob.Spec.RunPolicy.ManagedBy
	if (oldM == nil) != (newM == nil) || (oldM != nil && *oldM != *newM) {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "runPolicy", "managedBy"), "is immutable: delete and recreate the job to hand it to another controller"))
	}
	return errs
}

func validateName(name string) field.ErrorList {
	path := field.NewPath("metadata", "name")
	longest := fmt.Sprintf("%s-worker-%s", name, "99999"[:maxWorkerIndexDigits])
	if msgs := validation.IsDNS1123Label(longest); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(path, name, fmt.Sprintf(
			"worker pods are named %q and must be valid DNS labels (lower-case letters, digits and '-', at most 63 characters): use a name of at most %d characters",
			longest, validation.DNS1123LabelMaxLength-len("-worker-")-maxWorkerIndexDigits))}
	}
	return nil
}

func validateSpec(spec *MPIJobSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.SlotsPerWorker == nil {
		errs = append(errs, field.Required(path.Child("slotsPerWorker"), "the number of MPI processes per worker; 1 is the default"))
	} else if *spec.SlotsPerWorker < 1 {
		errs = append(errs, field.Invalid(path.Child("slotsPerWorker"), *spec.SlotsPerWorker, "must be at least 1"))
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
