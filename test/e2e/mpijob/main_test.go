// Package mpijob_test runs MPIJobs end to end on the dev cluster: our CRD,
// our manager binary (role mpijob-controller), the real scheduler, Job
// controller, garbage collector and Kueue, and kwok nodes.
package mpijob_test

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
		Setup: func(e *framework.Env) (func(), error) {
			var err error
			// As the platform runs it by default (networkPolicy Managed).
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
