// Package upgrade_test upgrades the platform from the previous release
// (built from this repository's history at the commit upgrade/releases.yaml
// records) to the working tree's, with MPIJobs running, through Helm as
// docs/operations/upgrade.md says (the CRDs first, then helm upgrade), and
// rolls it back. The operator and the controller run as local processes
// with the identities the chart and the platform create, the old binary
// before the upgrade and the new one after, as the Deployments' pods
// would.
package upgrade_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/test/e2e/upgrade/steps"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/test/framework/helmaction"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
	"github.com/mpijob-platform/mpijob-platform/tools/packaging"
)

const (
	namespace = "mpijob-system"
	release   = "mpijob-platform"
)

var env *framework.Env

func init() {
	if err := errors.Join(kubeflow.AddToScheme(framework.Scheme), kueue.AddToScheme(framework.Scheme), platformv1.AddToScheme(framework.Scheme)); err != nil {
		panic(err)
	}
}

func TestMain(m *testing.M) {
	// The previous release's chart brings the CRDs.
	os.Exit(framework.RunWithCluster(m, framework.ClusterOptions{}, &env))
}

func helmConfig(t *testing.T) *action.Configuration {
	t.Helper()
	return helmaction.Config(t, env.Kubeconfig, namespace)
}

// values install the platform with the suites' queues.
func values() map[string]any {
	return map[string]any{"platform": steps.PlatformQueues()}
}

func loadChart(t *testing.T, dir string) *chart.Chart {
	t.Helper()
	c, err := loader.LoadDir(filepath.Join(dir, packaging.ChartDir))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHelmUpgradeWithRunningJobsAndRollback(t *testing.T) {
	ctx := context.Background()
	prev := steps.Previous(t)
	old := framework.BuildRelease(t, prev.Commit)
	root, err := cluster.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	oldChart, newChart := loadChart(t, old.Dir), loadChart(t, root)
	if oldChart.Metadata.Version == newChart.Metadata.Version {
		t.Fatalf("the previous release's chart (%s) and this one have the same version", oldChart.Metadata.Version)
	}
	webhookAddr := steps.Prepare(t, env, namespace)

	// N-1: installed, running jobs.
	install := action.NewInstall(helmConfig(t))
	install.ReleaseName, install.Namespace, install.CreateNamespace, install.Timeout = release, namespace, true, 2*time.Minute
	if _, err := install.RunWithContext(ctx, oldChart, values()); err != nil {
		t.Fatalf("installing %s's chart: %v", prev.Version, err)
	}
	running := steps.Start(t, env, old.Manager, namespace, packaging.OperatorName, webhookAddr)
	defer func() { running.Stop() }()
	before := steps.WaitPlatformReady(t, env)
	jobs := []string{"before-a", "before-b"}
	pods := steps.RunJobs(t, env, 60*time.Second, jobs...)
	t.Logf("%s running with %d pods", prev.Version, len(pods))

	// N: the CRDs first, as the docs say, then helm upgrade; the old pods
	// give way to the new ones.
	kubectl := exec.Command(env.Kubectl, "--kubeconfig="+env.Kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", filepath.Join(root, packaging.ChartDir, "crds"))
	if out, err := kubectl.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply --server-side --force-conflicts the new CRDs: %v: %s", err, out)
	}
	// From here to the rollback the new operator may never say Ready
	// while the controller's Deployment is half rolled out.
	readiness := steps.WatchReadiness(t, env, namespace)
	upgrade := action.NewUpgrade(helmConfig(t))
	upgrade.Namespace, upgrade.Timeout = namespace, 2*time.Minute
	if _, err := upgrade.RunWithContext(ctx, release, newChart, values()); err != nil {
		t.Fatalf("helm upgrade to %s: %v", packaging.Version, err)
	}
	running.Stop()
	running = steps.Start(t, env, framework.CurrentManager(t), namespace, packaging.OperatorName, webhookAddr)
	// The new status field reaches the jobs that started before.
	steps.CheckUpgraded(t, env, before, jobs...)
	if err := env.Client.Create(ctx, steps.LongJob("after-upgrade", 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	steps.WaitJob(t, env, "after-upgrade", kubeflow.JobRunning)

	if n := readiness.Check(t); n == 0 {
		t.Error("the upgraded platform never said Ready while watched")
	} else {
		t.Logf("%d Ready states of the upgraded platform, each with the controller's Deployment rolled out", n)
	}

	// N -> N-1: Helm rolls the release back (CRDs stay, Helm never
	// downgrades them), the old binary comes back.
	rollback := action.NewRollback(helmConfig(t))
	rollback.Version, rollback.Timeout = 1, 2*time.Minute
	if err := rollback.Run(release); err != nil {
		t.Fatalf("helm rollback to %s: %v", prev.Version, err)
	}
	running.Stop()
	running = steps.Start(t, env, old.Manager, namespace, packaging.OperatorName, webhookAddr)
	steps.WaitPlatformReady(t, env)
	if err := env.Client.Create(ctx, steps.LongJob("after-rollback", 5*time.Second)); err != nil {
		t.Fatal(err)
	}

	// Every job finishes; none of the pods that ran before the upgrade was
	// ever replaced.
	for _, name := range append(jobs, "after-upgrade", "after-rollback") {
		steps.WaitJob(t, env, name, kubeflow.JobSucceeded)
	}
	kept := steps.NoneRecreated(t, pods, steps.PodUIDs(t, env))
	t.Logf("upgrade %s -> %s -> %s: %d jobs, %d of %d pods of the running jobs kept to the end", prev.Version, packaging.Version, prev.Version, len(jobs)+2, kept, len(pods))
}
