// Package admission_test runs the MPIJob admission webhooks end to end: the
// real kube-apiserver calls our manager over TLS (self-managed certificate)
// for every MPIJob create and update, with real Kueue queues and
// ResourceQuotas behind the quota pre-check, and kubectl shows users what
// the webhooks say. Users act with their own tokens: a data scientist is a
// ServiceAccount bound to edit in the test's namespace (CreateUser);
// cluster-admin only sets up namespaces, queues and quotas.
package admission_test

import (
	"context"
	"errors"
	"os"
	"testing"

	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

var (
	env     *framework.Env
	manager *framework.Manager
)

func init() {
	if err := errors.Join(kubeflow.AddToScheme(framework.Scheme), kueue.AddToScheme(framework.Scheme)); err != nil {
		panic(err)
	}
}

func TestMain(m *testing.M) {
	os.Exit(framework.RunWithCluster(m, framework.ClusterOptions{
		CRDDirs: []string{"config/crd/bases"},
		Setup: func(e *framework.Env) (func(), error) {
			// No platform runs here to install the user roles that edit
			// aggregates; install them as the chart would.
			if err := e.InstallUserRoles(context.Background()); err != nil {
				return nil, err
			}
			return framework.ManagerWithWebhooks(&manager, "--role=mpijob-controller")(e)
		},
	}, &env))
}
