// Package sdk_test runs the Python SDK (sdk/python) end to end against the
// dev cluster (apiserver, scheduler, kwok nodes, Kueue) with our manager and
// its admission webhooks: the pytest integration suite, the README's quick
// example, docs/examples/sdk-pipeline.py and the example notebook, executed
// headless with nbclient. The examples run as a data scientist: a
// ServiceAccount bound to edit in the test's namespace, with its own token
// and that namespace as its kubeconfig's default.
package sdk_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

var (
	env     *framework.Env
	manager *framework.Manager
	venv    *framework.Venv
)

func init() {
	if err := kubeflow.AddToScheme(framework.Scheme); err != nil {
		panic(err)
	}
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// The virtual environment first: without Python there is nothing to run
	// the cluster for.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	var err error
	venv, err = framework.PythonVenv(ctx, os.Stderr)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "python:", err)
		return 1
	}
	return framework.RunWithCluster(m, framework.ClusterOptions{
		CRDDirs: []string{"config/crd/bases"},
		Setup: func(e *framework.Env) (func(), error) {
			// No platform runs here to install the user roles that edit
			// aggregates; install them as the chart would.
			if err := e.InstallUserRoles(context.Background()); err != nil {
				return nil, err
			}
			return framework.ManagerWithWebhooks(&manager, "--role=mpijob-controller")(e)
		},
	}, &env)
}
