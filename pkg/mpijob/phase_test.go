package mpijob

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// TestPhaseContract: testdata/contract/phase.yaml, which the SDK's and the
// console front end's tests load too.
func TestPhaseContract(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "contract", "phase.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Phases []Phase `json:"phases"`
		Cases  []struct {
			What       string   `json:"what"`
			Conditions []string `json:"conditions"`
			Suspended  bool     `json:"suspended"`
			Queued     bool     `json:"queued"`
			Phase      Phase    `json:"phase"`
		} `json:"cases"`
	}
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Phases, Phases) {
		t.Errorf("phases %v, the contract %v", Phases, c.Phases)
	}
	for _, tc := range c.Cases {
		t.Run(tc.What, func(t *testing.T) {
			s := Signals{Conditions: map[string]bool{}, Suspended: tc.Suspended, Queued: tc.Queued}
			job := &kubeflow.MPIJob{ObjectMeta: metav1.ObjectMeta{Name: "j"}}
			if tc.Suspended {
				job.Spec.RunPolicy.Suspend = ptr.To(true)
			}
			if tc.Queued {
				job.Labels = map[string]string{QueueLabel: "q"}
			}
			for _, cond := range tc.Conditions {
				s.Conditions[cond] = true
				job.Status.Conditions = append(job.Status.Conditions, kubeflow.JobCondition{Type: kubeflow.JobConditionType(cond), Status: corev1.ConditionTrue})
			}
			if got := PhaseFrom(s); got != tc.Phase {
				t.Errorf("PhaseFrom = %s, want %s", got, tc.Phase)
			}
			if got := PhaseOf(job); got != tc.Phase {
				t.Errorf("PhaseOf = %s, want %s", got, tc.Phase)
			}
		})
	}
}

func TestQueueOfReadsTheSchedulingPolicy(t *testing.T) {
	job := &kubeflow.MPIJob{}
	job.Spec.RunPolicy.SchedulingPolicy = &kubeflow.SchedulingPolicy{Queue: "q"}
	if QueueOf(job) != "q" {
		t.Error("the scheduling policy's queue is the job's queue")
	}
}
