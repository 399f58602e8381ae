package mpijob

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"
	"sigs.k8s.io/yaml"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
	"github.com/mpijob-platform/mpijob-platform/test/contract"
	"github.com/mpijob-platform/mpijob-platform/test/golden"
)

const diagnosisHeader = `# The closed set of diagnosis reasons (pkg/mpijob.ReasonTable): how each is
# shown and its general advice. Written by: go test ./pkg/mpijob -run
# TestDiagnosisContract -update. Read by: that test, the Python SDK's
# tests/unit/test_contract.py (JobFailedError.remediation) and the console's
# src/contract.test.ts.
`

// TestDiagnosisContract: testdata/contract/diagnosis.yaml is the table.
func TestDiagnosisContract(t *testing.T) {
	type table struct {
		Severities []Severity   `json:"severities"`
		Reasons    []ReasonInfo `json:"reasons"`
	}
	data, err := yaml.Marshal(table{Severities: Severities, Reasons: ReasonTable})
	if err != nil {
		t.Fatal(err)
	}
	// With -update this rewrites the file; then fix the SDK and console.
	golden.CheckFile(t, contract.Path("diagnosis.yaml"), append([]byte(diagnosisHeader), data...))
	seen := map[string]bool{}
	for _, r := range ReasonTable {
		if seen[r.Reason] || r.Remediation == "" {
			t.Errorf("reason %s: listed twice or without remediation", r.Reason)
		}
		seen[r.Reason] = true
	}
}

func TestDiagnose(t *testing.T) {
	job := func() *wrappers.MPIJobWrapper { return wrappers.MakeMPIJob("pi", "team-a") }
	pending := wrappers.MakeWorkload("mpijob-pi", "team-a", "gpus").Pending("couldn't assign flavors").Obj()
	admitted := wrappers.MakeWorkload("mpijob-pi", "team-a", "gpus").Admitted().Obj()
	unschedulable := *wrappers.MakePod("pi-worker-0", "team-a").Unschedulable("0/4 nodes").Obj()
	waiting := func(reason string) corev1.Pod {
		return *wrappers.MakePod("pi-worker-0", "team-a").Waiting(reason, "m").Obj()
	}
	for name, tc := range map[string]struct {
		job              *kubeflow.MPIJob
		pods             []corev1.Pod
		wl               *kueue.Workload
		reason           string
		severity         Severity
		remediationIsSet bool
	}{
		"failed: the controller's diagnosis wins": {job().Condition(kubeflow.JobFailed, corev1.ConditionTrue, ReasonOOMKilled, "worker-1 was OOMKilled").Obj(), []corev1.Pod{unschedulable}, pending, ReasonOOMKilled, SeverityDanger, true},
		"queued in Kueue":                         {job().Obj(), []corev1.Pod{unschedulable}, pending, ReasonQueued, SeverityInfo, true},
		"admitted: the pods speak":                {job().Obj(), []corev1.Pod{unschedulable}, admitted, ReasonUnschedulable, SeverityWarning, true},
		"stored Running=False":                    {job().Condition(kubeflow.JobRunning, corev1.ConditionFalse, ReasonImagePullFailed, "pull").Obj(), []corev1.Pod{unschedulable}, nil, ReasonImagePullFailed, SeverityWarning, true},
		"unschedulable pod":                       {job().Obj(), []corev1.Pod{unschedulable}, nil, ReasonUnschedulable, SeverityWarning, true},
		"image pull back-off":                     {job().Obj(), []corev1.Pod{waiting("ImagePullBackOff")}, nil, ReasonImagePullFailed, SeverityWarning, true},
		"crash loop":                              {job().Obj(), []corev1.Pod{waiting("CrashLoopBackOff")}, nil, ReasonCrashLoopBackOff, SeverityWarning, true},
		"upstream restarting":                     {job().Condition(kubeflow.JobRestarting, corev1.ConditionTrue, "MPIJobRestarting", "restarting").Obj(), nil, nil, "MPIJobRestarting", SeverityWarning, false},
	} {
		t.Run(name, func(t *testing.T) {
			d := Diagnose(tc.job, tc.pods, tc.wl)
			if d == nil || d.Reason != tc.reason || d.Severity != tc.severity || (d.Remediation != "") != tc.remediationIsSet {
				t.Errorf("diagnosis %+v, want %s (%s), remediation set %v", d, tc.reason, tc.severity, tc.remediationIsSet)
			}
		})
	}
	succeeded := job().Condition(kubeflow.JobSucceeded, corev1.ConditionTrue, "", "").Obj()
	if d := Diagnose(succeeded, []corev1.Pod{unschedulable}, nil); d != nil {
		t.Errorf("a succeeded job has no diagnosis, got %+v", d)
	}
	if d := Diagnose(job().Obj(), []corev1.Pod{*wrappers.MakePod("pi-worker-0", "team-a").Running().Obj()}, admitted); d != nil {
		t.Errorf("a healthy job has no diagnosis, got %+v", d)
	}
}
