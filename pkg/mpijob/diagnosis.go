package mpijob

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// Reasons the controller writes into a job's Failed condition (and, for
// Unschedulable and ImagePullFailed, into Running=False while the job
// waits), beyond upstream's MPIJob* reasons; and the few a client derives
// from pods or Kueue. The set is closed: ReasonTable lists every one, and
// testdata/contract/diagnosis.yaml pins it for the SDK and the console.
const (
	ReasonOOMKilled            = "OOMKilled"
	ReasonImagePullFailed      = "ImagePullFailed"
	ReasonCUDAError            = "CUDAError"
	ReasonNCCLError            = "NCCLError"
	ReasonEvicted              = "Evicted"
	ReasonWorkerFailed         = "WorkerFailed"
	ReasonLauncherFailed       = "LauncherFailed"
	ReasonDeadlineExceeded     = "DeadlineExceeded"
	ReasonBackoffLimitExceeded = "BackoffLimitExceeded"
	ReasonUnschedulable        = "Unschedulable"
	ReasonValidationError      = "ValidationError"
	// ReasonPolicyViolation: the job breaks the platform's pod policy
	// (podpolicy) and reached the controller without the webhooks.
	ReasonPolicyViolation = "PolicyViolation"
	// ReasonCrashLoopBackOff: a container keeps exiting and is restarted
	// with back-off (derived from pods; the job fails only when its
	// launcher's back-off limit is reached).
	ReasonCrashLoopBackOff = "CrashLoopBackOff"
	// ReasonQueued: Kueue has not admitted the job's workload yet.
	ReasonQueued = "Queued"
)

// Severity says how a diagnosis is shown: danger (the job failed),
// warning (it cannot progress), info (it waits as it should).
type Severity string

