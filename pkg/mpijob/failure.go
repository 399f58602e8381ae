package mpijob

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// What the controller reads from a job's pods and launcher Job to say why
// it failed or cannot progress. The controller stores the result in the
// job's conditions; clients call these only through Diagnose, for jobs the
// controller has not diagnosed.

// ImagePullFatalAfter is how long an image keeps failing to pull before the
// job fails; an invalid image name fails it at once.
const ImagePullFatalAfter = 3 * time.Minute

// PodRole names a pod for messages: "worker-3" or "launcher" for an
// MPIJob's pods, its name for any other.
func PodRole(pod *corev1.Pod) string {
	if i := strings.LastIndex(pod.Name, kubeflow.WorkerNameInfix); i >= 0 {
		return "worker-" + pod.Name[i+len(kubeflow.WorkerNameInfix):]
	}
	if strings.Contains(pod.Name, kubeflow.LauncherNameSuffix) || pod.Labels[kubeflow.JobRoleLabel] == kubeflow.RoleLauncher {
		return "launcher"
	}
	return pod.Name
}

// DiagnoseTermination explains one terminated container.
func DiagnoseTermination(who string, c *corev1.Container, t *corev1.ContainerStateTerminated) Diagnosis {
	msg := strings.TrimSpace(t.Message)
	lower := strings.ToLower(msg)
	switch {
	case t.Reason == "OOMKilled":
		limit := "no memory limit"
		if c != nil {
			if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
				limit = q.String()
			}
		}
		if limit == "no memory limit" {
			return newDiagnosis(ReasonOOMKilled, fmt.Sprintf("%s was OOMKilled with no memory limit (its node ran out of memory): set a memory request and limit that fit the model, or lower the batch size", who))
		}
		return newDiagnosis(ReasonOOMKilled, fmt.Sprintf("%s was OOMKilled at %s: raise the %s memory limit or lower the batch size", who, limit, roleKind(who)))
	case strings.Contains(lower, "cuda error") || strings.Contains(lower, "cuda out of memory") || strings.Contains(lower, "cudaerror") || strings.Contains(lower, "cuda_error"):
		hint := "check that the image's CUDA version matches the node's driver and that the pod requests nvidia.com/gpu"
		if strings.Contains(lower, "out of memory") {
			hint = "GPU memory ran out: lower the batch size or use more workers"
		}
		return newDiagnosis(ReasonCUDAError, fmt.Sprintf("%s failed with a CUDA error (exit code %d): %s: %s", who, t.ExitCode, firstLine(msg), hint))
	case strings.Contains(lower, "nccl"):
		return newDiagnosis(ReasonNCCLError, fmt.Sprintf("%s failed with an NCCL error (exit code %d): %s: check NCCL_SOCKET_IFNAME and that workers can reach each other (NetworkPolicy, Istio sidecars); set NCCL_DEBUG=INFO for details", who, t.ExitCode, firstLine(msg)))
	}
	detail := fmt.Sprintf("%s exited with code %d", who, t.ExitCode)
	if t.Reason != "" {
		detail += " (" + t.Reason + ")"
	}
	if msg != "" {
		detail += ": " + firstLine(msg)
	}
	reason := ReasonWorkerFailed
	if who == "launcher" {
		reason = ReasonLauncherFailed
	}
	return newDiagnosis(reason, detail+": read its logs for the cause")
}

func roleKind(who string) string {
	if who == "launcher" {
		return "launcher"
	}
	return "worker"
}

// maxDetailBytes bounds what a diagnosis quotes from elsewhere (a
// termination message, the scheduler's reason), so that the remedy after it
// fits in an event note (maxEventNoteBytes).
const maxDetailBytes = 300

// maxListedPods is how many pods a diagnosis names before "and N more".
const maxListedPods = 5

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return TruncateUTF8(s, maxDetailBytes)
}

