// Package steps holds what the upgrade suites share: the previous release,
// the product's two processes of one release, jobs that run across an
// upgrade and the checks that nothing was lost.
package steps

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"
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

// ReadyWatch records, in the API server's order, every state of the
// MPIJobPlatform and of the controller's Deployment, so that each
// Ready=True the operator wrote can be judged against the Deployment as it
// was at that moment (resource versions of one etcd are one sequence).
type ReadyWatch struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	states []watched
}

type watched struct {
	rv         uint64
	platform   *platformv1.MPIJobPlatform
	deployment *appsv1.Deployment
}

// WatchReadiness starts recording; Check stops it and judges.
func WatchReadiness(t testing.TB, env *framework.Env, namespace string) *ReadyWatch {
	t.Helper()
	cs := env.Clientset
	dyn, err := client.NewWithWatch(env.Config, client.Options{Scheme: framework.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &ReadyWatch{cancel: cancel, done: make(chan struct{})}
	deployments, err := cs.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=mpijob-controller"})
	if err != nil {
		t.Fatal(err)
	}
	platforms := &platformv1.MPIJobPlatformList{}
	if err := dyn.List(ctx, platforms); err != nil {
		t.Fatal(err)
	}
	for i := range deployments.Items {
		w.add(nil, &deployments.Items[i])
	}
	for i := range platforms.Items {
		w.add(&platforms.Items[i], nil)
	}
	dw, err := watchtools.NewRetryWatcherWithContext(ctx, deployments.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = "metadata.name=mpijob-controller"
			return cs.AppsV1().Deployments(namespace).Watch(ctx, o)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	pw, err := watchtools.NewRetryWatcherWithContext(ctx, platforms.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return dyn.Watch(ctx, &platformv1.MPIJobPlatformList{}, &client.ListOptions{Raw: &o})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		defer dw.Stop()
		defer pw.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-dw.ResultChan():
				if d, ok := ev.Object.(*appsv1.Deployment); ok && ev.Type != watch.Bookmark {
					w.add(nil, d)
				}
			case ev := <-pw.ResultChan():
				if p, ok := ev.Object.(*platformv1.MPIJobPlatform); ok && ev.Type != watch.Bookmark {
					w.add(p, nil)
				}
			}
		}
	}()
	return w
}

func (w *ReadyWatch) add(p *platformv1.MPIJobPlatform, d *appsv1.Deployment) {
	var obj metav1.Object = p
	if d != nil {
		obj = d
	}
	rv, err := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
	if err != nil {
		return // opaque to clients in general; numbers on every API server this suite runs
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.states = append(w.states, watched{rv: rv, platform: p, deployment: d})
}

// Check stops the watch and fails t for every Ready=True (of the
// platform's current generation) written while the controller's
// Deployment was half rolled out: old pods left, or not every replica
// updated. It returns how many Ready=True states it judged and logs how
// many generations of the Deployment it saw.
func (w *ReadyWatch) Check(t testing.TB) int {
	t.Helper()
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	slices.SortStableFunc(w.states, func(a, b watched) int { return cmp.Compare(a.rv, b.rv) })
	var d *appsv1.Deployment
	judged := 0
	generations := map[int64]bool{}
	defer func() {
		t.Logf("watched %d states, %d generations of the controller's Deployment", len(w.states), len(generations))
	}()
	for _, s := range w.states {
		if s.deployment != nil {
			d = s.deployment
			generations[d.Generation] = true
			continue
		}
		p := s.platform
		if p.Status.ObservedGeneration != p.Generation || !apimeta.IsStatusConditionTrue(p.Status.Conditions, "Ready") {
			continue
		}
		judged++
		if d == nil {
			t.Errorf("the platform said Ready (resource version %d) before the controller's Deployment existed", s.rv)
			continue
		}
		want, st := ptr.Deref(d.Spec.Replicas, 1), d.Status
		if st.ObservedGeneration < d.Generation || st.UpdatedReplicas < want || st.Replicas > st.UpdatedReplicas {
			t.Errorf("the platform said Ready (resource version %d) while the controller's Deployment was half rolled out: generation %d observed %d, %d of %d replicas updated, %d in all",
				s.rv, d.Generation, st.ObservedGeneration, st.UpdatedReplicas, want, st.Replicas)
		}
	}
	return judged
}
