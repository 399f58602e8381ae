// Package observability_test proves the shipped dashboards and rules on a
// real Prometheus (Debian's prometheus package): it scrapes our manager and
// real Kueue on the dev cluster while MPIJobs run, the training example of
// docs/examples/mpi-training running for real on process nodes (its
// throughput through the SDK's reporter), plus a small exporter standing in
// for kube-state-metrics and DCGM; it evaluates the generated rules, and
// requires every dashboard panel query to return data.
package observability_test

import (
	"os"
	"testing"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

var (
	env     *framework.Env
	manager *framework.Manager
)

func init() {
	if err := kubeflow.AddToScheme(framework.Scheme); err != nil {
		panic(err)
	}
}

func TestMain(m *testing.M) {
	os.Exit(framework.RunWithCluster(m, framework.ClusterOptions{
		CRDDirs: []string{"config/crd/bases"},
		// The training example runs for real (its throughput is what it
		// measures) on process nodes.
		ProcessNodes: 3,
		Setup:        framework.ManagerWithWebhooks(&manager, "--role=mpijob-controller"),
	}, &env))
}
