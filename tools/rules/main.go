// Command rules writes rules/mpijob-platform.rules.yaml (a PrometheusRule)
// and rules/mpijob-platform.groups.yaml (the same groups as a plain
// Prometheus rule file) from rules/rules.go.
//
//	go run ./tools/rules
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/mpijob-platform/mpijob-platform/rules"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

func main() {
	repo, err := cluster.FindRepoRoot()
	if err == nil {
		err = write(filepath.Join(repo, "rules", rules.File), rules.Render)
		if err == nil {
			err = write(filepath.Join(repo, "rules", rules.GroupsFile), func() ([]byte, error) { return rules.RenderGroups("") })
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rules:", err)
		os.Exit(1)
	}
}

func write(path string, render func() ([]byte, error)) error {
	data, err := render()
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
