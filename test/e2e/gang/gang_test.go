package gang_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1alpha1 "github.com/mpijob-platform/mpijob-platform/operator/api/config/v1alpha1"
	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

const podGroupLabel = "scheduling.x-k8s.io/pod-group"

var schedulerPluginsPodGroup = schema.GroupVersionKind{Group: "scheduling.x-k8s.io", Version: "v1alpha1", Kind: "PodGroup"}

// A job under gangScheduling: scheduler-plugins gets a PodGroup for all
// its pods with their summed requests; its pods join it, keep the
// scheduler their template names, run and finish; deleting the job
// deletes the PodGroup (garbage collection through the owner reference).
// A template that names no scheduler gets scheduler-plugins' name, as
// upstream gives it.
func TestSchedulerPluginsPodGroup(t *testing.T) {
	ctx := context.Background()
	startManager(t, "scheduler-plugins")
	ns := env.CreateNamespace(t, "gang")

	// No scheduler-plugins scheduler runs here, so the pods name the
	// default scheduler: the PodGroup is still made and joined.
	job := gangJob(ns, "pi", 2)
	for _, r := range job.Spec.MPIReplicaSpecs {
		r.Template.Spec.SchedulerName = corev1.DefaultSchedulerName
	}
	job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Annotations = map[string]string{
		cluster.FinishAfterAnnotation: "2s", cluster.ExitCodeAnnotation: "0",
	}
	if err := env.Client.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	pg := podGroup(ns, "pi")
	framework.Eventually(t, framework.DefaultTimeout, "PodGroup pi", func(ctx context.Context) (bool, string, error) {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(pg), pg)
		return err == nil, fmt.Sprint(err), client.IgnoreNotFound(err)
	})
	if !metav1.IsControlledBy(pg, job) {
		t.Errorf("PodGroup owners %+v: want the MPIJob (uid %s) as controller", pg.GetOwnerReferences(), job.UID)
	}
	if got := pg.GetLabels()[kubeflow.OperatorNameLabel]; got != kubeflow.OperatorName {
		t.Errorf("PodGroup label %s = %q, want %q", kubeflow.OperatorNameLabel, got, kubeflow.OperatorName)
	}
	if mm, _, _ := unstructured.NestedInt64(pg.Object, "spec", "minMember"); mm != 3 {
		t.Errorf("minMember = %d, want 3 (2 workers and the launcher)", mm)
	}
	// Launcher requests cpu 1, memory 1Gi; each worker is limited to
	// cpu 1, memory 16Gi, one GPU, and limits stand in for requests.
	minRes, _, _ := unstructured.NestedStringMap(pg.Object, "spec", "minResources")
	for name, want := range map[string]string{"cpu": "3", "memory": "33Gi", string(cluster.GPUResource): "2"} {
		if got, err := resource.ParseQuantity(minRes[name]); err != nil || got.Cmp(resource.MustParse(want)) != 0 {
			t.Errorf("minResources[%s] = %q, want %s (all of %v)", name, minRes[name], want, minRes)
		}
	}

	waitSucceeded(t, job)
	pods := jobPods(t, job)
	if len(pods) != 3 {
		t.Fatalf("%d pods, want 2 workers and 1 launcher", len(pods))
	}
	for _, p := range pods {
		if p.Labels[podGroupLabel] != "pi" || p.Spec.SchedulerName != corev1.DefaultSchedulerName || p.Spec.NodeName == "" {
			t.Errorf("pod %s: %s=%q, schedulerName %q, node %q; want pi, %s, scheduled",
				p.Name, podGroupLabel, p.Labels[podGroupLabel], p.Spec.SchedulerName, p.Spec.NodeName, corev1.DefaultSchedulerName)
		}
	}

	// A template without a scheduler gets upstream's: the
	// gangScheduling value. Nobody serves it here, so its pods wait.
	plain := gangJob(ns, "plain", 1)
	if err := env.Client.Create(ctx, plain); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, framework.DefaultTimeout, "pods of job plain sent to scheduler-plugins", func(ctx context.Context) (bool, string, error) {
		pods := jobPods(t, plain)
		var state []string
		ok := len(pods) == 2
		for _, p := range pods {
			state = append(state, fmt.Sprintf("%s scheduler %q node %q label %q", p.Name, p.Spec.SchedulerName, p.Spec.NodeName, p.Labels[podGroupLabel]))
			ok = ok && p.Spec.SchedulerName == "scheduler-plugins" && p.Spec.NodeName == "" && p.Labels[podGroupLabel] == "plain"
		}
		return ok, strings.Join(state, "; "), nil
	})

	if err := env.Client.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, framework.DefaultTimeout, "PodGroup pi deleted with its job", func(ctx context.Context) (bool, string, error) {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(pg), podGroup(ns, "pi"))
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		return false, fmt.Sprintf("get: %v", err), client.IgnoreNotFound(err)
	})
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "plain"}, podGroup(ns, "plain")); err != nil {
		t.Errorf("PodGroup of the remaining job plain: %v", err)
	}
}

