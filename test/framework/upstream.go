package framework

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// UpstreamMPIOperatorDir returns the module folder of kubeflow/mpi-operator
// at the version pinned in tools/cluster/mpi-operator: its CRD and examples
// are what compatibility tests hold us to.
func UpstreamMPIOperatorDir(ctx context.Context) (string, error) {
	return pinnedModuleDir(ctx, "github.com/kubeflow/mpi-operator")
}

// SchedulerPluginsDir returns the module folder of sigs.k8s.io/scheduler-
// plugins at the version upstream mpi-operator builds with (its go.mod
// requires it, so tools/cluster/mpi-operator's go.sum pins it): gang
// scheduling tests install its PodGroup CRD from there.
func SchedulerPluginsDir(ctx context.Context) (string, error) {
	return pinnedModuleDir(ctx, "sigs.k8s.io/scheduler-plugins")
}

// pinnedModuleDir downloads module at the version of tools/cluster/mpi-
// operator's module graph and returns its folder in the module cache.
func pinnedModuleDir(ctx context.Context, module string) (string, error) {
	repo, _, err := paths()
	if err != nil {
		return "", err
	}
	modDir := filepath.Join(repo, "tools", "cluster", "mpi-operator")
	for _, args := range [][]string{
		{"mod", "download", module},
		{"list", "-m", "-f", "{{.Dir}}", module},
	} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = modDir
		cmd.Env = append(os.Environ(), "GOWORK=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, out)
		}
		if args[0] == "list" {
			return strings.TrimSpace(string(out)), nil
		}
	}
	return "", nil
}

// UpstreamMPIOperatorPath joins rel to the upstream module folder, failing
// the test when the module cannot be had.
func UpstreamMPIOperatorPath(t testing.TB, rel ...string) string {
	t.Helper()
	dir, err := UpstreamMPIOperatorDir(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(append([]string{dir}, rel...)...)
}
