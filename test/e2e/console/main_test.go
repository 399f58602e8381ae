// Package console_test runs the web console's REST API (console/backend)
// against the dev cluster with our manager and its admission webhooks. The
// console acts only with the bearer tokens the tests send: real
// ServiceAccount tokens (TokenRequest) of a team-a member, a team-b member
// and a platform admin, which the real apiserver authenticates and its
// RBAC authorizer judges.
package console_test

import (
	"net/http/httptest"
	"os"
	"testing"

	"github.com/mpijob-platform/mpijob-platform/console/backend"
	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

var (
	env     *framework.Env
	console *httptest.Server
)

func init() {
	if err := kubeflow.AddToScheme(framework.Scheme); err != nil {
		panic(err)
	}
}

func TestMain(m *testing.M) {
	// The isolation and quota checks need neither Kueue nor many nodes:
	// two GPU nodes run the small jobs, the webhooks' quota pre-check
	// reads ResourceQuotas.
	os.Exit(framework.RunWithCluster(m, framework.ClusterOptions{
		WithoutKueue: true,
		GPUNodes:     2,
		CPUNodes:     1,
		CRDDirs:      []string{"config/crd/bases"},
		Setup: func(e *framework.Env) (func(), error) {
			manager, err := framework.StartManagerWithWebhooks(e, "--role=mpijob-controller")
			if err != nil {
				return nil, err
			}
			console = httptest.NewServer(backend.New(backend.Options{Clients: backend.NewClientFactory(e.Config)}).Handler())
			return func() { console.Close(); manager.Stop() }, nil
		},
	}, &env))
}
