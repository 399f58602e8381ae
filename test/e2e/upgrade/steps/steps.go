// Package steps holds what the upgrade suites share: the previous release,
// the product's two processes of one release, jobs that run across an
// upgrade and the checks that nothing was lost.
package steps

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/catalog/releases"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
	"github.com/mpijob-platform/mpijob-platform/tools/packaging"
)

// Team is the users' namespace; its only LocalQueue is the default one.
const Team = "team"

// Previous is the release before the working tree's version in
// upgrade/releases.yaml, which must name the commit it was cut from.
func Previous(t testing.TB) releases.Release {
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

// PlatformQueues is the MPIJobPlatform spec (and the chart's
// values.platform) the suites install: a ClusterQueue of 16 GPUs with the
// team's default LocalQueue, monitoring off.
func PlatformQueues() map[string]any {
	return map[string]any{
		"monitoring": map[string]any{"managementState": "Removed"},
		"kueue": map[string]any{
			"managementState": "Managed",
			"resourceFlavors": []any{map[string]any{"name": "h100", "nodeLabels": map[string]any{"nvidia.com/gpu.product": cluster.GPUProduct}}},
			"clusterQueues": []any{map[string]any{"name": "team", "flavors": []any{map[string]any{"name": "h100", "resources": []any{
				map[string]any{"name": "cpu", "nominalQuota": "64"}, map[string]any{"name": "memory", "nominalQuota": "512Gi"}, map[string]any{"name": "nvidia.com/gpu", "nominalQuota": "16"},
			}}}}},
			"localQueues": []any{map[string]any{"name": "default", "clusterQueue": "team", "namespaces": []any{Team}}},
		},
	}
}

// Product is the operator and the controller of one release, running as
// the Deployments' pods would.
type Product struct {
	Operator, Controller *framework.Manager
}

// Start runs bin as the operator (ServiceAccount operatorSA) and, once
// the platform created the controller's identity, as the controller, each
// with a token of its ServiceAccount in namespace; the webhooks are served
// on webhookAddr.
func Start(t testing.TB, env *framework.Env, bin, namespace, operatorSA, webhookAddr string) *Product {
	t.Helper()
	token := func(sa string) string {
		path, err := env.TokenKubeconfig(namespace, sa)
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	op, err := framework.StartManagerBinary(env, bin, "", "--role=platform", "--namespace="+namespace, "--local-webhook-url=https://"+webhookAddr,
		"--manager-image="+packaging.DefaultImage, "--kubeconfig="+token(operatorSA))
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
	return &Product{Operator: op, Controller: ctl}
}

// Stop ends both processes as a rollout ends the old pods (SIGTERM).
func (p *Product) Stop() {
	p.Controller.Stop()
	p.Operator.Stop()
}

// WaitPlatformReady waits for the MPIJobPlatform's Ready condition.
func WaitPlatformReady(t testing.TB, env *framework.Env) *platformv1.MPIJobPlatform {
	t.Helper()
	p := &platformv1.MPIJobPlatform{}
	framework.Eventually(t, 2*framework.DefaultTimeout, "the MPIJobPlatform Ready", func(ctx context.Context) (bool, string, error) {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: platformv1.DefaultName}, p); err != nil {
			return false, err.Error(), nil
		}
		return apimeta.IsStatusConditionTrue(p.Status.Conditions, "Ready"), fmt.Sprintf("%+v", p.Status.Conditions), nil
	})
	return p
}

// LongJob runs through the team's default queue until its launcher ends,
// d after it starts.
func LongJob(name string, d time.Duration) *kubeflow.MPIJob {
	return wrappers.MakeMPIJob(name, Team).Workers(2).
		LauncherResources("1", "1Gi").WorkerResources("1", "1Gi", 1).
		LauncherAnnotation(cluster.FinishAfterAnnotation, d.String()).Obj()
}

