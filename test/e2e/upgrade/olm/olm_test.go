// Package olm_test upgrades the platform from the previous release to the
// working tree's through their OLM bundles, applied the way OLM applies a
// ClusterServiceVersion's install strategy (no OLM binary runs here): the
// CRDs first, then per CSV its ServiceAccounts, generated Roles and
// ClusterRoles with their bindings, the bundle's other objects and the
// Deployments; on upgrade the new CSV's objects go in and the replaced
// CSV's generated roles go away. MPIJobs run across it. OLM has no
// rollback (a downgrade is an uninstall and a new install), so this suite
// has none; test/e2e/upgrade rolls back through Helm.
package olm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"
	"sigs.k8s.io/yaml"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/test/e2e/upgrade/steps"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
	"github.com/mpijob-platform/mpijob-platform/tools/packaging"
)

// namespace is the operator's namespace, as an OperatorGroup would pick it.
const namespace = "mpijob-system"

var env *framework.Env

func init() {
	if err := errors.Join(kubeflow.AddToScheme(framework.Scheme), kueue.AddToScheme(framework.Scheme), platformv1.AddToScheme(framework.Scheme)); err != nil {
		panic(err)
	}
}

func TestMain(m *testing.M) {
	// The bundles bring the CRDs.
	os.Exit(framework.RunWithCluster(m, framework.ClusterOptions{}, &env))
}

// bundle is what a bundle's manifests/ folder holds.
type bundle struct {
	csv     *operatorsv1alpha1.ClusterServiceVersion
	crds    []*unstructured.Unstructured
	objects []*unstructured.Unstructured
}

func readBundle(t *testing.T, dir string) *bundle {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "manifests", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", dir, err)
	}
	b := &bundle{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(data, &u.Object); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		switch u.GetKind() {
		case "ClusterServiceVersion":
			b.csv = &operatorsv1alpha1.ClusterServiceVersion{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, b.csv); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		case "CustomResourceDefinition":
			b.crds = append(b.crds, u)
		default:
			b.objects = append(b.objects, u)
		}
	}
	if b.csv == nil {
		t.Fatalf("%s holds no ClusterServiceVersion", dir)
	}
	return b
}

// upsert creates obj or replaces the live object's content with it.
func upsert(ctx context.Context, obj client.Object) error {
	err := env.Client.Create(ctx, obj)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	live := obj.DeepCopyObject().(client.Object)
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), live); err != nil {
		return err
	}
	obj.SetResourceVersion(live.GetResourceVersion())
	return env.Client.Update(ctx, obj)
}

// generated is the name of an RBAC object OLM makes for a CSV and a
// ServiceAccount (OLM's own names are hashed; what matters is that they
// belong to the CSV).
func generated(csv, sa string) string { return csv + "-" + sa }

