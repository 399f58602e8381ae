// Command pyvenv creates (or checks) the Python virtual environment in which
// the SDK's tests run, <repo>/.cache/python/venv, with sdk/python installed
// in editable mode with its test extras, and prints its folder. .ci/run
// calls it before make test; the Go tests that run pytest use the same one
// (test/framework.PythonVenv) and rebuild it only when sdk/python's
// pyproject.toml changes.
//
//	go run ./tools/pyvenv
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

func main() {
	v, err := framework.PythonVenv(context.Background(), os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pyvenv:", err)
		os.Exit(1)
	}
	fmt.Println(v.Dir)
}
