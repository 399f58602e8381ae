package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// corpus are the shared manifests (testdata/manifests) and the docs'
// example.
func corpus(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("../../../testdata/manifests/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in testdata/manifests: %v", err)
	}
	files = append(files, "../../../docs/examples/mpi-training/mpijob.yaml")
	out := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = data
	}
	return out
}

// The CLI's verdict on each shared manifest is the one its name states
// (the SDK's test checks the same files).
func TestManifestCorpusVerdicts(t *testing.T) {
	for path, data := range corpus(t) {
		name := filepath.Base(path)
		_, err := DecodeMPIJob(data, name)
		switch {
		case strings.HasPrefix(name, "bad-"):
			if err == nil || ExitCode(err) != ExitUsage {
				t.Errorf("%s: got %v (exit %d), want a usage error", name, err, ExitCode(err))
			}
		default:
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

// FuzzDecodeMPIJob: any bytes decode to one MPIJob or fail as a usage
// error (exit code 2), never a panic; a decoded job written back as YAML
// decodes to the same job.
func FuzzDecodeMPIJob(f *testing.F) {
	for _, data := range corpus(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		job, err := DecodeMPIJob(data, "fuzz.yaml")
		if err != nil {
			if code := ExitCode(err); code != ExitUsage {
				t.Fatalf("exit code %d for a bad manifest, want %d: %v", code, ExitUsage, err)
			}
			return
		}
		out, err := yaml.Marshal(job)
		if err != nil {
			t.Fatalf("a decoded job does not encode: %v", err)
		}
		again, err := DecodeMPIJob(out, "again.yaml")
		if err != nil {
			t.Fatalf("a decoded job, written back, does not decode: %v\n%s", err, out)
		}
		if diff := cmp.Diff(job, again); diff != "" {
			t.Fatalf("round trip changed the job (-first +again):\n%s", diff)
		}
	})
}