// podList names the first maxListedPods pods, and counts the others: with
// a thousand workers the full list would push the remedy out of the note.
func podList(names []string) string {
	if len(names) <= maxListedPods {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxListedPods], ", "), len(names)-maxListedPods)
}

// DiagnosePodFailure explains a pod that ended Failed: eviction or its first
// failed container.
func DiagnosePodFailure(pod *corev1.Pod) Diagnosis {
	who := PodRole(pod)
	if pod.Status.Reason == "Evicted" || hasDisruptionTarget(pod) {
		msg := TruncateUTF8(strings.TrimSpace(pod.Status.Message), maxDetailBytes)
		if msg == "" {
			msg = "the node reclaimed resources or was drained"
		}
		return newDiagnosis(ReasonEvicted, fmt.Sprintf("%s was evicted: %s: resubmit the job; if the node ran short of memory or disk, set requests that match what the job uses", who, msg))
	}
	for i := range pod.Status.ContainerStatuses {
		cs := &pod.Status.ContainerStatuses[i]
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			return DiagnoseTermination(who, ContainerSpec(pod, cs.Name), t)
		}
	}
	return newDiagnosis(ReasonWorkerFailed, fmt.Sprintf("%s failed: %s", who, TruncateUTF8(strings.TrimSpace(pod.Status.Reason+" "+pod.Status.Message), maxDetailBytes)))
}

// diagnoseRestartedLauncher explains the latest launcher pod whose
// container ended with an error (now, or before its last restart).
func diagnoseRestartedLauncher(pods []corev1.Pod) (Diagnosis, bool) {
	var latest *corev1.Pod
	var term *corev1.ContainerStateTerminated
	var name string
	for i := range pods {
		p := &pods[i]
		if latest != nil && p.CreationTimestamp.Before(&latest.CreationTimestamp) {
			continue
		}
		for j := range p.Status.ContainerStatuses {
			cs := &p.Status.ContainerStatuses[j]
			for _, t := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
				if t != nil && t.ExitCode != 0 {
					latest, term, name = p, t, cs.Name
					break
				}
			}
		}
	}
	if latest == nil {
		return Diagnosis{}, false
	}
	return DiagnoseTermination(PodRole(latest), ContainerSpec(latest, name), term), true
}

func hasDisruptionTarget(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue && c.Reason == "TerminationByKubelet" {
			return true
		}
	}
	return false
}

func ContainerSpec(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	return nil
}

// DiagnoseImagePull finds a container that cannot pull its image. It is
// fatal for an invalid name or after ImagePullFatalAfter of failures.
func DiagnoseImagePull(pod *corev1.Pod, now time.Time) (d Diagnosis, fatal, found bool) {
	for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		w := cs.State.Waiting
		if w == nil {
			continue
		}
		switch w.Reason {
		case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull":
			d = newDiagnosis(ReasonImagePullFailed, fmt.Sprintf("%s cannot pull image %q (%s): %s: check the image name and tag, and that the namespace has a pull secret for its registry",
				PodRole(pod), cs.Image, w.Reason, firstLine(w.Message)))
			age := now.Sub(pod.CreationTimestamp.Time)
			return d, w.Reason == "InvalidImageName" || w.Reason == "ErrImageNeverPull" || age >= ImagePullFatalAfter, true
		}
	}
	return Diagnosis{}, false, false
}

