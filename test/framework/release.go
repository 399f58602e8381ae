package framework

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Release is an earlier release of the product, built from this
// repository's history: its source tree (charts/, bundle/, config/ as they
// were) and its manager binary.
type Release struct {
	Commit  string
	Dir     string
	Manager string
}

// BuildRelease extracts commit's tree (git archive) into the cache and
// builds its manager there; both are kept by commit, so later runs reuse
// them. The repository's history must hold the commit (a shallow clone
// does not: fetch it with `git fetch --unshallow`).
func BuildRelease(t testing.TB, commit string) *Release {
	t.Helper()
	repo, cache, err := paths()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "releases", commit)
	bin := filepath.Join(dir, ".manager")
	if _, err := os.Stat(bin); err == nil {
		return &Release{Commit: commit, Dir: dir, Manager: bin}
	}
	if out, err := exec.Command("git", "-C", repo, "cat-file", "-e", commit+"^{commit}").CombinedOutput(); err != nil {
		t.Fatalf("commit %s of the previous release is not in this clone's history (%v: %s); a shallow clone needs `git fetch --unshallow`", commit, err, out)
	}
	tmp := dir + ".tmp"
	_ = os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	extract := exec.Command("sh", "-c", fmt.Sprintf("git -C %q archive %s | tar -x -C %q", repo, commit, tmp))
	if out, err := extract.CombinedOutput(); err != nil {
		t.Fatalf("extracting %s: %v: %s", commit, err, out)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(tmp, ".manager"), "./operator/cmd/manager")
	build.Dir = tmp
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the manager of %s: %v: %s", commit, err, out)
	}
	_ = os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	return &Release{Commit: commit, Dir: dir, Manager: bin}
}

// CurrentManager is the manager binary of the working tree (the one
// StartManager runs).
func CurrentManager(t testing.TB) string {
	t.Helper()
	bin, err := managerBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}
