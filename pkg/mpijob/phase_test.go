package mpijob

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
	"github.com/mpijob-platform/mpijob-platform/test/contract"
)

// TestPhaseContract: testdata/contract/phase.yaml, which the SDK's and the
// console front end's tests load too.
func TestPhaseContract(t *testing.T) {
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
	contract.Load(t, "phase.yaml", &c)
	if !slices.Equal(c.Phases, Phases) {
		t.Errorf("phases %v, the contract %v", Phases, c.Phases)
	}
	for _, tc := range c.Cases {
		t.Run(tc.What, func(t *testing.T) {
			s := Signals{Conditions: map[string]bool{}, Suspended: tc.Suspended, Queued: tc.Queued}
			w := wrappers.MakeMPIJob("j", "ns").Suspend(tc.Suspended)
			if tc.Queued {
				w.Queue("q")
			}
			for _, cond := range tc.Conditions {
				s.Conditions[cond] = true
				w.Condition(kubeflow.JobConditionType(cond), corev1.ConditionTrue, "", "")
			}
			job := w.Obj()
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
