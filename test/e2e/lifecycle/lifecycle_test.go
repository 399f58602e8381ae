// Package lifecycle_test tests the dev cluster tool itself: start, stop, restart.
package lifecycle_test

import (
	"context"
	"os"
	"testing"

	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// TestDetachedClusterStopsWithoutTrace drives the life cycle behind
// `make cluster-up` / `make cluster-down`: a detached cluster recorded in its
// state file, stopped from that file alone, leaves no process and no
// listening port, and starts again from the same folder.
func TestDetachedClusterStopsWithoutTrace(t *testing.T) {
	repo, err := cluster.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	opts := cluster.Options{
		Dir: dir, RepoRoot: repo, CacheDir: cluster.DefaultCacheDir(repo),
		GPUNodes: 1, CPUNodes: 1, WithoutKueue: true, Detach: true, Progress: os.Stderr,
	}
	t.Cleanup(func() { _, _ = cluster.StopDir(dir) })

	for round := 1; round <= 2; round++ {
		c, err := cluster.Start(context.Background(), opts)
		if err != nil {
			t.Fatalf("round %d: start: %v", round, err)
		}
		if _, err := cluster.Start(context.Background(), opts); err == nil {
			t.Fatalf("round %d: a second start from the same folder succeeded; want a 'stop it first' error", round)
		}
		var ports []int
		for _, p := range c.State.Processes {
			ps, err := p.Listening()
			if err != nil {
				t.Fatalf("%s: %v", p.Name, err)
			}
			ports = append(ports, ps...)
		}
		if len(ports) < len(c.State.Processes) {
			t.Fatalf("round %d: %d listening ports for %d processes", round, len(ports), len(c.State.Processes))
		}

		stopped, err := cluster.StopDir(dir)
		if err != nil || !stopped {
			t.Fatalf("round %d: StopDir = %v, %v; want true, nil", round, stopped, err)
		}
		for _, p := range c.State.Processes {
			if p.Alive() {
				t.Errorf("round %d: %s (pid %d) still runs after down", round, p.Name, p.PID)
			}
		}
		sockets, err := cluster.ListeningSockets()
		if err != nil {
			t.Fatal(err)
		}
		for _, port := range ports {
			if addr, ok := sockets[port]; ok {
				t.Errorf("round %d: port %d still listening at %s after down", round, port, addr)
			}
		}
		if _, err := cluster.LoadState(dir); !os.IsNotExist(err) {
			t.Errorf("round %d: state file survives down (err %v)", round, err)
		}
	}
	if stopped, err := cluster.StopDir(dir); stopped || err != nil {
		t.Errorf("StopDir on a stopped cluster = %v, %v; want false, nil", stopped, err)
	}
}
