// Package realmpi_test runs MPI programs for real on the dev cluster: pods on
// its process nodes are processes in network, UTS, mount and PID namespaces
// of their own, workers run a real sshd, and the launcher's mpirun reaches
// them over SSH with the Secret, hostfile and environment our controller
// (running as shipped, as its own ServiceAccount) writes. Upstream
// mpi-operator's pi examples run unchanged for Open MPI 4 and 5, MPICH and
// Intel MPI.
package realmpi_test

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
		// One kwok node keeps the scheduler's view realistic; the jobs of
		// this suite go to the process nodes (CreateRealNamespace).
		GPUNodes: 1, CPUNodes: 0, ProcessNodes: 3,
		CRDDirs: []string{"config/crd/bases"},
		Setup: func(e *framework.Env) (func(), error) {
			config, err := framework.NetworkPolicyConfig()
			if err != nil {
				return nil, err
			}
			manager, err = framework.StartManager(e, "--role=mpijob-controller", config)
			if err != nil {
				return nil, err
			}
			return manager.Stop, nil
		},
	}, &env))
}
