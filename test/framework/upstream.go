package framework

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
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

// Upstream is Kubeflow's mpi-operator at the pinned version, ready to run
// with no network: its binary and CRD (cached by version under the cache
// folder's bin/) and its module folder (examples/) in the module cache.
type Upstream struct {
	Binary    string // the mpi-operator command
	CRDDir    string // holds kubeflow.org_mpijobs.yaml
	ModuleDir string // the module's folder, e.g. examples/v2beta1/pi/pi.yaml
}

// OfflineGoEnv goes into the environment of a process re-run inside a
// network namespace: anything there that still reaches for the Go module
// proxy fails at once, naming the module, rather than waiting on a network
// that is not there. Modules already in the module cache still resolve.
const OfflineGoEnv = "GOPROXY=off"

// PrepareForNetns does, outside any network namespace, every build and
// download that a run inside one needs, where the Go module proxy is out of
// reach: the control-plane binaries, the manager's modules and compiled
// packages (StartManager and make bench then only link it, offline), and
// with withUpstream upstream mpi-operator (built once per version, its
// module downloaded). Warm, it takes seconds. upstream is nil without
// withUpstream.
func PrepareForNetns(ctx context.Context, withUpstream bool, progress io.Writer) (upstream *Upstream, err error) {
	if progress == nil {
		progress = io.Discard
	}
	repo, cache, err := paths()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, buildTimeout())
	defer cancel()
	opts := cluster.BuildOptions{RepoRoot: repo, CacheDir: cache, Progress: progress}
	if _, err := cluster.EnsureBinaries(ctx, opts); err != nil {
		return nil, err
	}
	if withUpstream {
		upstream = &Upstream{}
		if upstream.Binary, upstream.CRDDir, err = cluster.EnsureUpstreamMPIOperator(ctx, opts); err != nil {
			return nil, err
		}
		if upstream.ModuleDir, err = UpstreamMPIOperatorDir(ctx); err != nil {
			return nil, err
		}
	}
	// Download and compile every package of the manager in the environment
	// StartManager builds it with, so that its build there finds them all in
	// the module and build caches and only links. (go list -export compiles
	// without linking: 0.8 s warm, where go build -o /dev/null takes 4.7 s.)
	start := time.Now()
	build := exec.CommandContext(ctx, "go", "list", "-export", "-deps", "-f", "{{.Export}}", "./operator/cmd/manager")
	build.Dir = repo
	var stderr strings.Builder
	build.Stdout, build.Stderr = io.Discard, &stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("compiling the manager's packages before entering the network namespace: %w: %s", err, stderr.String())
	}
	if d := time.Since(start); d > 10*time.Second {
		fmt.Fprintf(progress, "compiled the manager's packages in %s\n", d.Round(time.Second))
	}
	return upstream, nil
}

// UpstreamExample decodes a manifest of upstream mpi-operator's
// examples/v2beta1 (e.g. "pi/pi.yaml") strictly into our types, failing the
// test when it does not decode: upstream YAML must work unchanged.
func UpstreamExample(t testing.TB, rel string) *kubeflow.MPIJob {
	t.Helper()
	data, err := os.ReadFile(UpstreamMPIOperatorPath(t, "examples", "v2beta1", rel))
	if err != nil {
		t.Fatal(err)
	}
	job := &kubeflow.MPIJob{}
	if err := yaml.UnmarshalStrict(data, job); err != nil {
		t.Fatalf("%s does not decode into our types: %v", rel, err)
	}
	return job
}
