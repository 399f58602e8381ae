// Package contract loads the fixtures of testdata/contract for the Go
// tests that share them (the SDK's pytest and the console's Vitest read the
// same files): one definition of each fixture's shape, one way to find it.
package contract

import (
	"os"
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Path is the fixture's path: under the repository root, the nearest
// folder above the test's working directory (its package) that holds
// testdata/contract.
func Path(name string) string {
	dir, err := os.Getwd()
	if err != nil {
		return filepath.Join("testdata", "contract", name)
	}
	for {
		if st, err := os.Stat(filepath.Join(dir, "testdata", "contract")); err == nil && st.IsDir() {
			return filepath.Join(dir, "testdata", "contract", name)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return filepath.Join("testdata", "contract", name)
		}
		dir = parent
	}
}

// Load reads a fixture into v, refusing fields v does not have.
func Load(t testing.TB, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(Path(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// Validation is validation.yaml: each case's spec is laid over Defaults;
// Invalid names the jobspec fields that are wrong.
type Validation struct {
	Defaults map[string]any   `json:"defaults"`
	Cases    []ValidationCase `json:"cases"`
}

// ValidationCase is one case of validation.yaml.
type ValidationCase struct {
	What    string         `json:"what"`
	Spec    map[string]any `json:"spec"`
	Invalid []string       `json:"invalid"`
}

// Merged is the case's spec over the defaults.
func (v Validation) Merged(c ValidationCase) map[string]any {
	out := make(map[string]any, len(v.Defaults)+len(c.Spec))
	for k, x := range v.Defaults {
		out[k] = x
	}
	for k, x := range c.Spec {
		out[k] = x
	}
	return out
}

// Denial is denial.yaml: 403 answers to creating an MPIJob and who
// refused each, written by the webhook's tests.
type Denial struct {
	DenialCauses []metav1.CauseType `json:"denialCauses"`
	Cases        []DenialCase       `json:"cases"`
}

// DenialCase is one 403 of denial.yaml.
type DenialCase struct {
	What   string        `json:"what"`
	Status metav1.Status `json:"status"`
	// RefusedBy is "platform" (a cause of ours), "webhook" (another
	// admission webhook) or "rbac".
	RefusedBy string `json:"refusedBy"`
}
