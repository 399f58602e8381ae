// Command gen-docs writes docs/reference/cli-reference.md (or the file given
// as its argument) from the kubectl-odh command tree.
package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/mpijob-platform/mpijob-platform/cli/pkg/cmd"
)

func main() {
	out := "docs/reference/cli-reference.md"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	var buf bytes.Buffer
	if err := cmd.GenReference(&buf); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
