// Package helm_test installs, upgrades and uninstalls the Helm chart on the
// dev cluster with Helm's own library, and proves the permissions it grants
// are enough: the platform operator and the MPIJob controller run locally
// with tokens of the service accounts the chart and the platform create,
// through a full reconcile and an MPIJob run, without a forbidden error.
package helm_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
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
	// The chart brings its CRDs; none are installed beforehand.
	os.Exit(framework.RunWithCluster(m, framework.ClusterOptions{}, &env))
}

func helmConfig(t *testing.T) *action.Configuration {
	t.Helper()
	return helmaction.Config(t, env.Kubeconfig, namespace)
}

func chartValues(networkPolicy string, replicas int) map[string]any {
	return map[string]any{
		"replicaCount": replicas,
		"platform": map[string]any{
			"networkPolicy": map[string]any{"managementState": networkPolicy},
			"monitoring":    map[string]any{"managementState": "Removed"},
			"kueue": map[string]any{
				"managementState": "Managed",
				"resourceFlavors": []any{map[string]any{"name": "h100", "nodeLabels": map[string]any{"nvidia.com/gpu.product": cluster.GPUProduct}}},
				"clusterQueues": []any{map[string]any{"name": "team", "flavors": []any{map[string]any{"name": "h100", "resources": []any{
					map[string]any{"name": "cpu", "nominalQuota": "64"}, map[string]any{"name": "memory", "nominalQuota": "512Gi"}, map[string]any{"name": "nvidia.com/gpu", "nominalQuota": "8"},
				}}}}},
				"localQueues": []any{map[string]any{"name": "default", "clusterQueue": "team", "namespaces": []any{"team"}}},
			},
		},
	}
}

