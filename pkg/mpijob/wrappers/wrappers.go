// Package wrappers holds fluent builders of MPIJobs, pods and Kueue
// workloads for tests, in the manner of Kueue's and JobSet's test
// wrappers:
//
//	job := wrappers.MakeMPIJob("pi", "team-a").Workers(4).GPUs(8).Queue("gpus").Suspend(true).Obj()
//
// Every builder starts from a small valid object and each method changes
// one thing, so a test shows only what matters to it.
package wrappers

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// GPUResource is the extended resource GPUs are requested as.
const GPUResource corev1.ResourceName = "nvidia.com/gpu"

// MPIJobWrapper builds an MPIJob.
type MPIJobWrapper struct{ kubeflow.MPIJob }

// MakeMPIJob is a job of two workers (one container "mpi" each, image
// example.invalid/mpi:1) and a launcher running mpirun.
func MakeMPIJob(name, ns string) *MPIJobWrapper {
	container := func() corev1.Container {
		return corev1.Container{Name: "mpi", Image: "example.invalid/mpi:1"}
	}
	launcher := container()
	launcher.Command = []string{"mpirun", "-n", "2", "/opt/pi"}
	return &MPIJobWrapper{kubeflow.MPIJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: kubeflow.SchemeGroupVersion.String(), Kind: "MPIJob"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: kubeflow.MPIJobSpec{MPIReplicaSpecs: map[kubeflow.MPIReplicaType]*kubeflow.ReplicaSpec{
			kubeflow.MPIReplicaTypeLauncher: {Replicas: ptr.To[int32](1), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{launcher}}}},
			kubeflow.MPIReplicaTypeWorker:   {Replicas: ptr.To[int32](2), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{container()}}}},
		}},
	}}
}

// Obj is the job (a copy: the wrapper can go on building).
func (w *MPIJobWrapper) Obj() *kubeflow.MPIJob { return w.DeepCopy() }

// Defaulted is the job with the API's defaults applied.
func (w *MPIJobWrapper) Defaulted() *kubeflow.MPIJob {
	j := w.Obj()
	kubeflow.SetDefaults(j)
	return j
}

func (w *MPIJobWrapper) replica(t kubeflow.MPIReplicaType) *kubeflow.ReplicaSpec {
	return w.Spec.MPIReplicaSpecs[t]
}

// UID sets the job's UID.
func (w *MPIJobWrapper) UID(uid string) *MPIJobWrapper {
	w.MPIJob.UID = types.UID(uid)
	return w
}

// Created sets the creation timestamp.
func (w *MPIJobWrapper) Created(t metav1.Time) *MPIJobWrapper {
	w.CreationTimestamp = t
	return w
}

// Conditions appends status conditions as they are.
func (w *MPIJobWrapper) Conditions(conds ...kubeflow.JobCondition) *MPIJobWrapper {
	w.Status.Conditions = append(w.Status.Conditions, conds...)
	return w
}

// Workers sets the worker count.
func (w *MPIJobWrapper) Workers(n int32) *MPIJobWrapper {
	w.replica(kubeflow.MPIReplicaTypeWorker).Replicas = ptr.To(n)
	return w
}

// Image sets the image of the launcher and the workers.
func (w *MPIJobWrapper) Image(image string) *MPIJobWrapper {
	for _, r := range w.Spec.MPIReplicaSpecs {
		r.Template.Spec.Containers[0].Image = image
	}
	return w
}

// WorkerResources sets each worker's requests (limits follow for GPUs, the
// way the device plugin wants them). Pass "" to leave one out.
func (w *MPIJobWrapper) WorkerResources(cpu, memory string, gpus int64) *MPIJobWrapper {
	c := &w.replica(kubeflow.MPIReplicaTypeWorker).Template.Spec.Containers[0]
	c.Resources = resources(cpu, memory, gpus)
	return w
}

// LauncherResources sets the launcher's requests.
func (w *MPIJobWrapper) LauncherResources(cpu, memory string) *MPIJobWrapper {
	c := &w.replica(kubeflow.MPIReplicaTypeLauncher).Template.Spec.Containers[0]
	c.Resources = resources(cpu, memory, 0)
	return w
}

func resources(cpu, memory string, gpus int64) corev1.ResourceRequirements {
	r := corev1.ResourceRequirements{}
	for name, v := range map[corev1.ResourceName]string{corev1.ResourceCPU: cpu, corev1.ResourceMemory: memory} {
		if v != "" {
			if r.Requests == nil {
				r.Requests = corev1.ResourceList{}
			}
			r.Requests[name] = resource.MustParse(v)
		}
	}
	if gpus > 0 {
		r.Limits = corev1.ResourceList{GPUResource: *resource.NewQuantity(gpus, resource.DecimalSI)}
	}
	return r
}

