package main

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// The generated manifest and archive install with the real krew (pinned in
// tools/krew), offline, and the real kubectl then finds the plugin:
// `kubectl odh version` runs it.
func TestKrewInstallsThePlugin(t *testing.T) {
	repo, err := cluster.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	platform := runtime.GOOS + "/" + runtime.GOARCH
	if err := run(repo, out, "v9.8.7", "https://example.invalid/releases/v9.8.7", []string{platform}); err != nil {
		t.Fatal(err)
	}
	archives, err := filepath.Glob(filepath.Join(out, "kubectl-odh_*"))
	if err != nil || len(archives) != 1 {
		t.Fatalf("archives %v (%v), want one for %s", archives, err, platform)
	}
	krewRoot := t.TempDir()
	install := exec.Command("go", "tool", "-modfile="+filepath.Join(repo, "tools", "krew", "go.mod"), "krew",
		"install", "--manifest="+filepath.Join(out, "odh.yaml"), "--archive="+archives[0])
	install.Dir = repo
	install.Env = append(os.Environ(), "KREW_ROOT="+krewRoot, "KREW_NO_UPGRADE_CHECK=1")
	if b, err := install.CombinedOutput(); err != nil {
		t.Fatalf("krew install: %v\n%s", err, b)
	}
	bins, err := cluster.EnsureBinaries(context.Background(), cluster.BuildOptions{RepoRoot: repo, CacheDir: cluster.DefaultCacheDir(repo), Progress: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	kubectl := exec.Command(bins.Kubectl, "odh", "version")
	kubectl.Env = append(os.Environ(), "PATH="+filepath.Join(krewRoot, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	b, err := kubectl.CombinedOutput()
	if err != nil || string(b) != "kubectl-odh v9.8.7\n" {
		t.Fatalf("kubectl odh version: %v\n%s", err, b)
	}
}

// Archives are the same for the same binary, and Windows gets a zip with
// kubectl-odh.exe.
func TestArchives(t *testing.T) {
	bin, license := []byte("binary"), []byte("license")
	name1, a1, err := archive("linux", "arm64", bin, license)
	if err != nil {
		t.Fatal(err)
	}
	_, a2, err := archive("linux", "arm64", bin, license)
	if err != nil {
		t.Fatal(err)
	}
	if name1 != "kubectl-odh_linux_arm64.tar.gz" || !bytes.Equal(a1, a2) {
		t.Errorf("tar.gz %s not reproducible", name1)
	}
	name, data, err := archive("windows", "amd64", bin, license)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range zr.File {
		files = append(files, f.Name)
	}
	if name != "kubectl-odh_windows_amd64.zip" || strings.Join(files, ",") != "kubectl-odh.exe,LICENSE" {
		t.Errorf("windows archive %s holds %v", name, files)
	}
	if p := platformEntry("windows", "amd64", "u", "s"); p.Bin != "kubectl-odh.exe" || p.Files[0].From != "kubectl-odh.exe" {
		t.Errorf("windows entry %+v", p)
	}
}
