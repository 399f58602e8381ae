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
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/catalog/releases"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
	"github.com/mpijob-platform/mpijob-platform/tools/packaging"
)

const (
	namespace = "mpijob-system"
	release   = "mpijob-platform"
	team      = "team"
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

// previous is the release before the working tree's version.
func previous(t *testing.T) releases.Release {
	t.Helper()
	root, err := cluster.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	hist, err := releases.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(hist.Releases, func(r releases.Release) bool { return r.Version == packaging.Version })
	if i < 1 {
		t.Fatalf("upgrade/releases.yaml has no release before %s", packaging.Version)
	}
	prev := hist.Releases[i-1]
	if prev.Commit == "" {
		t.Fatalf("release %s in upgrade/releases.yaml names no commit to build it from", prev.Version)
	}
	return prev
}

func helmConfig(t *testing.T) *action.Configuration {
	t.Helper()
	settings := cli.New()
	settings.KubeConfig = env.Kubeconfig
	cfg := &action.Configuration{}
	if err := cfg.Init(settings.RESTClientGetter(), namespace, "secret", t.Logf); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// values install the platform with a queue for the team and two
// controller replicas.
func values() map[string]any {
	return map[string]any{
		"platform": map[string]any{
			"monitoring": map[string]any{"managementState": "Removed"},
			"kueue": map[string]any{
				"managementState": "Managed",
				"resourceFlavors": []any{map[string]any{"name": "h100", "nodeLabels": map[string]any{"nvidia.com/gpu.product": cluster.GPUProduct}}},
				"clusterQueues": []any{map[string]any{"name": "team", "flavors": []any{map[string]any{"name": "h100", "resources": []any{
					map[string]any{"name": "cpu", "nominalQuota": "64"}, map[string]any{"name": "memory", "nominalQuota": "512Gi"}, map[string]any{"name": "nvidia.com/gpu", "nominalQuota": "16"},
				}}}}},
				"localQueues": []any{map[string]any{"name": "default", "clusterQueue": "team", "namespaces": []any{team}}},
			},
		},
	}
}

// product is the operator and the controller of one release, running.
type product struct {
	operator, controller *framework.Manager
}

// start runs bin as the operator and, once the platform created its
// identity, as the controller, each with the ServiceAccount the chart or
// the platform made for it; the webhooks are served on webhookAddr.
func start(t *testing.T, bin, webhookAddr string) *product {
	t.Helper()
	token := func(sa string) string {
		path, err := env.TokenKubeconfig(namespace, sa)
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	op, err := framework.StartManagerBinary(env, bin, "", "--role=platform", "--namespace="+namespace, "--local-webhook-url=https://"+webhookAddr,
		"--manager-image="+packaging.DefaultImage, "--kubeconfig="+token(packaging.OperatorName))
	if err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, framework.DefaultTimeout, "the controller's ServiceAccount", func(ctx context.Context) (bool, string, error) {
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "mpijob-controller"}, &corev1.ServiceAccount{})
		return err == nil, fmt.Sprint(err), nil
	})
	ctl, err := framework.StartManagerBinary(env, bin, "mpijob-controller-0", "--role=mpijob-controller",
		"--kubeconfig="+token("mpijob-controller"), "--webhook-bind-address="+webhookAddr, "--webhook-cert-dir="+t.TempDir(),
		"--webhook-cert-secret="+namespace+"/mpijob-webhook-cert", "--webhook-cert-names=127.0.0.1")
	if err != nil {
		op.Stop()
		t.Fatal(err)
	}
	return &product{operator: op, controller: ctl}
}

// stop ends both processes as a rollout ends the old pods (SIGTERM).
func (p *product) stop() {
	p.controller.Stop()
	p.operator.Stop()
}