// SlotsPerWorker sets spec.slotsPerWorker.
func (w *MPIJobWrapper) SlotsPerWorker(n int32) *MPIJobWrapper {
	w.Spec.SlotsPerWorker = ptr.To(n)
	return w
}

// Implementation sets spec.mpiImplementation.
func (w *MPIJobWrapper) Implementation(i kubeflow.MPIImplementation) *MPIJobWrapper {
	w.Spec.MPIImplementation = i
	return w
}

// LauncherCreationPolicy sets spec.launcherCreationPolicy.
func (w *MPIJobWrapper) LauncherCreationPolicy(p kubeflow.LauncherCreationPolicy) *MPIJobWrapper {
	w.Spec.LauncherCreationPolicy = p
	return w
}

// Queue sets the Kueue queue label.
func (w *MPIJobWrapper) Queue(q string) *MPIJobWrapper {
	return w.Label("kueue.x-k8s.io/queue-name", q)
}

// Label sets a label of the job.
func (w *MPIJobWrapper) Label(k, v string) *MPIJobWrapper {
	if w.Labels == nil {
		w.Labels = map[string]string{}
	}
	w.Labels[k] = v
	return w
}

// Suspend sets spec.runPolicy.suspend.
func (w *MPIJobWrapper) Suspend(s bool) *MPIJobWrapper {
	w.Spec.RunPolicy.Suspend = ptr.To(s)
	return w
}

// CleanPodPolicy sets spec.runPolicy.cleanPodPolicy.
func (w *MPIJobWrapper) CleanPodPolicy(p kubeflow.CleanPodPolicy) *MPIJobWrapper {
	w.Spec.RunPolicy.CleanPodPolicy = ptr.To(p)
	return w
}

// TTLSecondsAfterFinished sets spec.runPolicy.ttlSecondsAfterFinished.
func (w *MPIJobWrapper) TTLSecondsAfterFinished(s int32) *MPIJobWrapper {
	w.Spec.RunPolicy.TTLSecondsAfterFinished = ptr.To(s)
	return w
}

// BackoffLimit sets spec.runPolicy.backoffLimit.
func (w *MPIJobWrapper) BackoffLimit(n int32) *MPIJobWrapper {
	w.Spec.RunPolicy.BackoffLimit = ptr.To(n)
	return w
}

// WorkerNodeSelector sets the workers' node selector (what Kueue injects
// when it admits a job to a flavor).
func (w *MPIJobWrapper) WorkerNodeSelector(sel map[string]string) *MPIJobWrapper {
	w.replica(kubeflow.MPIReplicaTypeWorker).Template.Spec.NodeSelector = sel
	return w
}

// LauncherAnnotation sets an annotation of the launcher's pod template.
func (w *MPIJobWrapper) LauncherAnnotation(k, v string) *MPIJobWrapper {
	t := &w.replica(kubeflow.MPIReplicaTypeLauncher).Template
	if t.Annotations == nil {
		t.Annotations = map[string]string{}
	}
	t.Annotations[k] = v
	return w
}

// container is the first container of a role's pod template.
func (w *MPIJobWrapper) container(role kubeflow.MPIReplicaType) *corev1.Container {
	return &w.replica(role).Template.Spec.Containers[0]
}

// ContainerName names a role's container.
func (w *MPIJobWrapper) ContainerName(role kubeflow.MPIReplicaType, name string) *MPIJobWrapper {
	w.container(role).Name = name
	return w
}

// Command sets a role's command; none leaves the image's entrypoint.
func (w *MPIJobWrapper) Command(role kubeflow.MPIReplicaType, cmd ...string) *MPIJobWrapper {
	if len(cmd) == 0 {
		cmd = nil
	}
	w.container(role).Command = cmd
	return w
}

// Requests sets a role's resource requests from name, quantity pairs:
// Requests(kubeflow.MPIReplicaTypeWorker, "cpu", "1", "memory", "4Gi").
func (w *MPIJobWrapper) Requests(role kubeflow.MPIReplicaType, kv ...string) *MPIJobWrapper {
	w.container(role).Resources.Requests = resourceList(kv)
	return w
}

// Limits sets a role's resource limits from name, quantity pairs.
func (w *MPIJobWrapper) Limits(role kubeflow.MPIReplicaType, kv ...string) *MPIJobWrapper {
	w.container(role).Resources.Limits = resourceList(kv)
	return w
}

