package cmd

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/mpijob-platform/mpijob-platform/test/contract"
)

// TestDenialContract: testdata/contract/denial.yaml, written by the
// webhook's tests, gives every 403 the CLI's exit code: 2 for a refusal of
// the job (the platform's or another webhook's), 4 for a missing
// permission.
func TestDenialContract(t *testing.T) {
	var denial contract.Denial
	contract.Load(t, "denial.yaml", &denial)
	if len(denial.Cases) == 0 {
		t.Fatal("no cases")
	}
	want := map[string]int{"platform": ExitUsage, "webhook": ExitUsage, "rbac": ExitNotFound}
	for _, c := range denial.Cases {
		code, ok := want[c.RefusedBy]
		if !ok {
			t.Fatalf("%s: refusedBy %q is not one of the contract's", c.What, c.RefusedBy)
		}
		if got := ExitCode(&apierrors.StatusError{ErrStatus: c.Status}); got != code {
			t.Errorf("%s: exit code %d, want %d", c.What, got, code)
		}
	}
}

// TestValidationContract: `mpijob create` from flags gives every case of
// testdata/contract/validation.yaml the verdict it names (exit 2, naming
// the flag, for an invalid one), except for the fields the CLI has no flag
// for.
func TestValidationContract(t *testing.T) {
	var validation contract.Validation
	contract.Load(t, "validation.yaml", &validation)
	ran := 0
	for _, tc := range validation.Cases {
		merged := validation.Merged(tc)
		args := []string{"mpijob", "create", "--dry-run=client", "-o", "name"}
		flagless := false
		for _, k := range slices.Sorted(maps.Keys(merged)) {
			v := merged[k]
			switch k {
			case "name":
			case "command":
				var words []string
				for _, w := range v.([]any) {
					words = append(words, fmt.Sprint(w))
				}
				args = append(args, "--command", strings.Join(words, " "))
			case "env":
				for _, e := range v.([]any) {
					kv := e.(map[string]any)
					args = append(args, "--env", fmt.Sprintf("%v=%v", kv["name"], kv["value"]))
				}
			default:
				flag, ok := specFlags[k]
				if !ok {
					flagless = true
					continue
				}
				args = append(args, fmt.Sprintf("%s=%v", flag, v))
			}
		}
		if flagless {
			continue // e.g. backoffLimit: a -f manifest's, checked by the API
		}
		args = append(args, fmt.Sprint(merged["name"]))
		ran++
		t.Run(tc.What, func(t *testing.T) {
			r := runWith(t, newFakeClients(), "", args...)
			if len(tc.Invalid) == 0 {
				if r.code != 0 {
					t.Errorf("%q: exit %d (%s), want a valid job", args, r.code, r.stderr)
				}
				return
			}
			// A name like "-a" is refused as the flag it looks like.
			named := specFlags[tc.Invalid[0]]
			if strings.HasPrefix(args[len(args)-1], "-") {
				named = "unknown shorthand flag"
			}
			if r.code != ExitUsage || !strings.Contains(r.stderr, named) {
				t.Errorf("%q: exit %d (%s), want 2 naming %s", args, r.code, r.stderr, named)
			}
		})
	}
	if ran < 30 {
		t.Errorf("the CLI ran %d cases of the contract, want at least 30", ran)
	}
}