// The severities.
const (
	SeverityDanger  Severity = "danger"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// Severities is every severity, the gravest first.
var Severities = []Severity{SeverityDanger, SeverityWarning, SeverityInfo}

// ReasonInfo is one reason of the closed set: how it is shown and what to
// do about it in general (the diagnosis's message says what to do about
// this job in particular).
type ReasonInfo struct {
	Reason      string   `json:"reason"`
	Severity    Severity `json:"severity"`
	Remediation string   `json:"remediation"`
}

// ReasonTable is every reason, in a stable order.
var ReasonTable = []ReasonInfo{
	{ReasonOOMKilled, SeverityDanger, "raise the memory limit of the pods that were killed, or lower the batch size"},
	{ReasonImagePullFailed, SeverityDanger, "check the image name and tag, and that the namespace has a pull secret for its registry"},
	{ReasonCUDAError, SeverityDanger, "check that the image's CUDA version matches the node's driver and that the pods request nvidia.com/gpu"},
	{ReasonNCCLError, SeverityDanger, "check NCCL_SOCKET_IFNAME and that workers can reach each other; set NCCL_DEBUG=INFO for details"},
	{ReasonEvicted, SeverityDanger, "resubmit the job; set requests that match what the job uses"},
	{ReasonWorkerFailed, SeverityDanger, "read the failed worker's log for the cause"},
	{ReasonLauncherFailed, SeverityDanger, "read the launcher's log for the cause"},
	{ReasonDeadlineExceeded, SeverityDanger, "raise runPolicy.activeDeadlineSeconds or make the job shorter"},
	{ReasonBackoffLimitExceeded, SeverityDanger, "read the launcher's log for the cause"},
	{ReasonUnschedulable, SeverityWarning, "wait for capacity, or ask for less per pod"},
	{ReasonValidationError, SeverityDanger, "fix the fields the message names and submit the job again"},
	{ReasonPolicyViolation, SeverityDanger, "remove what the platform's pod policy refuses (the message names each field), or ask a platform admin to allow it"},
	{ReasonCrashLoopBackOff, SeverityWarning, "read the container's previous log (kubectl logs --previous) for why it keeps exiting"},
	{ReasonQueued, SeverityInfo, "wait for Kueue to admit the job, or ask a platform admin for more quota"},
}

// Remediation is the general advice for a reason, "" for one outside the
// set.
func Remediation(reason string) string {
	for _, r := range ReasonTable {
		if r.Reason == reason {
			return r.Remediation
		}
	}
	return ""
}

// Diagnosis says why a job failed or does not progress, and what to do.
type Diagnosis struct {
	Severity Severity `json:"severity"`
	Reason   string   `json:"reason"`
	// Message is what happened to this job and what to do about it.
	Message string `json:"message"`
	// Remediation is the reason's general advice ("" when the reason is
	// not ours).
	Remediation string `json:"remediation,omitempty"`
}

func diagnosis(s Severity, reason, message string) *Diagnosis {
	return &Diagnosis{Severity: s, Reason: reason, Message: message, Remediation: Remediation(reason)}
}

// newDiagnosis is a diagnosis with its reason's severity.
func newDiagnosis(reason, message string) Diagnosis {
	d := Diagnosis{Severity: SeverityDanger, Reason: reason, Message: message, Remediation: Remediation(reason)}
	for _, r := range ReasonTable {
		if r.Reason == reason {
			d.Severity = r.Severity
		}
	}
	return d
}

// Diagnose says what is wrong with a job now, or nil when nothing is. What
// the controller stored wins: the Failed condition, then its Running=False
// diagnosis; Kueue's view of a queued job comes next; only then are the
// pods read, for jobs the controller has not diagnosed (yet, or ever: jobs
// of another controller). wl may be nil.
func Diagnose(job *kubeflow.MPIJob, pods []corev1.Pod, wl *kueue.Workload) *Diagnosis {
	if c := TrueCondition(job, kubeflow.JobFailed); c != nil {
		return diagnosis(SeverityDanger, c.Reason, c.Message)
	}
	if TrueCondition(job, kubeflow.JobSucceeded) != nil {
		return nil
	}
	if wl != nil && !WorkloadAdmitted(wl) {
		for _, t := range []string{kueue.WorkloadQuotaReserved, kueue.WorkloadAdmitted} {
			if c := meta.FindStatusCondition(wl.Status.Conditions, t); c != nil && c.Status != metav1.ConditionTrue && c.Message != "" {
				return diagnosis(SeverityInfo, ReasonQueued, "waiting in Kueue queue "+string(wl.Spec.QueueName)+": "+c.Message)
			}
		}
	}
	if c := TrueCondition(job, kubeflow.JobRestarting); c != nil {
		return diagnosis(SeverityWarning, c.Reason, c.Message)
	}
	for _, c := range job.Status.Conditions {
		if c.Type == kubeflow.JobRunning && c.Status == corev1.ConditionFalse && (c.Reason == ReasonUnschedulable || c.Reason == ReasonImagePullFailed) {
			return diagnosis(SeverityWarning, c.Reason, c.Message)
		}
	}
	// The controller's own checks, for a job it has not diagnosed: not
	// fatal yet, so warnings.
	now := time.Now()
	for i := range pods {
		if d, _, found := DiagnoseImagePull(&pods[i], now); found {
			return diagnosis(SeverityWarning, d.Reason, d.Message)
		}
	}
	if d, found := DiagnoseUnschedulable(pods); found {
		return diagnosis(SeverityWarning, d.Reason, d.Message)
	}
	for i := range pods {
		p := &pods[i]
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
				return diagnosis(SeverityWarning, ReasonCrashLoopBackOff, PodRole(p)+": "+strings.TrimSpace(w.Reason+": "+firstLine(w.Message)))
			}
		}
	}
	return nil
}

// WorkloadAdmitted says whether Kueue admitted the workload.
func WorkloadAdmitted(wl *kueue.Workload) bool {
	return meta.IsStatusConditionTrue(wl.Status.Conditions, kueue.WorkloadAdmitted)
}
