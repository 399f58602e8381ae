package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// workspace is one measurement's folder under the cache, removed by done.
type workspace struct {
	repo, cache, dir string
}

func newWorkspace(kind string) (*workspace, error) {
	repo, err := cluster.FindRepoRoot()
	if err != nil {
		return nil, err
	}
	cache := cluster.DefaultCacheDir(repo)
	if err := os.MkdirAll(filepath.Join(cache, "bench"), 0o755); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(filepath.Join(cache, "bench"), kind+"-")
	if err != nil {
		return nil, err
	}
	return &workspace{repo: repo, cache: cache, dir: dir}, nil
}

func (w *workspace) done() { _ = os.RemoveAll(w.dir) }

// kueueCluster starts a small dev cluster (one GPU and one CPU node) with
// Kueue and our CRDs, for the webhook and platform measurements.
func (w *workspace) kueueCluster(ctx context.Context) (*cluster.Cluster, error) {
	return cluster.Start(ctx, cluster.Options{
		Dir: filepath.Join(w.dir, "cluster"), RepoRoot: w.repo, CacheDir: w.cache, GPUNodes: 1, CPUNodes: 1,
		CRDDirs: []string{filepath.Join(w.repo, "config", "crd", "bases")}, Progress: os.Stderr,
	})
}

// buildManager compiles ./operator/cmd/manager into the workspace.
func (w *workspace) buildManager(ctx context.Context) (string, error) {
	bin := filepath.Join(w.dir, "manager")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./operator/cmd/manager")
	build.Dir = w.repo
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the manager: %w: %s", err, out)
	}
	return bin, nil
}
