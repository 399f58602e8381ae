package platform_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"
	"sigs.k8s.io/yaml"

	configv1alpha1 "github.com/mpijob-platform/mpijob-platform/operator/api/config/v1alpha1"
	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

func platformSpec() platformv1.MPIJobPlatformSpec {
	return platformv1.MPIJobPlatformSpec{
		Kueue: platformv1.KueueSpec{
			ManagementState: platformv1.Managed,
			ResourceFlavors: []platformv1.ResourceFlavor{{Name: "h100", NodeLabels: map[string]string{"nvidia.com/gpu.product": cluster.GPUProduct}}},
			ClusterQueues: []platformv1.ClusterQueue{{Name: "team-a", Cohort: "gpus", Flavors: []platformv1.FlavorQuotas{{Name: "h100", Resources: []platformv1.ResourceQuota{
				{Name: corev1.ResourceCPU, NominalQuota: resource.MustParse("64")},
				{Name: corev1.ResourceMemory, NominalQuota: resource.MustParse("512Gi")},
				{Name: cluster.GPUResource, NominalQuota: resource.MustParse("16")},
			}}}}},
			LocalQueues: []platformv1.LocalQueue{
				{Name: "default", ClusterQueue: "team-a", Namespaces: []string{"team-a"}},
				{Name: "shared", ClusterQueue: "team-a", NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"mpijob.io/team": "b"}}},
			},
		},
		Monitoring: platformv1.ComponentSpec{ManagementState: platformv1.Managed},
	}
}

func getPlatform(t *testing.T) *platformv1.MPIJobPlatform {
	t.Helper()
	p := &platformv1.MPIJobPlatform{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: platformv1.DefaultName}, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// updateSpec changes the platform's spec, retrying on conflicts.
func updateSpec(t *testing.T, change func(*platformv1.MPIJobPlatformSpec)) {
	t.Helper()
	framework.Eventually(t, framework.DefaultTimeout, "the MPIJobPlatform updated", func(ctx context.Context) (bool, string, error) {
		p := getPlatform(t)
		change(&p.Spec)
		err := env.Client.Update(ctx, p)
		if apierrors.IsConflict(err) {
			return false, err.Error(), nil
		}
		return err == nil, "", err
	})
}

// waitCondition waits until the platform's condition has status and reason
// for the current generation.
func waitCondition(t *testing.T, condType string, status metav1.ConditionStatus, reason string) *platformv1.MPIJobPlatform {
	t.Helper()
	var last *platformv1.MPIJobPlatform
	framework.Eventually(t, framework.DefaultTimeout, fmt.Sprintf("%s=%s (%s)", condType, status, reason), func(ctx context.Context) (bool, string, error) {
		last = getPlatform(t)
		c := meta.FindStatusCondition(last.Status.Conditions, condType)
		if c == nil || last.Status.ObservedGeneration != last.Generation {
			return false, fmt.Sprintf("observedGeneration %d of %d, conditions %+v", last.Status.ObservedGeneration, last.Generation, last.Status.Conditions), nil
		}
		ok := c.Status == status && (reason == "" || c.Reason == reason)
		msg := fmt.Sprintf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
		if !ok && strings.Contains(c.Message, "rolling out") {
			msg += "; " + rollout(ctx)
		}
		return ok, msg, nil
	})
	return last
}

// rollout describes the controller's ReplicaSets and pods, for a failure
// message that says why a rollout does not finish.
func rollout(ctx context.Context) string {
	var b strings.Builder
	d := &appsv1.Deployment{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: platformNamespace, Name: "mpijob-controller"}, d); err == nil {
		fmt.Fprintf(&b, "Deployment %s: generation %d, status %+v; ", d.UID, d.Generation, d.Status)
	}
	sets := &appsv1.ReplicaSetList{}
	pods := &corev1.PodList{}
	if err := env.Client.List(ctx, sets, client.InNamespace(platformNamespace)); err != nil {
		return err.Error()
	}
	if err := env.Client.List(ctx, pods, client.InNamespace(platformNamespace)); err != nil {
		return err.Error()
	}
	for _, rs := range sets.Items {
		owner := ""
		if ref := metav1.GetControllerOf(&rs); ref != nil {
			owner = string(ref.UID)
		}
		fmt.Fprintf(&b, "ReplicaSet %s (owner %s, deleting %t): spec %d, status %d, ready %d, available %d; ",
			rs.Name, owner, rs.DeletionTimestamp != nil, ptr.Deref(rs.Spec.Replicas, 0), rs.Status.Replicas, rs.Status.ReadyReplicas, rs.Status.AvailableReplicas)
	}
	for _, p := range pods.Items {
		ready := false
		for _, c := range p.Status.Conditions {
			ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
		}
		fmt.Fprintf(&b, "pod %s on %q: %s, ready %t, deleting %t; ", p.Name, p.Spec.NodeName, p.Status.Phase, ready, p.DeletionTimestamp != nil)
	}
	return b.String()
}

func createNamespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := env.Client.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func exists(t *testing.T, obj client.Object) bool {
	t.Helper()
	err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

func waitGone(t *testing.T, obj client.Object) {
	t.Helper()
	framework.Eventually(t, framework.DefaultTimeout, fmt.Sprintf("%T %s deleted", obj, obj.GetName()), func(context.Context) (bool, string, error) {
		return !exists(t, obj), "", nil
	})
}

func waitExists(t *testing.T, obj client.Object) {
	t.Helper()
	framework.Eventually(t, framework.DefaultTimeout, fmt.Sprintf("%T %s created", obj, obj.GetName()), func(context.Context) (bool, string, error) {
		return exists(t, obj), "", nil
	})
}

// writes counts the platform operator's and the controller's API writes
// so far.
func writes(t *testing.T) int {
	t.Helper()
	total := 0
	for _, m := range []*framework.Manager{operator, controller} {
		n, err := m.APIWrites()
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	return total
}

// The whole life of the platform, step by step: each step builds on the
// state the previous one left, as an admin's cluster would.
func TestPlatformLifecycle(t *testing.T) {
	ctx := context.Background()
	createNamespace(t, "team-a", nil)

	t.Run("CEL rules reject what cannot work", func(t *testing.T) {
		other := &platformv1.MPIJobPlatform{ObjectMeta: metav1.ObjectMeta{Name: "mine"}}
		if err := env.Client.Create(ctx, other); err == nil || !strings.Contains(err.Error(), "must be named default") {
			t.Errorf("a platform named mine: %v", err)
		}
		p := &platformv1.MPIJobPlatform{ObjectMeta: metav1.ObjectMeta{Name: platformv1.DefaultName}}
		p.Spec.MPIJobController.ManagementState = platformv1.Removed
		p.Spec.Webhooks.ManagementState = platformv1.Managed
		if err := env.Client.Create(ctx, p); err == nil || !strings.Contains(err.Error(), "the webhooks are served by the MPIJob controller") {
			t.Errorf("webhooks without controller: %v", err)
		}
		for field, set := range map[string]func(*platformv1.MPIJobPlatformSpec){
			"spec.mpiJobController.image": func(s *platformv1.MPIJobPlatformSpec) { s.MPIJobController.Image = "my image; rm -rf /" },
			"spec.console.image":          func(s *platformv1.MPIJobPlatformSpec) { s.Console.Image = "Registry/UPPER:tag" },
			"spec.console.authProxyImage": func(s *platformv1.MPIJobPlatformSpec) { s.Console.AuthProxyImage = "proxy@sha256:short" },
		} {
			p = &platformv1.MPIJobPlatform{ObjectMeta: metav1.ObjectMeta{Name: platformv1.DefaultName}, Spec: platformSpec()}
			set(&p.Spec)
			if err := env.Client.Create(ctx, p); err == nil || !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), "must be an image reference") {
				t.Errorf("a bad %s: %v", field, err)
			}
		}
		p = &platformv1.MPIJobPlatform{ObjectMeta: metav1.ObjectMeta{Name: platformv1.DefaultName}, Spec: platformSpec()}
		p.Spec.Kueue.LocalQueues[0].ClusterQueue = "nope"
		if err := env.Client.Create(ctx, p); err == nil || !strings.Contains(err.Error(), "every localQueues[].clusterQueue must name one of clusterQueues") {
			t.Errorf("LocalQueue of an unknown ClusterQueue: %v", err)
		}
	})

	t.Run("one resource installs every component; a missing CRD degrades only its own", func(t *testing.T) {
		begin := time.Now()
		p := &platformv1.MPIJobPlatform{ObjectMeta: metav1.ObjectMeta{Name: platformv1.DefaultName}, Spec: platformSpec()}
		if err := env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		waitCondition(t, "MonitoringReady", metav1.ConditionFalse, "MissingDependency")
		for _, c := range []string{"MPIJobControllerReady", "WebhooksReady", "KueueReady", "RBACReady", "NetworkPolicyReady"} {
			waitCondition(t, c, metav1.ConditionTrue, "Ready")
		}
		t.Logf("CR create to every component but monitoring Ready: %s", time.Since(begin).Round(100*time.Millisecond))
		p = waitCondition(t, "Degraded", metav1.ConditionTrue, "")
		if c := meta.FindStatusCondition(p.Status.Conditions, "MonitoringReady"); !strings.Contains(c.Message, "install prometheus-operator") {
			t.Errorf("MonitoringReady message %q does not say what to install", c.Message)
		}
		if c := meta.FindStatusCondition(p.Status.Conditions, "ConsoleReady"); c.Reason != platformv1.Removed {
			t.Errorf("ConsoleReady reason %q, want Removed", c.Reason)
		}
		if p.Status.Phase != platformv1.PhaseDegraded {
			t.Errorf("phase %q, want Degraded", p.Status.Phase)
		}
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: "mpijob-controller"}}
		if !exists(t, d) || !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--config=/etc/mpijob-controller/config.yaml") {
			t.Errorf("controller Deployment args: %v", d.Spec.Template.Spec.Containers[0].Args)
		}
		// Two replicas by default (the CRD's default), one of which a drain
		// may take at a time: the webhooks fail closed.
		if r := ptr.Deref(d.Spec.Replicas, 0); r != 2 {
			t.Errorf("controller replicas %d, want the default 2", r)
		}
		pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: "mpijob-controller"}}
		if !exists(t, pdb) || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
			t.Errorf("the controller's PodDisruptionBudget: %+v", pdb.Spec)
		}
		if c := controllerConfiguration(t); !c.NetworkPolicy {
			t.Errorf("the controller's configuration %+v: want networkPolicy, as the platform's networkPolicy is Managed", c)
		}
	})

	t.Run("an MPIJob runs through the LocalQueue the platform made", func(t *testing.T) {
		job := framework.SmallMPIJob("team-a", "through-platform")
		if err := env.Client.Create(ctx, job); err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, framework.DefaultTimeout, "the job Succeeded", func(ctx context.Context) (bool, string, error) {
			got := &kubeflow.MPIJob{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(job), got); err != nil {
				return false, "", err
			}
			for _, c := range got.Status.Conditions {
				if c.Type == kubeflow.JobSucceeded && c.Status == corev1.ConditionTrue {
					return got.Labels["kueue.x-k8s.io/queue-name"] == "default", "queue label " + got.Labels["kueue.x-k8s.io/queue-name"], nil
				}
			}
			return false, fmt.Sprintf("conditions %+v", got.Status.Conditions), nil
		})
	})

	t.Run("the CRD arrives and the component recovers without a restart", func(t *testing.T) {
		installPrometheusOperatorCRDs(t)
		p := waitCondition(t, "MonitoringReady", metav1.ConditionTrue, "Ready")
		if c := meta.FindStatusCondition(p.Status.Conditions, "MonitoringReady"); !strings.Contains(c.Message, "grafana-operator is not installed") {
			t.Errorf("MonitoringReady message %q should say GrafanaDashboards wait for grafana-operator", c.Message)
		}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: "dashboard-mpijob-overview"}}
		if !exists(t, cm) || cm.Labels["grafana_dashboard"] != "1" || !strings.Contains(cm.Data["mpijob-overview.json"], `"uid": "mpijob-overview"`) {
			t.Errorf("dashboard ConfigMap for Grafana's sidecar: labels %v, %d keys", cm.Labels, len(cm.Data))
		}
		p = waitCondition(t, "Ready", metav1.ConditionTrue, "Ready")
		if p.Status.Phase != platformv1.PhaseReady {
			t.Errorf("phase %q", p.Status.Phase)
		}
	})

	t.Run("idle: zero API writes in 30 s", func(t *testing.T) {
		// The previous step's last pass may still be finishing (a status
		// write that met a conflict is retried): idle starts once the
		// writes have stopped for 2 s.
		var before int
		framework.Eventually(t, framework.DefaultTimeout, "the previous step's writes to settle", func(context.Context) (bool, string, error) {
			n := writes(t)
			time.Sleep(2 * time.Second)
			before = writes(t)
			return before == n, fmt.Sprintf("%d writes in 2 s", before-n), nil
		})
		time.Sleep(30 * time.Second)
		if n := writes(t) - before; n != 0 {
			t.Errorf("%d API writes while nothing changed, want 0", n)
		}
	})

	t.Run("drift is undone", func(t *testing.T) {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: "mpijob-controller"}}
		if !exists(t, d) {
			t.Fatal("no controller Deployment")
		}
		oldUID := d.UID
		if err := env.Client.Delete(ctx, d); err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, framework.DefaultTimeout, "the Deployment recreated", func(context.Context) (bool, string, error) {
			fresh := &appsv1.Deployment{ObjectMeta: d.ObjectMeta}
			return exists(t, fresh) && fresh.UID != oldUID, "", nil
		})

		cq := &kueue.ClusterQueue{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
		if !exists(t, cq) {
			t.Fatal("no ClusterQueue")
		}
		cq.Spec.ResourceGroups[0].Flavors[0].Resources[2].NominalQuota = resource.MustParse("4")
		if err := env.Client.Update(ctx, cq); err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, framework.DefaultTimeout, "the ClusterQueue's GPU quota restored to 16", func(context.Context) (bool, string, error) {
			got := &kueue.ClusterQueue{ObjectMeta: cq.ObjectMeta}
			if !exists(t, got) {
				return false, "gone", nil
			}
			q := got.Spec.ResourceGroups[0].Flavors[0].Resources[2].NominalQuota
			return q.Cmp(resource.MustParse("16")) == 0, "quota " + q.String(), nil
		})
	})

	t.Run("spec changes reach the objects", func(t *testing.T) {
		first := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: "mpijob-controller"}}
		exists(t, first)
		firstConfigHash := first.Spec.Template.Annotations["mpijob.io/config-hash"]
		updateSpec(t, func(s *platformv1.MPIJobPlatformSpec) {
			s.Kueue.ClusterQueues[0].Flavors[0].Resources[2].NominalQuota = resource.MustParse("24")
			s.JobDefaults.SpreadWorkers = true
			s.JobDefaults.NCCLEnv = map[string]string{"NCCL_DEBUG": "INFO", "NCCL_IB_DISABLE": "1"}
		})
		framework.Eventually(t, framework.DefaultTimeout, "quota and controller configuration updated", func(context.Context) (bool, string, error) {
			cq := &kueue.ClusterQueue{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: "mpijob-controller"}}
			if !exists(t, cq) || !exists(t, d) {
				return false, "missing", nil
			}
			q := cq.Spec.ResourceGroups[0].Flavors[0].Resources[2].NominalQuota
			c := controllerConfiguration(t)
			ok := q.Cmp(resource.MustParse("24")) == 0 && c.JobDefaults.SpreadWorkers &&
				maps.Equal(c.JobDefaults.NCCLEnv, map[string]string{"NCCL_DEBUG": "INFO", "NCCL_IB_DISABLE": "1"}) &&
				d.Spec.Template.Annotations["mpijob.io/config-hash"] != firstConfigHash
			return ok, fmt.Sprintf("quota %s, configuration %+v, config hash %s", q.String(), c, d.Spec.Template.Annotations["mpijob.io/config-hash"]), nil
		})
		waitCondition(t, "Ready", metav1.ConditionTrue, "Ready")
	})

	t.Run("LocalQueues follow the namespace selector", func(t *testing.T) {
		createNamespace(t, "team-b", map[string]string{"mpijob.io/team": "b"})
		lq := &kueue.LocalQueue{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "shared"}}
		waitExists(t, lq)
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-b"}}
		if !exists(t, ns) {
			t.Fatal("team-b vanished")
		}
		delete(ns.Labels, "mpijob.io/team")
		if err := env.Client.Update(ctx, ns); err != nil {
			t.Fatal(err)
		}
		waitGone(t, &kueue.LocalQueue{ObjectMeta: lq.ObjectMeta})
	})

	t.Run("a toggle removes exactly its component; users' jobs are never touched", func(t *testing.T) {
		userRole := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "mpijob-platform-user"}}
		cq := &kueue.ClusterQueue{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
		job := &kubeflow.MPIJob{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "through-platform"}}
		if !exists(t, userRole) || !exists(t, cq) || !exists(t, job) {
			t.Fatal("missing objects before toggling")
		}
		roleVersion := userRole.ResourceVersion

		updateSpec(t, func(s *platformv1.MPIJobPlatformSpec) { s.NetworkPolicy.ManagementState = platformv1.Removed })
		waitGone(t, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: "mpijob-controller"}})
		waitCondition(t, "NetworkPolicyReady", metav1.ConditionFalse, platformv1.Removed)
		if !exists(t, userRole) || userRole.ResourceVersion != roleVersion {
			t.Error("removing networkPolicy touched the RBAC component")
		}

		// The user roles ship with the operator (the platform would need
		// escalate to create them): the toggle only stops reporting them.
		updateSpec(t, func(s *platformv1.MPIJobPlatformSpec) { s.RBAC.ManagementState = platformv1.Removed })
		waitCondition(t, "RBACReady", metav1.ConditionFalse, platformv1.Removed)
		if !exists(t, userRole) {
			t.Error("the rbac toggle deleted a ClusterRole that ships with the operator")
		}

		updateSpec(t, func(s *platformv1.MPIJobPlatformSpec) { s.Kueue.ManagementState = platformv1.Unmanaged })
		waitCondition(t, "KueueReady", metav1.ConditionTrue, platformv1.Unmanaged)
		if !exists(t, cq) {
			t.Error("Unmanaged deleted the ClusterQueue; it must leave queues alone")
		}

		updateSpec(t, func(s *platformv1.MPIJobPlatformSpec) {
			s.NetworkPolicy.ManagementState, s.RBAC.ManagementState, s.Kueue.ManagementState = platformv1.Managed, platformv1.Managed, platformv1.Managed
		})
		waitCondition(t, "RBACReady", metav1.ConditionTrue, "")
		waitExists(t, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: "mpijob-controller"}})
		waitCondition(t, "Ready", metav1.ConditionTrue, "Ready")

		updateSpec(t, func(s *platformv1.MPIJobPlatformSpec) { s.Kueue.ManagementState = platformv1.Removed })
		waitGone(t, &kueue.ClusterQueue{ObjectMeta: cq.ObjectMeta})
		if !exists(t, job) {
			t.Error("the user's MPIJob disappeared")
		}
	})

	t.Run("deleting the MPIJobPlatform removes the platform, not the jobs", func(t *testing.T) {
		// In a cluster the controller's Deployment goes with the platform,
		// and with it the process; its stand-in here stops first, rather
		// than keep working with its RBAC gone.
		controller.Stop()
		if err := env.Client.Delete(ctx, &platformv1.MPIJobPlatform{ObjectMeta: metav1.ObjectMeta{Name: platformv1.DefaultName}}); err != nil {
			t.Fatal(err)
		}
		waitGone(t, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: "mpijob-controller"}})
		waitGone(t, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: "mpijob-controller"}})
		if !exists(t, &kubeflow.MPIJob{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "through-platform"}}) {
			t.Error("the user's MPIJob disappeared with the platform")
		}
	})
}

// installPrometheusOperatorCRDs installs the ServiceMonitor and
// PrometheusRule CRDs from prometheus-operator's module.
func installPrometheusOperatorCRDs(t *testing.T) {
	t.Helper()
	dir, err := framework.ModuleDir(context.Background(), framework.PrometheusOperator)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"servicemonitors", "prometheusrules"} {
		data, err := os.ReadFile(filepath.Join(dir, "example", "prometheus-operator-crd", "monitoring.coreos.com_"+name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(data, crd); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Create(context.Background(), crd); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}

// controllerConfiguration is the configuration the platform wrote for the
// controller, as the controller loads it.
func controllerConfiguration(t *testing.T) *configv1alpha1.ControllerConfiguration {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: "mpijob-controller-config"}}
	if !exists(t, cm) {
		t.Fatal("the controller's ConfigMap does not exist")
	}
	c, err := configv1alpha1.Load([]byte(cm.Data["config.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