// DiagnoseUnschedulable summarises pods the scheduler cannot place.
func DiagnoseUnschedulable(pods []corev1.Pod) (Diagnosis, bool) {
	var names []string
	var detail string
	for i := range pods {
		for _, c := range pods[i].Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				names = append(names, PodRole(&pods[i]))
				if detail == "" {
					detail = firstLine(c.Message)
				}
			}
		}
	}
	if len(names) == 0 {
		return Diagnosis{}, false
	}
	sort.Strings(names)
	hint := "wait for capacity, or ask for less per pod"
	switch {
	case strings.Contains(detail, "nvidia.com/gpu"):
		hint = "no node has enough free nvidia.com/gpu: lower the GPUs per worker (more workers, fewer GPUs each) or wait for GPUs to free up"
	case strings.Contains(detail, "Insufficient memory"):
		hint = "no node has enough free memory: lower the memory request per pod or wait for capacity"
	case strings.Contains(detail, "Insufficient cpu"):
		hint = "no node has enough free CPU: lower the CPU request per pod or wait for capacity"
	case strings.Contains(detail, "node affinity") || strings.Contains(detail, "selector"):
		hint = "no node matches the pods' node selector or affinity: check the labels it asks for"
	}
	return newDiagnosis(ReasonUnschedulable, fmt.Sprintf("%d pod(s) cannot be scheduled (%s): %s: %s", len(names), podList(names), detail, hint)), true
}

// DiagnoseLauncherJob explains a failed launcher Job, preferring what its
// last failed pod says.
func DiagnoseLauncherJob(job *batchv1.Job, launcherPods []corev1.Pod, activeDeadline *int64) Diagnosis {
	var cond *batchv1.JobCondition
	for i := range job.Status.Conditions {
		if c := &job.Status.Conditions[i]; c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			cond = c
		}
	}
	var last *corev1.Pod
	for i := range launcherPods {
		p := &launcherPods[i]
		if p.Status.Phase == corev1.PodFailed && (last == nil || last.CreationTimestamp.Before(&p.CreationTimestamp)) {
			last = p
		}
	}
	if cond != nil && cond.Reason == batchv1.JobReasonDeadlineExceeded {
		limit := "activeDeadlineSeconds"
		if activeDeadline != nil {
			limit = fmt.Sprintf("activeDeadlineSeconds=%d", *activeDeadline)
		}
		return newDiagnosis(ReasonDeadlineExceeded, fmt.Sprintf("the job ran longer than runPolicy.%s and was stopped: raise the deadline or make the job shorter (fewer epochs, checkpoint and resume)", limit))
	}
	var podDiag *Diagnosis
	if last != nil {
		d := DiagnosePodFailure(last)
		podDiag = &d
	} else if d, ok := diagnoseRestartedLauncher(launcherPods); ok {
		// restartPolicy OnFailure: the failures were container restarts in
		// a pod that never ended Failed, which the Job controller deletes
		// on reaching backoffLimit; its last termination still says why.
		podDiag = &d
	}
	if cond != nil && cond.Reason == batchv1.JobReasonBackoffLimitExceeded {
		msg := fmt.Sprintf("the launcher failed %d time(s), reaching runPolicy.backoffLimit", job.Status.Failed)
		if podDiag != nil {
			// Keep the specific reason (OOMKilled, NCCLError...) when the
			// last failure has one; the retry count goes in the message.
			if podDiag.Reason != ReasonLauncherFailed {
				return newDiagnosis(podDiag.Reason, msg+"; the last attempt: "+podDiag.Message)
			}
			msg += "; the last attempt: " + podDiag.Message
		}
		return newDiagnosis(ReasonBackoffLimitExceeded, msg)
	}
	if podDiag != nil {
		return *podDiag
	}
	if cond != nil {
		return newDiagnosis(ReasonLauncherFailed, fmt.Sprintf("the launcher Job failed (%s): %s", cond.Reason, cond.Message))
	}
	return newDiagnosis(ReasonLauncherFailed, "the launcher Job failed")
}

// truncationMarker ends a cut text.
const truncationMarker = "…"

// TruncateUTF8 cuts s to at most max bytes, between runes, ending the cut
// text with a marker. Bytes that are not UTF-8 become U+FFFD first (JSON
// encoding would replace them anyway, three bytes each), so the length is
// the one the apiserver sees.
func TruncateUTF8(s string, max int) string {
	s = strings.ToValidUTF8(s, string(utf8.RuneError))
	if len(s) <= max {
		return s
	}
	if max < len(truncationMarker) {
		return ""
	}
	cut := max - len(truncationMarker)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + truncationMarker
}
