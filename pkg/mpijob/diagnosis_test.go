package mpijob

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"
	"sigs.k8s.io/yaml"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

var update = flag.Bool("update", false, "rewrite testdata/contract/diagnosis.yaml")

const diagnosisHeader = `# The closed set of diagnosis reasons (pkg/mpijob.ReasonTable): how each is
# shown and its general advice. Written by: go test ./pkg/mpijob -run
# TestDiagnosisContract -update. Read by: that test, the Python SDK's
# tests/unit/test_contract.py (JobFailedError.remediation) and the console's
# src/contract.test.ts.
`

// TestDiagnosisContract: testdata/contract/diagnosis.yaml is the table.
func TestDiagnosisContract(t *testing.T) {
	path := filepath.Join("..", "..", "testdata", "contract", "diagnosis.yaml")
	type contract struct {
		Severities []Severity   `json:"severities"`
		Reasons    []ReasonInfo `json:"reasons"`
	}
	got := contract{Severities: Severities, Reasons: ReasonTable}
	if *update {
		data, err := yaml.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append([]byte(diagnosisHeader), data...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want contract
	if err := yaml.UnmarshalStrict(data, &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s differs from the table (run with -update, then fix the SDK and console) (-file +table):\n%s", path, diff)
	}
	seen := map[string]bool{}
	for _, r := range ReasonTable {
		if seen[r.Reason] || r.Remediation == "" {
			t.Errorf("reason %s: listed twice or without remediation", r.Reason)
		}
		seen[r.Reason] = true
	}
}

func TestDiagnose(t *testing.T) {
	pod := func(mutate func(*corev1.Pod)) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pi-worker-0"}}
		mutate(&p)
		return p
	}
	withCond := func(t kubeflow.JobConditionType, s corev1.ConditionStatus, reason, msg string) *kubeflow.MPIJob {
		j := &kubeflow.MPIJob{}
		j.Status.Conditions = []kubeflow.JobCondition{{Type: t, Status: s, Reason: reason, Message: msg}}
		return j
	}
	pending := &kueue.Workload{Spec: kueue.WorkloadSpec{QueueName: "gpus"}, Status: kueue.WorkloadStatus{Conditions: []metav1.Condition{
		{Type: kueue.WorkloadQuotaReserved, Status: metav1.ConditionFalse, Reason: "Pending", Message: "couldn't assign flavors"},
	}}}
	unschedulable := pod(func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: "0/4 nodes"}}
	})
	waiting := func(reason string) corev1.Pod {
		return pod(func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "m"}}}}
		})
	}
	for name, tc := range map[string]struct {
		job              *kubeflow.MPIJob
		pods             []corev1.Pod
		wl               *kueue.Workload
		reason           string
		severity         Severity
		remediationIsSet bool
	}{
		"failed: the controller's diagnosis wins": {withCond(kubeflow.JobFailed, corev1.ConditionTrue, ReasonOOMKilled, "worker-1 was OOMKilled"), []corev1.Pod{unschedulable}, pending, ReasonOOMKilled, SeverityDanger, true},
		"queued in Kueue":                         {&kubeflow.MPIJob{}, []corev1.Pod{unschedulable}, pending, ReasonQueued, SeverityInfo, true},
		"stored Running=False":                    {withCond(kubeflow.JobRunning, corev1.ConditionFalse, ReasonImagePullFailed, "pull"), []corev1.Pod{unschedulable}, nil, ReasonImagePullFailed, SeverityWarning, true},
		"unschedulable pod":                       {&kubeflow.MPIJob{}, []corev1.Pod{unschedulable}, nil, ReasonUnschedulable, SeverityWarning, true},
		"image pull back-off":                     {&kubeflow.MPIJob{}, []corev1.Pod{waiting("ImagePullBackOff")}, nil, ReasonImagePullFailed, SeverityWarning, true},
		"crash loop":                              {&kubeflow.MPIJob{}, []corev1.Pod{waiting("CrashLoopBackOff")}, nil, ReasonCrashLoopBackOff, SeverityWarning, true},
		"upstream restarting":                     {withCond(kubeflow.JobRestarting, corev1.ConditionTrue, "MPIJobRestarting", "restarting"), nil, nil, "MPIJobRestarting", SeverityWarning, false},
	} {
		t.Run(name, func(t *testing.T) {
			d := Diagnose(tc.job, tc.pods, tc.wl)
			if d == nil || d.Reason != tc.reason || d.Severity != tc.severity || (d.Remediation != "") != tc.remediationIsSet {
				t.Errorf("diagnosis %+v, want %s (%s), remediation set %v", d, tc.reason, tc.severity, tc.remediationIsSet)
			}
		})
	}
	if d := Diagnose(withCond(kubeflow.JobSucceeded, corev1.ConditionTrue, "", ""), []corev1.Pod{unschedulable}, nil); d != nil {
		t.Errorf("a succeeded job has no diagnosis, got %+v", d)
	}
	if d := Diagnose(&kubeflow.MPIJob{}, nil, nil); d != nil {
		t.Errorf("a healthy job has no diagnosis, got %+v", d)
	}
}
