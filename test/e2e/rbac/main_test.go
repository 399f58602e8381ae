// Package rbac_test proves the platform's user ClusterRoles (config/rbac/
// user-roles) on a real cluster: kube-controller-manager aggregates them into
// the built-in edit, admin and view roles, and the RBAC authorizer of a real
// kube-apiserver then lets team members, viewers and platform admins do what
// the roles promise and nothing more. The tests act as those people with
// their own tokens (ServiceAccounts of namespace people).
package rbac_test

import (
	"os"
	"testing"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

var env *framework.Env

func init() {
	if err := kubeflow.AddToScheme(framework.Scheme); err != nil {
		panic(err)
	}
}

func TestMain(m *testing.M) {
	// RBAC needs no Kueue and no GPUs: one CPU node runs the pods whose logs
	// are read. (Both counts 0 would mean the default cluster.)
	os.Exit(framework.RunWithCluster(m, framework.ClusterOptions{
		WithoutKueue: true,
		GPUNodes:     0,
		CPUNodes:     1,
		CRDDirs:      []string{"config/crd/bases"},
	}, &env))
}
