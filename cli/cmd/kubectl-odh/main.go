// Command kubectl-odh is the platform's kubectl plugin: on the PATH it
// serves "kubectl odh ..." and "oc odh ...".
package main

import (
	"os"

	"github.com/mpijob-platform/mpijob-platform/cli/pkg/cmd"
)

func main() {
	os.Exit(cmd.Execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