// Under gangScheduling: volcano without Volcano's CRD a job runs as if
// gang scheduling were off, and says why once.
func TestVolcanoWithoutItsCRD(t *testing.T) {
	ctx := context.Background()
	startManager(t, "volcano")
	ns := env.CreateNamespace(t, "novolcano")
	job := gangJob(ns, "pi", 2)
	job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Annotations = map[string]string{
		cluster.FinishAfterAnnotation: "2s", cluster.ExitCodeAnnotation: "0",
	}
	if err := env.Client.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	waitSucceeded(t, job)
	for _, p := range jobPods(t, job) {
		if p.Spec.SchedulerName != corev1.DefaultSchedulerName || p.Annotations["scheduling.k8s.io/group-name"] != "" {
			t.Errorf("pod %s: schedulerName %q, annotations %v; want the default scheduler and no Volcano group", p.Name, p.Spec.SchedulerName, p.Annotations)
		}
	}
	// Events are written asynchronously; the job passed many reconciles
	// by now, and the warning must be there exactly once, not a series.
	want := "podgroups.scheduling.volcano.sh is not installed: install Volcano or run the controller without gangScheduling"
	framework.Eventually(t, framework.DefaultTimeout, "one GangSchedulingUnavailable warning", func(ctx context.Context) (bool, string, error) {
		evs, err := env.Clientset.EventsV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "regarding.name=pi"})
		if err != nil {
			return false, "", err
		}
		var found []string
		ok := false
		for _, e := range evs.Items {
			if e.Reason != "GangSchedulingUnavailable" {
				continue
			}
			found = append(found, fmt.Sprintf("%s %q series=%v", e.Type, e.Note, e.Series))
			ok = e.Type == corev1.EventTypeWarning && strings.HasPrefix(e.Note, want) && e.Series == nil
		}
		return ok && len(found) == 1, fmt.Sprintf("%d such events: %v", len(found), found), nil
	})
}

// startManager runs the manager with args for the rest of the test and
// keeps its log under a name of the test's own (every manager writes the
// same file).
// startManager runs the controller with gangScheduling set to scheduler
// until the test ends.
func startManager(t *testing.T, scheduler string) {
	t.Helper()
	config, err := framework.ControllerConfig(func(c *configv1alpha1.ControllerConfiguration) { c.GangScheduling = scheduler })
	if err != nil {
		t.Fatal(err)
	}
	m, err := framework.StartManager(env, "--role=mpijob-controller", config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Stop()
		if data, err := os.ReadFile(m.Log); err == nil {
			_ = os.WriteFile(strings.TrimSuffix(m.Log, ".log")+"-"+t.Name()+".log", data, 0o644)
		}
	})
}

// gangJob is a job of workers with one GPU each and a launcher without.
func gangJob(ns, name string, workers int32) *kubeflow.MPIJob {
	return wrappers.MakeMPIJob(name, ns).SlotsPerWorker(1).Workers(workers).
		ContainerName(kubeflow.MPIReplicaTypeLauncher, "launcher").Command(kubeflow.MPIReplicaTypeLauncher, "mpirun", "python", "train.py").
		Requests(kubeflow.MPIReplicaTypeLauncher, "cpu", "1", "memory", "1Gi").
		ContainerName(kubeflow.MPIReplicaTypeWorker, "worker").Command(kubeflow.MPIReplicaTypeWorker).
		Limits(kubeflow.MPIReplicaTypeWorker, "cpu", "1", "memory", "16Gi", string(cluster.GPUResource), "1").Obj()
}

func podGroup(ns, name string) *unstructured.Unstructured {
	pg := &unstructured.Unstructured{}
	pg.SetGroupVersionKind(schedulerPluginsPodGroup)
	pg.SetNamespace(ns)
	pg.SetName(name)
	return pg
}

func waitSucceeded(t *testing.T, job *kubeflow.MPIJob) {
	t.Helper()
	framework.Eventually(t, framework.DefaultTimeout, "MPIJob "+job.Name+" Succeeded", func(ctx context.Context) (bool, string, error) {
		got := &kubeflow.MPIJob{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(job), got); err != nil {
			return false, "", err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == kubeflow.JobFailed && c.Status == corev1.ConditionTrue {
				return false, "", fmt.Errorf("job failed: %s: %s", c.Reason, c.Message)
			}
			if c.Type == kubeflow.JobSucceeded && c.Status == corev1.ConditionTrue {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("conditions %+v", got.Status.Conditions), nil
	})
}

// jobPods returns the job's workers and launcher pods.
func jobPods(t *testing.T, job *kubeflow.MPIJob) []corev1.Pod {
	t.Helper()
	pods := &corev1.PodList{}
	if err := env.Client.List(context.Background(), pods, client.InNamespace(job.Namespace), client.MatchingLabels{kubeflow.JobNameLabel: job.Name}); err != nil {
		t.Fatal(err)
	}
	return pods.Items
}