// WaitJob waits until the team's job name has condition c.
func WaitJob(t testing.TB, env *framework.Env, name string, c kubeflow.JobConditionType) *kubeflow.MPIJob {
	t.Helper()
	got := &kubeflow.MPIJob{}
	framework.Eventually(t, 2*framework.DefaultTimeout, name+" "+string(c), func(ctx context.Context) (bool, string, error) {
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: Team, Name: name}, got); err != nil {
			return false, err.Error(), nil
		}
		return mpijob.TrueCondition(got, c) != nil, fmt.Sprintf("%+v", got.Status.Conditions), nil
	})
	return got
}

// WaitObservedGeneration waits until the new release's controller has
// written status.observedGeneration on the team's job name.
func WaitObservedGeneration(t testing.TB, env *framework.Env, name string) {
	t.Helper()
	framework.Eventually(t, framework.DefaultTimeout, name+" status.observedGeneration", func(ctx context.Context) (bool, string, error) {
		j := &kubeflow.MPIJob{}
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: Team, Name: name}, j); err != nil {
			return false, "", err
		}
		return j.Status.ObservedGeneration == j.Generation, fmt.Sprintf("observedGeneration %d, generation %d", j.Status.ObservedGeneration, j.Generation), nil
	})
}

// PodUIDs maps each pod of the team's namespace to its UID.
func PodUIDs(t testing.TB, env *framework.Env) map[string]types.UID {
	t.Helper()
	pods := &corev1.PodList{}
	if err := env.Client.List(context.Background(), pods, client.InNamespace(Team)); err != nil {
		t.Fatal(err)
	}
	out := map[string]types.UID{}
	for _, p := range pods.Items {
		out[p.Name] = p.UID
	}
	return out
}

// NoneRecreated fails t for every pod of before that now has another UID,
// and returns how many pods of before are still there.
func NoneRecreated(t testing.TB, before, now map[string]types.UID) (kept int) {
	t.Helper()
	for name, uid := range before {
		got, ok := now[name]
		switch {
		case !ok:
		case got != uid:
			t.Errorf("pod %s was recreated across the upgrade (uid %s -> %s)", name, uid, got)
		default:
			kept++
		}
	}
	return kept
}

// SpecDiff says what changed, between before and after, in the settings
// the suites gave the MPIJobPlatform; empty when nothing did.
func SpecDiff(before, after *platformv1.MPIJobPlatform) string {
	var out []string
	if !equality.Semantic.DeepEqual(before.Spec.Kueue, after.Spec.Kueue) {
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

// Prepare makes the team's namespace and the operator's (restricted, as
// the install docs ask) and returns the loopback address the webhooks of
// both releases will serve on.
func Prepare(t testing.TB, env *framework.Env, namespace string) (webhookAddr string) {
	t.Helper()
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Team}}); err != nil {
		t.Fatal(err)
	}
	if err := env.RestrictedNamespace(ctx, namespace); err != nil {
		t.Fatal(err)
	}
	ports, err := cluster.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(ports[0])
}

// RunJobs creates the team's jobs names, each running for d, waits until
// they run and returns the UIDs of the pods they run with.
func RunJobs(t testing.TB, env *framework.Env, d time.Duration, names ...string) map[string]types.UID {
	t.Helper()
	for _, name := range names {
		if err := env.Client.Create(context.Background(), LongJob(name, d)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names {
		WaitJob(t, env, name, kubeflow.JobRunning)
	}
	return PodUIDs(t, env)
}

// CheckUpgraded waits for the upgraded platform to be Ready with the
// settings it had before, and for the new release's status field on the
// jobs that ran across the upgrade.
func CheckUpgraded(t testing.TB, env *framework.Env, before *platformv1.MPIJobPlatform, jobs ...string) {
	t.Helper()
	after := WaitPlatformReady(t, env)
	if diff := SpecDiff(before, after); diff != "" {
		t.Errorf("the MPIJobPlatform's settings changed in the upgrade:\n%s", diff)
	}
	for _, name := range jobs {
		WaitObservedGeneration(t, env, name)
	}
}