func resourceList(kv []string) corev1.ResourceList {
	if len(kv)%2 != 0 {
		panic("wrappers: resources come in name, quantity pairs")
	}
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

// TemplateLabel sets a label of a role's pod template.
func (w *MPIJobWrapper) TemplateLabel(role kubeflow.MPIReplicaType, k, v string) *MPIJobWrapper {
	t := &w.replica(role).Template
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	t.Labels[k] = v
	return w
}

// RestartPolicy sets a role's restartPolicy.
func (w *MPIJobWrapper) RestartPolicy(role kubeflow.MPIReplicaType, p kubeflow.RestartPolicy) *MPIJobWrapper {
	w.replica(role).RestartPolicy = p
	return w
}

// Condition adds a status condition.
func (w *MPIJobWrapper) Condition(t kubeflow.JobConditionType, s corev1.ConditionStatus, reason, message string) *MPIJobWrapper {
	w.Status.Conditions = append(w.Status.Conditions, kubeflow.JobCondition{Type: t, Status: s, Reason: reason, Message: message})
	return w
}

// Finished marks the job Succeeded (or Failed) at the given time.
func (w *MPIJobWrapper) Finished(succeeded bool, at metav1.Time) *MPIJobWrapper {
	t := kubeflow.JobSucceeded
	if !succeeded {
		t = kubeflow.JobFailed
	}
	w.Status.Conditions = append(w.Status.Conditions, kubeflow.JobCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: at})
	w.Status.CompletionTime = &at
	return w
}

// PodWrapper builds a pod.
type PodWrapper struct{ corev1.Pod }

// MakePod is a pending pod with one container "mpi".
func MakePod(name, ns string) *PodWrapper {
	return &PodWrapper{corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "mpi", Image: "example.invalid/mpi:1"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}}
}

// Obj is the pod (a copy).
func (w *PodWrapper) Obj() *corev1.Pod { return w.DeepCopy() }

// Of makes the pod the job's launcher or worker (role kubeflow.RoleWorker
// or kubeflow.RoleLauncher), labelled as the controller labels its pods.
func (w *PodWrapper) Of(job, role string) *PodWrapper {
	if w.Labels == nil {
		w.Labels = map[string]string{}
	}
	w.Labels[kubeflow.JobNameLabel] = job
	w.Labels[kubeflow.JobRoleLabel] = role
	return w
}

// Running marks the pod Running and Ready.
func (w *PodWrapper) Running() *PodWrapper {
	w.Status.Phase = corev1.PodRunning
	w.Status.Conditions = append(w.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})
	w.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "mpi", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	return w
}

// Unschedulable marks the pod as the scheduler does when no node fits.
func (w *PodWrapper) Unschedulable(message string) *PodWrapper {
	w.Status.Conditions = append(w.Status.Conditions, corev1.PodCondition{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: message,
	})
	return w
}

// Waiting marks the container waiting with a reason (ErrImagePull,
// CrashLoopBackOff...).
func (w *PodWrapper) Waiting(reason, message string) *PodWrapper {
	w.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "mpi", State: corev1.ContainerState{
		Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message},
	}}}
	return w
}

// Terminated marks the pod ended with the container's exit code and
// reason (e.g. 137, OOMKilled); Succeeded when the code is 0.
func (w *PodWrapper) Terminated(code int32, reason string) *PodWrapper {
	w.Status.Phase = corev1.PodFailed
	if code == 0 {
		w.Status.Phase = corev1.PodSucceeded
	}
	w.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "mpi", State: corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason},
	}}}
	return w
}

// Restarted marks the pod Running after its container restarted count
// times in place, the last time ending with code, reason and message.
func (w *PodWrapper) Restarted(count, code int32, reason, message string) *PodWrapper {
	w.Running()
	cs := &w.Status.ContainerStatuses[0]
	cs.RestartCount = count
	cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: message}
	return w
}

// WorkloadWrapper builds a Kueue Workload.
type WorkloadWrapper struct{ kueue.Workload }

// MakeWorkload is a workload of a queue, neither admitted nor pending.
func MakeWorkload(name, ns, queue string) *WorkloadWrapper {
	return &WorkloadWrapper{kueue.Workload{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       kueue.WorkloadSpec{QueueName: kueue.LocalQueueName(queue)},
	}}
}

// Obj is the workload (a copy).
func (w *WorkloadWrapper) Obj() *kueue.Workload { return w.DeepCopy() }

// Pending marks the workload without quota, with Kueue's message.
func (w *WorkloadWrapper) Pending(message string) *WorkloadWrapper {
	w.Status.Conditions = append(w.Status.Conditions, metav1.Condition{
		Type: kueue.WorkloadQuotaReserved, Status: metav1.ConditionFalse, Reason: "Pending", Message: message,
	})
	return w
}

// Admitted marks the workload admitted.
func (w *WorkloadWrapper) Admitted() *WorkloadWrapper {
	w.Status.Conditions = append(w.Status.Conditions,
		metav1.Condition{Type: kueue.WorkloadQuotaReserved, Status: metav1.ConditionTrue, Reason: "QuotaReserved"},
		metav1.Condition{Type: kueue.WorkloadAdmitted, Status: metav1.ConditionTrue, Reason: "Admitted"},
	)
	return w
}
