// Package helmaction gives e2e suites Helm's own library (install,
// upgrade, rollback, uninstall) against a dev cluster, without a helm
// binary. It stands apart from package framework so that only the suites
// that use Helm link it.
package helmaction

import (
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/cli"
)

// Config is Helm's action configuration for releases in namespace,
// as the cluster-admin of kubeconfig, with Helm's log in the test's.
func Config(t testing.TB, kubeconfig, namespace string) *action.Configuration {
	t.Helper()
	settings := cli.New()
	settings.KubeConfig = kubeconfig
	cfg := &action.Configuration{}
	if err := cfg.Init(settings.RESTClientGetter(), namespace, "secret", t.Logf); err != nil {
		t.Fatal(err)
	}
	return cfg
}
