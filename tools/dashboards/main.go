// Command dashboards writes dashboards/<uid>.json from the Go sources in
// package dashboards, and removes JSON files no source produces.
//
//	go run ./tools/dashboards
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mpijob-platform/mpijob-platform/dashboards"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dashboards:", err)
		os.Exit(1)
	}
}

func run() error {
	repo, err := cluster.FindRepoRoot()
	if err != nil {
		return err
	}
	dir := filepath.Join(repo, "dashboards")
	builders := dashboards.Builders()
	for uid, build := range builders {
		data, err := dashboards.Render(build)
		if err != nil {
			return fmt.Errorf("%s: %w", uid, err)
		}
		if err := os.WriteFile(filepath.Join(dir, uid+".json"), data, 0o644); err != nil {
			return err
		}
	}
	stale, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	for _, f := range stale {
		if _, ok := builders[strings.TrimSuffix(filepath.Base(f), ".json")]; !ok {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	return nil
}
