package jobspec

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/contract"
)

// apiChecked are the fields whose rules the MPIJob API's own validation
// holds too. The rest are refused later by the API server's pod
// validation (a negative GPU limit, an env name) or cannot be written into
// an MPIJob at all (a quantity that does not parse).
var apiChecked = map[string]bool{"name": true, "workers": true, "slotsPerWorker": true, "backoffLimit": true, "activeDeadlineSeconds": true}

// TestValidationContract: the jobspec (CLI and console) and the MPIJob
// API give each case of the contract the verdict it names. The SDK's and
// the console front end's tests hold the same file.
func TestValidationContract(t *testing.T) {
	var c contract.Validation
	contract.Load(t, "validation.yaml", &c)
	if len(c.Cases) < 30 {
		t.Fatalf("the contract has %d cases; it promises at least 30", len(c.Cases))
	}
	for _, tc := range c.Cases {
		t.Run(tc.What, func(t *testing.T) {
			raw, _ := json.Marshal(c.Merged(tc))
			var s Spec
			dec := json.NewDecoder(strings.NewReader(string(raw)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&s); err != nil {
				t.Fatalf("the case is not a Spec: %v", err)
			}
			_, errs := s.Build()
			var got []string
			for _, e := range errs {
				root, _, _ := strings.Cut(e.Field, "[")
				root, _, _ = strings.Cut(root, ".")
				if !slices.Contains(got, root) {
					got = append(got, root)
				}
			}
			slices.Sort(got)
			want := slices.Clone(tc.Invalid)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("jobspec says %v wrong (%v), the contract %v", got, errs, want)
			}
			// The API refuses a job whose spec breaks one of its rules, and
			// accepts the rest.
			job := s.BuildUnchecked()
			kubeflow.SetDefaults(job)
			apiErrs := kubeflow.ValidateMPIJob(job)
			apiWants := slices.ContainsFunc(tc.Invalid, func(f string) bool { return apiChecked[f] })
			if (len(apiErrs) > 0) != apiWants {
				t.Errorf("the MPIJob API says %v; the contract says invalid %v", apiErrs, tc.Invalid)
			}
		})
	}
}