// asServiceAccount writes a kubeconfig with a token of a ServiceAccount
// the chart or the platform created.
func asServiceAccount(t *testing.T, sa string) string {
	t.Helper()
	path, err := env.TokenKubeconfig(namespace, sa)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func exists(t *testing.T, obj client.Object) bool {
	t.Helper()
	err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

func noForbidden(t *testing.T, m *framework.Manager) {
	t.Helper()
	data, err := os.ReadFile(m.Log)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(strings.ToLower(line), "forbidden") {
			t.Errorf("%s: %s", filepath.Base(m.Log), line)
		}
	}
}

func TestChartLifecycle(t *testing.T) {
	ctx := context.Background()
	chrt, err := loader.LoadDir(filepath.Join(repoRoot(t), packaging.ChartDir))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}); err != nil {
		t.Fatal(err)
	}

	// As the install docs ask: the platform's namespace enforces Pod
	// Security's restricted profile, so every pod the chart and the
	// platform run there must pass it.
	if err := env.RestrictedNamespace(ctx, namespace); err != nil {
		t.Fatal(err)
	}
	t.Run("install", func(t *testing.T) {
		install := action.NewInstall(helmConfig(t))
		install.ReleaseName, install.Namespace, install.CreateNamespace = release, namespace, true
		install.Timeout = 2 * time.Minute
		rel, err := install.RunWithContext(ctx, chrt, chartValues("Managed", 1))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(rel.Info.Notes, "keeps the CRDs") {
			t.Errorf("NOTES do not say that uninstall keeps the CRDs and jobs:\n%s", rel.Info.Notes)
		}
		for _, crd := range []string{"mpijobs.kubeflow.org", "mpijobplatforms.platform.mpijob.io"} {
			if !exists(t, &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: crd}}) {
				t.Errorf("CRD %s not installed from crds/", crd)
			}
		}
		framework.Eventually(t, framework.DefaultTimeout, "the operator Deployment Available on kwok", func(context.Context) (bool, string, error) {
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: packaging.OperatorName}}
			if !exists(t, d) {
				return false, "missing", nil
			}
			return d.Status.AvailableReplicas == 1, fmt.Sprintf("%d available", d.Status.AvailableReplicas), nil
		})
	})

	// The Deployment's pods on kwok run nothing; the same binary runs here,
	// with exactly the identity and permissions the chart gave it.
	var operator, controller *framework.Manager
	parent := t // the managers outlive this step: upgrade and uninstall use them
	t.Run("the chart's permissions suffice for a full reconcile and an MPIJob run", func(t *testing.T) {
		ports, err := cluster.FreePorts(1)
		if err != nil {
			t.Fatal(err)
		}
		webhookURL := "https://127.0.0.1:" + strconv.Itoa(ports[0])
		operator, err = framework.StartManager(env, "--role=platform", "--namespace="+namespace, "--local-webhook-url="+webhookURL,
			"--manager-image="+packaging.DefaultImage, "--kubeconfig="+asServiceAccount(parent, packaging.OperatorName))
		if err != nil {
			t.Fatal(err)
		}
		parent.Cleanup(operator.Stop)
		// The platform creates the controller's service account and role.
		framework.Eventually(t, framework.DefaultTimeout, "the controller's ServiceAccount", func(context.Context) (bool, string, error) {
			return exists(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "mpijob-controller"}}), "", nil
		})
		controller, err = framework.StartManager(env, "--role=mpijob-controller", "--kubeconfig="+asServiceAccount(parent, "mpijob-controller"),
			"--webhook-bind-address="+strings.TrimPrefix(webhookURL, "https://"), "--webhook-cert-dir="+parent.TempDir(),
			"--webhook-cert-secret="+namespace+"/mpijob-webhook-cert", "--webhook-cert-names=127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		parent.Cleanup(controller.Stop)

		framework.Eventually(t, 2*framework.DefaultTimeout, "the MPIJobPlatform Ready", func(ctx context.Context) (bool, string, error) {
			p := &platformv1.MPIJobPlatform{}
			if err := env.Client.Get(ctx, client.ObjectKey{Name: platformv1.DefaultName}, p); err != nil {
				return false, "", err
			}
			return apimeta.IsStatusConditionTrue(p.Status.Conditions, "Ready"), fmt.Sprintf("%+v", p.Status.Conditions), nil
		})
		job := framework.SmallMPIJob("team", "via-chart")
		if err := env.Client.Create(ctx, job); err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, framework.DefaultTimeout, "the MPIJob Succeeded through the chart's queue", func(ctx context.Context) (bool, string, error) {
			got := &kubeflow.MPIJob{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(job), got); err != nil {
				return false, "", err
			}
			for _, c := range got.Status.Conditions {
				if c.Type == kubeflow.JobSucceeded && c.Status == corev1.ConditionTrue {
					return true, "", nil
				}
			}
			return false, fmt.Sprintf("queue %q conditions %+v", got.Labels["kueue.x-k8s.io/queue-name"], got.Status.Conditions), nil
		})
		noForbidden(t, operator)
		noForbidden(t, controller)
	})

	t.Run("upgrade", func(t *testing.T) {
		upgrade := action.NewUpgrade(helmConfig(t))
		upgrade.Namespace, upgrade.Timeout = namespace, 2*time.Minute
		if _, err := upgrade.RunWithContext(ctx, release, chrt, chartValues("Removed", 2)); err != nil {
			t.Fatal(err)
		}
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: packaging.OperatorName}}
		if !exists(t, d) || ptr.Deref(d.Spec.Replicas, 0) != 2 {
			t.Errorf("operator replicas after upgrade: %v", d.Spec.Replicas)
		}
		framework.Eventually(t, framework.DefaultTimeout, "the networkPolicy toggle carried by the upgrade applied", func(context.Context) (bool, string, error) {
			return !exists(t, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "mpijob-controller"}}), "", nil
		})
		noForbidden(t, operator)
	})

	t.Run("uninstall keeps the CRDs and the users' MPIJobs", func(t *testing.T) {
		// helm uninstall deletes the operator's Deployment with its RBAC; the
		// local processes that stand in for its pods stop first, as the pods
		// would, rather than keep working without their permissions.
		for _, m := range []*framework.Manager{controller, operator} {
			if m != nil {
				m.Stop()
			}
		}
		uninstall := action.NewUninstall(helmConfig(t))
		uninstall.Wait, uninstall.Timeout = true, 2*time.Minute
		if _, err := uninstall.Run(release); err != nil {
			t.Fatal(err)
		}
		if exists(t, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: packaging.OperatorName}}) {
			t.Error("the operator Deployment survived uninstall")
		}
		framework.Eventually(t, framework.DefaultTimeout, "the MPIJobPlatform and what it installed removed", func(context.Context) (bool, string, error) {
			return !exists(t, &platformv1.MPIJobPlatform{ObjectMeta: metav1.ObjectMeta{Name: platformv1.DefaultName}}) &&
				!exists(t, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "mpijob-controller"}}), "", nil
		})
		if !exists(t, &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "mpijobs.kubeflow.org"}}) {
			t.Error("uninstall removed the MPIJob CRD")
		}
		if !exists(t, &kubeflow.MPIJob{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "via-chart"}}) {
			t.Error("uninstall removed a user's MPIJob")
		}
	})
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := cluster.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}