func waitPlatformReady(t *testing.T) *platformv1.MPIJobPlatform {
	t.Helper()
	p := &platformv1.MPIJobPlatform{}
	framework.Eventually(t, 2*framework.DefaultTimeout, "the MPIJobPlatform Ready", func(ctx context.Context) (bool, string, error) {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: platformv1.DefaultName}, p); err != nil {
			return false, "", err
		}
		return apimeta.IsStatusConditionTrue(p.Status.Conditions, "Ready"), fmt.Sprintf("%+v", p.Status.Conditions), nil
	})
	return p
}

// longJob runs through the team's queue until its launcher ends, after d.
func longJob(name string, d time.Duration) *kubeflow.MPIJob {
	return wrappers.MakeMPIJob(name, team).Workers(2).
		LauncherResources("1", "1Gi").WorkerResources("1", "1Gi", 1).
		LauncherAnnotation(cluster.FinishAfterAnnotation, d.String()).Obj()
}

func getJob(ctx context.Context, name string) (*kubeflow.MPIJob, error) {
	j := &kubeflow.MPIJob{}
	return j, env.Client.Get(ctx, types.NamespacedName{Namespace: team, Name: name}, j)
}

func hasCondition(j *kubeflow.MPIJob, c kubeflow.JobConditionType) bool {
	for _, cond := range j.Status.Conditions {
		if cond.Type == c && cond.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func waitJob(t *testing.T, name string, c kubeflow.JobConditionType) *kubeflow.MPIJob {
	t.Helper()
	var got *kubeflow.MPIJob
	framework.Eventually(t, 2*framework.DefaultTimeout, name+" "+string(c), func(ctx context.Context) (bool, string, error) {
		j, err := getJob(ctx, name)
		if err != nil {
			return false, err.Error(), nil
		}
		got = j
		return hasCondition(j, c), fmt.Sprintf("%+v", j.Status.Conditions), nil
	})
	return got
}

// podUIDs maps each pod of the team's namespace to its UID.
func podUIDs(t *testing.T) map[string]types.UID {
	t.Helper()
	pods := &corev1.PodList{}
	if err := env.Client.List(context.Background(), pods, client.InNamespace(team)); err != nil {
		t.Fatal(err)
	}
	out := map[string]types.UID{}
	for _, p := range pods.Items {
		out[p.Name] = p.UID
	}
	return out
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
	prev := previous(t)
	old := framework.BuildRelease(t, prev.Commit)
	root, err := cluster.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	oldChart, newChart := loadChart(t, old.Dir), loadChart(t, root)
	if oldChart.Metadata.Version == newChart.Metadata.Version {
		t.Fatalf("the previous release's chart (%s) and this one have the same version", oldChart.Metadata.Version)
	}
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: team}}); err != nil {
		t.Fatal(err)
	}
	if err := env.RestrictedNamespace(ctx, namespace); err != nil {
		t.Fatal(err)
	}
	ports, err := cluster.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	webhookAddr := "127.0.0.1:" + strconv.Itoa(ports[0])

	// N-1: installed, running jobs.
	install := action.NewInstall(helmConfig(t))
	install.ReleaseName, install.Namespace, install.CreateNamespace, install.Timeout = release, namespace, true, 2*time.Minute
	if _, err := install.RunWithContext(ctx, oldChart, values()); err != nil {
		t.Fatalf("installing %s's chart: %v", prev.Version, err)
	}
	running := start(t, old.Manager, webhookAddr)
	defer func() { running.stop() }()
	before := waitPlatformReady(t)
	jobs := []string{"before-a", "before-b"}
	for _, name := range jobs {
		if err := env.Client.Create(ctx, longJob(name, 60*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range jobs {
		waitJob(t, name, kubeflow.JobRunning)
	}
	pods := podUIDs(t)
	t.Logf("%s running with %d pods", prev.Version, len(pods))

	// N: the CRDs first, as the docs say, then helm upgrade; the old pods
	// give way to the new ones.
	kubectl := exec.Command(env.Kubectl, "--kubeconfig="+env.Kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", filepath.Join(root, packaging.ChartDir, "crds"))
	if out, err := kubectl.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply --server-side --force-conflicts the new CRDs: %v: %s", err, out)
	}
	upgrade := action.NewUpgrade(helmConfig(t))
	upgrade.Namespace, upgrade.Timeout = namespace, 2*time.Minute
	if _, err := upgrade.RunWithContext(ctx, release, newChart, values()); err != nil {
		t.Fatalf("helm upgrade to %s: %v", packaging.Version, err)
	}
	running.stop()
	running = start(t, framework.CurrentManager(t), webhookAddr)
	after := waitPlatformReady(t)
	if diff := specDiff(before, after); diff != "" {
		t.Errorf("the MPIJobPlatform's settings changed in the upgrade:\n%s", diff)
	}
	// The new status field reaches the jobs that started before.
	for _, name := range jobs {
		framework.Eventually(t, framework.DefaultTimeout, name+" status.observedGeneration", func(ctx context.Context) (bool, string, error) {
			j, err := getJob(ctx, name)
			if err != nil {
				return false, "", err
			}
			return j.Status.ObservedGeneration == j.Generation, fmt.Sprintf("observedGeneration %d, generation %d", j.Status.ObservedGeneration, j.Generation), nil
		})
	}
	if err := env.Client.Create(ctx, longJob("after-upgrade", 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitJob(t, "after-upgrade", kubeflow.JobRunning)

	// N -> N-1: Helm rolls the release back (CRDs stay, Helm never
	// downgrades them), the old binary comes back.
	rollback := action.NewRollback(helmConfig(t))
	rollback.Version, rollback.Timeout = 1, 2*time.Minute
	if err := rollback.Run(release); err != nil {
		t.Fatalf("helm rollback to %s: %v", prev.Version, err)
	}
	running.stop()
	running = start(t, old.Manager, webhookAddr)
	waitPlatformReady(t)
	if err := env.Client.Create(ctx, longJob("after-rollback", 5*time.Second)); err != nil {
		t.Fatal(err)
	}

	// Every job finishes; none of the pods that ran before the upgrade was
	// ever replaced.
	for _, name := range append(jobs, "after-upgrade", "after-rollback") {
		waitJob(t, name, kubeflow.JobSucceeded)
	}
	now := podUIDs(t)
	for name, uid := range pods {
		if got, ok := now[name]; ok && got != uid {
			t.Errorf("pod %s was recreated across the upgrade (uid %s -> %s)", name, uid, got)
		}
	}
	recreated := 0
	for name := range now {
		if _, ok := pods[name]; !ok && (strings.HasPrefix(name, "before-a-") || strings.HasPrefix(name, "before-b-")) {
			recreated++
			t.Errorf("pod %s of a job that ran before the upgrade is new", name)
		}
	}
	t.Logf("upgrade %s -> %s -> %s: %d jobs, %d pods kept, %d recreated", prev.Version, packaging.Version, prev.Version, len(jobs)+2, len(pods), recreated)
}

// specDiff compares what a user set in the MPIJobPlatform before and
// after; fields the new CRD defaults are ignored when the old spec had
// none.
func specDiff(before, after *platformv1.MPIJobPlatform) string {
	var out []string
	if !apiEqual(before.Spec.Kueue, after.Spec.Kueue) {
		out = append(out, fmt.Sprintf("kueue: %+v -> %+v", before.Spec.Kueue, after.Spec.Kueue))
	}
	if before.Spec.Monitoring.ManagementState != after.Spec.Monitoring.ManagementState {
		out = append(out, fmt.Sprintf("monitoring: %s -> %s", before.Spec.Monitoring.ManagementState, after.Spec.Monitoring.ManagementState))
	}
	if before.Spec.MPIJobController.Replicas != after.Spec.MPIJobController.Replicas {
		out = append(out, fmt.Sprintf("mpiJobController.replicas: %d -> %d", before.Spec.MPIJobController.Replicas, after.Spec.MPIJobController.Replicas))
	}
	return strings.Join(out, "\n")
}

func apiEqual(a, b any) bool { return equality.Semantic.DeepEqual(a, b) }
