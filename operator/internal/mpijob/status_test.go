package mpijob

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

func TestSetConditionWritesOnlyChanges(t *testing.T) {
	st := &kubeflow.JobStatus{}
	t0 := metav1.NewTime(time.Unix(100, 0))
	t1 := metav1.NewTime(time.Unix(200, 0))
	if !setCondition(st, kubeflow.JobCreated, corev1.ConditionTrue, ReasonCreated, "created", t0) {
		t.Fatal("a new condition reported no change")
	}
	if setCondition(st, kubeflow.JobCreated, corev1.ConditionTrue, ReasonCreated, "created", t1) {
		t.Error("the same condition again reported a change")
	}
	if c := getCondition(st, kubeflow.JobCreated); !c.LastUpdateTime.Equal(&t0) {
		t.Errorf("an unchanged condition moved its time to %v", c.LastUpdateTime)
	}
}

func TestTerminalConditionRecordsRunningAndStaysLast(t *testing.T) {
	st := &kubeflow.JobStatus{}
	now := metav1.Now()
	setCondition(st, kubeflow.JobCreated, corev1.ConditionTrue, ReasonCreated, "c", now)
	// The job finished before it was ever seen running.
	setCondition(st, kubeflow.JobSucceeded, corev1.ConditionTrue, ReasonSucceeded, "done", now)
	var types []kubeflow.JobConditionType
	for _, c := range st.Conditions {
		types = append(types, c.Type)
	}
	want := []kubeflow.JobConditionType{kubeflow.JobCreated, kubeflow.JobRunning, kubeflow.JobSucceeded}
	if len(types) != 3 || types[0] != want[0] || types[1] != want[1] || types[2] != want[2] {
		t.Fatalf("conditions %v, want %v", types, want)
	}
	if r := getCondition(st, kubeflow.JobRunning); r.Status != corev1.ConditionFalse {
		t.Errorf("Running = %s after success, want False", r.Status)
	}
	if !isFinished(st) {
		t.Error("a succeeded job is not finished")
	}
}
