package jobspec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// validationContract is testdata/contract/validation.yaml.
type validationContract struct {
	Defaults map[string]any `json:"defaults"`
	Cases    []struct {
		What    string         `json:"what"`
		Spec    map[string]any `json:"spec"`
		Invalid []string       `json:"invalid"`
	} `json:"cases"`
}

// apiChecked are the fields whose rules the MPIJob API's own validation
// holds too. The rest are refused later by the API server's pod
// validation (a negative GPU limit, an env name) or cannot be written into
// an MPIJob at all (a quantity that does not parse).
var apiChecked = map[string]bool{"name": true, "workers": true, "slotsPerWorker": true, "backoffLimit": true, "activeDeadlineSeconds": true}

// TestValidationContract: the jobspec (CLI and console) and the MPIJob
// API give each case of the contract the verdict it names. The SDK's and
// the console front end's tests hold the same file.
func TestValidationContract(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "contract", "validation.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c validationContract
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Cases) < 30 {
		t.Fatalf("the contract has %d cases; it promises at least 30", len(c.Cases))
	}
	for _, tc := range c.Cases {
		t.Run(tc.What, func(t *testing.T) {
			merged := map[string]any{}
			for k, v := range c.Defaults {
				merged[k] = v
			}
			for k, v := range tc.Spec {
				merged[k] = v
			}
			raw, _ := json.Marshal(merged)
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