// install applies a bundle as OLM installs its CSV in namespace; with
// replaces, as OLM upgrades from that CSV: the replaced CSV's generated
// roles go once the new ones are in.
func install(t *testing.T, b *bundle, replaces string) {
	t.Helper()
	ctx := context.Background()
	for _, crd := range b.crds {
		if err := upsert(ctx, crd.DeepCopy()); err != nil {
			t.Fatalf("CRD %s: %v", crd.GetName(), err)
		}
	}
	framework.Eventually(t, framework.DefaultTimeout, "the bundle's CRDs established", func(ctx context.Context) (bool, string, error) {
		for _, u := range b.crds {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := env.Client.Get(ctx, client.ObjectKey{Name: u.GetName()}, crd); err != nil {
				return false, err.Error(), nil
			}
			established := false
			for _, c := range crd.Status.Conditions {
				established = established || c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue
			}
			if !established {
				return false, crd.Name + " not established", nil
			}
		}
		return true, "", nil
	})
	strategy := b.csv.Spec.InstallStrategy.StrategySpec
	var objs []client.Object
	sas := map[string]bool{}
	sa := func(name string) {
		if !sas[name] {
			sas[name] = true
			objs = append(objs, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}})
		}
	}
	for _, p := range strategy.ClusterPermissions {
		sa(p.ServiceAccountName)
		name := generated(b.csv.Name, p.ServiceAccountName)
		objs = append(objs,
			&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: p.Rules},
			&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: p.ServiceAccountName, Namespace: namespace}}})
	}
	for _, p := range strategy.Permissions {
		sa(p.ServiceAccountName)
		name := generated(b.csv.Name, p.ServiceAccountName)
		objs = append(objs,
			&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}, Rules: p.Rules},
			&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: p.ServiceAccountName, Namespace: namespace}}})
	}
	for _, u := range b.objects {
		u = u.DeepCopy()
		if u.GetKind() != "ClusterRole" {
			u.SetNamespace(namespace)
		}
		objs = append(objs, u)
	}
	for _, d := range strategy.DeploymentSpecs {
		objs = append(objs, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: d.Name, Namespace: namespace, Labels: d.Label}, Spec: d.Spec})
	}
	for _, o := range objs {
		if err := upsert(ctx, o); err != nil {
			t.Fatalf("%T %s of %s: %v", o, o.GetName(), b.csv.Name, err)
		}
	}
	if replaces == "" {
		return
	}
	for _, p := range strategy.ClusterPermissions {
		name := generated(replaces, p.ServiceAccountName)
		for _, o := range []client.Object{&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}}, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}}} {
			if err := client.IgnoreNotFound(env.Client.Delete(ctx, o)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, p := range strategy.Permissions {
		name := generated(replaces, p.ServiceAccountName)
		for _, o := range []client.Object{&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}} {
			if err := client.IgnoreNotFound(env.Client.Delete(ctx, o)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// operatorAccount is the ServiceAccount the CSV's operator Deployment runs as.
func operatorAccount(t *testing.T, b *bundle) string {
	t.Helper()
	for _, d := range b.csv.Spec.InstallStrategy.StrategySpec.DeploymentSpecs {
		if d.Name == packaging.OperatorName {
			return d.Spec.Template.Spec.ServiceAccountName
		}
	}
	t.Fatalf("%s deploys no %s", b.csv.Name, packaging.OperatorName)
	return ""
}

func TestOLMUpgradeWithRunningJobs(t *testing.T) {
	ctx := context.Background()
	prev := steps.Previous(t)
	old := framework.BuildRelease(t, prev.Commit)
	root, err := cluster.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	oldBundle, newBundle := readBundle(t, filepath.Join(old.Dir, "bundle")), readBundle(t, filepath.Join(root, "bundle"))
	if newBundle.csv.Spec.Replaces != "" && newBundle.csv.Spec.Replaces != oldBundle.csv.Name {
		t.Errorf("%s replaces %s, want %s", newBundle.csv.Name, newBundle.csv.Spec.Replaces, oldBundle.csv.Name)
	}
	webhookAddr := steps.Prepare(t, env, namespace)

	// N-1 through its bundle; the user creates the MPIJobPlatform, as
	// after an install from OperatorHub.
	install(t, oldBundle, "")
	p := &unstructured.Unstructured{Object: map[string]any{"spec": steps.PlatformQueues()}}
	p.SetAPIVersion(platformv1.SchemeGroupVersion.String())
	p.SetKind("MPIJobPlatform")
	p.SetName(platformv1.DefaultName)
	if err := env.Client.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	running := steps.Start(t, env, old.Manager, namespace, operatorAccount(t, oldBundle), webhookAddr)
	defer func() { running.Stop() }()
	before := steps.WaitPlatformReady(t, env)
	jobs := []string{"before-a", "before-b"}
	pods := steps.RunJobs(t, env, 45*time.Second, jobs...)

	// N: the new CSV's objects, then the old operator's pods give way;
	// the new operator may never say Ready while the controller's
	// Deployment is half rolled out.
	readiness := steps.WatchReadiness(t, env, namespace)
	install(t, newBundle, oldBundle.csv.Name)
	running.Stop()
	running = steps.Start(t, env, framework.CurrentManager(t), namespace, operatorAccount(t, newBundle), webhookAddr)
	// The new status field reaches the jobs that started before.
	steps.CheckUpgraded(t, env, before, jobs...)
	if n := readiness.Check(t); n == 0 {
		t.Error("the upgraded platform never said Ready while watched")
	}
	leftover := &rbacv1.ClusterRoleList{}
	if err := env.Client.List(ctx, leftover); err != nil {
		t.Fatal(err)
	}
	for _, r := range leftover.Items {
		if strings.HasPrefix(r.Name, oldBundle.csv.Name+"-") {
			t.Errorf("ClusterRole %s of the replaced CSV is still there", r.Name)
		}
	}
	if err := env.Client.Create(ctx, steps.LongJob("after-upgrade", 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, name := range append(jobs, "after-upgrade") {
		steps.WaitJob(t, env, name, kubeflow.JobSucceeded)
	}
	kept := steps.NoneRecreated(t, pods, steps.PodUIDs(t, env))
	t.Logf("OLM upgrade %s -> %s: %d jobs, %d of %d pods of the running jobs kept to the end", oldBundle.csv.Name, newBundle.csv.Name, len(jobs)+1, kept, len(pods))
}
