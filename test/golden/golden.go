// Package golden compares test output with files under testdata, and
// rewrites them when the test runs with -update: the one golden-file
// helper of the repository's unit tests.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// Updating says whether the test runs with -update.
func Updating() bool { return *update }

// Check compares got with testdata/<name>.golden.yaml (written first with
// -update) and reports a diff as a test error.
func Check(t testing.TB, name string, got []byte) {
	t.Helper()
	CheckFile(t, filepath.Join("testdata", name+".golden.yaml"), got)
}

// CheckFile is Check for a file at any path, such as the contract
// fixtures under the repository's testdata/contract that other languages'
// tests read too.
func CheckFile(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from its golden file (-want +got); rerun with -update if the change is intended:\n%s", path, diff)
	}
}
