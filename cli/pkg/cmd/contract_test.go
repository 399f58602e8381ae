package cmd

import (
	"os"
	"path/filepath"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// TestDenialContract: testdata/contract/denial.yaml, written by the
// webhook's tests, gives every 403 the CLI's exit code: 2 for a refusal of
// the job (the platform's or another webhook's), 4 for a missing
// permission.
func TestDenialContract(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "contract", "denial.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var contract struct {
		Cases []struct {
			What      string        `json:"what"`
			Status    metav1.Status `json:"status"`
			RefusedBy string        `json:"refusedBy"`
		} `json:"cases"`
	}
	if err := yaml.Unmarshal(data, &contract); err != nil {
		t.Fatal(err)
	}
	if len(contract.Cases) == 0 {
		t.Fatal("no cases")
	}
	want := map[string]int{"platform": ExitUsage, "webhook": ExitUsage, "rbac": ExitNotFound}
	for _, c := range contract.Cases {
		code, ok := want[c.RefusedBy]
		if !ok {
			t.Fatalf("%s: refusedBy %q is not one of the contract's", c.What, c.RefusedBy)
		}
		if got := ExitCode(&apierrors.StatusError{ErrStatus: c.Status}); got != code {
			t.Errorf("%s: exit code %d, want %d", c.What, got, code)
		}
	}
}
