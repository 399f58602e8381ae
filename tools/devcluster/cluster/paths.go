package cluster

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
)

// ModulePath is the product module; its go.mod marks the repository root.
const ModulePath = "github.com/mpijob-platform/mpijob-platform"

// CacheDirEnv overrides where built binaries and the dev cluster live.
const CacheDirEnv = "MPIJOB_CACHE_DIR"

// FindRepoRoot walks up from the working directory to the product's go.mod.
func FindRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(data), []byte("module "+ModulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the mpijob-platform repository (no go.mod for " + ModulePath + " above the working directory)")
		}
		dir = parent
	}
}

// DefaultCacheDir is $MPIJOB_CACHE_DIR, else <repo>/.cache (git-ignored).
func DefaultCacheDir(repoRoot string) string {
	if d := os.Getenv(CacheDirEnv); d != "" {
		// A relative setting means the same folder from every package's
		// tests (which run in their own folders): relative to the repository.
		if !filepath.IsAbs(d) {
			return filepath.Join(repoRoot, d)
		}
		return d
	}
	return filepath.Join(repoRoot, ".cache")
}
