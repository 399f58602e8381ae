// Command rules writes rules/mpijob-platform.rules.yaml from rules/rules.go.
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
		var data []byte
		if data, err = rules.Render(); err == nil {
			err = os.WriteFile(filepath.Join(repo, "rules", rules.File), data, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rules:", err)
		os.Exit(1)
	}
}
