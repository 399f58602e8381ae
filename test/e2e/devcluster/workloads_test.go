package devcluster_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

func podTemplate(annotations map[string]string, restart corev1.RestartPolicy, requests corev1.ResourceList) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "probe"}, Annotations: annotations},
		Spec: corev1.PodSpec{
			RestartPolicy: restart,
			Containers: []corev1.Container{{
				Name: "main", Image: "registry.invalid/probe:1",
				Resources: corev1.ResourceRequirements{Requests: requests, Limits: requests},
			}},
		},
	}
}

func TestNodesAreReadyAndLabelled(t *testing.T) {
	ctx := context.Background()
	nodes, err := env.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cluster.CountReadyNodes(nodes.Items), cluster.DefaultGPUNodes+cluster.DefaultCPUNodes; got != want {
		t.Fatalf("Ready nodes = %d, want %d", got, want)
	}
	gpuNodes := 0
	for _, n := range nodes.Items {
		if n.Labels["nvidia.com/gpu.product"] == cluster.GPUProduct {
			gpuNodes++
			if got := n.Status.Allocatable[cluster.GPUResource]; got.Value() != cluster.GPUNodeGPUs {
				t.Errorf("node %s allocatable %s = %s, want %d", n.Name, cluster.GPUResource, got.String(), cluster.GPUNodeGPUs)
			}
		}
	}
	if gpuNodes != cluster.DefaultGPUNodes {
		t.Errorf("GPU nodes = %d, want %d", gpuNodes, cluster.DefaultGPUNodes)
	}
}

func TestDeploymentPodsRunOnKwokNodes(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "deploy")
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "probe"}},
			Template: podTemplate(nil, corev1.RestartPolicyAlways, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}),
		},
	}
	if err := env.Client.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, framework.DefaultTimeout, "3 running pods owned through a ReplicaSet", func(ctx context.Context) (bool, string, error) {
		pods := &corev1.PodList{}
		if err := env.Client.List(ctx, pods, client.InNamespace(ns)); err != nil {
			return false, "", err
		}
		running := 0
		var states []string
		for _, p := range pods.Items {
			owner := metav1.GetControllerOf(&p)
			states = append(states, fmt.Sprintf("%s=%s@%s", p.Name, p.Status.Phase, p.Spec.NodeName))
			if p.Status.Phase == corev1.PodRunning && owner != nil && owner.Kind == "ReplicaSet" &&
				strings.HasPrefix(p.Spec.NodeName, "kwok-") && p.Status.PodIP != "" {
				running++
			}
		}
		return running == 3, strings.Join(states, " "), nil
	})
	framework.Eventually(t, framework.DefaultTimeout, "the Deployment to report 3 available replicas", func(ctx context.Context) (bool, string, error) {
		got := &appsv1.Deployment{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(dep), got); err != nil {
			return false, "", err
		}
		return got.Status.AvailableReplicas == 3, fmt.Sprintf("available=%d", got.Status.AvailableReplicas), nil
	})
}

func TestGarbageCollectorCascadesThroughOwnerReferences(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "gc")
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "owner", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "probe"}},
			Template: podTemplate(nil, corev1.RestartPolicyAlways, nil),
		},
	}
	if err := env.Client.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, framework.DefaultTimeout, "2 pods", func(ctx context.Context) (bool, string, error) {
		pods := &corev1.PodList{}
		err := env.Client.List(ctx, pods, client.InNamespace(ns))
		return len(pods.Items) == 2, fmt.Sprintf("%d pods", len(pods.Items)), err
	})
	if err := env.Client.Delete(ctx, dep, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, framework.DefaultTimeout, "ReplicaSets and pods collected", func(ctx context.Context) (bool, string, error) {
		rs := &appsv1.ReplicaSetList{}
		pods := &corev1.PodList{}
		if err := env.Client.List(ctx, rs, client.InNamespace(ns)); err != nil {
			return false, "", err
		}
		if err := env.Client.List(ctx, pods, client.InNamespace(ns)); err != nil {
			return false, "", err
		}
		return len(rs.Items) == 0 && len(pods.Items) == 0, fmt.Sprintf("%d ReplicaSets, %d pods left", len(rs.Items), len(pods.Items)), nil
	})
}

func jobWithExit(ns, name string, exitCode int, reason, message string) *batchv1.Job {
	ann := map[string]string{cluster.FinishAfterAnnotation: "1s", cluster.ExitCodeAnnotation: fmt.Sprint(exitCode)}
	if reason != "" {
		ann[cluster.ReasonAnnotation] = reason
	}
	if message != "" {
		ann[cluster.MessageAnnotation] = message
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0),
			Template:     podTemplate(ann, corev1.RestartPolicyNever, nil),
		},
	}
}

func waitJobCondition(t *testing.T, job *batchv1.Job, want batchv1.JobConditionType) *batchv1.Job {
	t.Helper()
	got := &batchv1.Job{}
	framework.Eventually(t, framework.DefaultTimeout, fmt.Sprintf("Job %s %s", job.Name, want), func(ctx context.Context) (bool, string, error) {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(job), got); err != nil {
			return false, "", err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == want && c.Status == corev1.ConditionTrue {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("conditions %+v", got.Status.Conditions), nil
	})
	return got
}

func jobPod(t *testing.T, job *batchv1.Job) corev1.Pod {
	t.Helper()
	pods := &corev1.PodList{}
	if err := env.Client.List(context.Background(), pods, client.InNamespace(job.Namespace), client.MatchingLabels{"job-name": job.Name}); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 {
		t.Fatalf("Job %s has %d pods, want 1", job.Name, len(pods.Items))
	}
	return pods.Items[0]
}

func TestJobPodsFinishWithTheRequestedExitCode(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "jobs")
	cases := map[string]struct {
		exitCode      int
		reason, msg   string
		wantCondition batchv1.JobConditionType
		wantPhase     corev1.PodPhase
		wantReason    string
	}{
		"succeeds":      {exitCode: 0, wantCondition: batchv1.JobComplete, wantPhase: corev1.PodSucceeded, wantReason: "Completed"},
		"fails":         {exitCode: 3, msg: "NCCL error: unhandled system error", wantCondition: batchv1.JobFailed, wantPhase: corev1.PodFailed, wantReason: "Error"},
		"is-oom-killed": {exitCode: 137, reason: "OOMKilled", wantCondition: batchv1.JobFailed, wantPhase: corev1.PodFailed, wantReason: "OOMKilled"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			job := jobWithExit(ns, name, tc.exitCode, tc.reason, tc.msg)
			if err := env.Client.Create(ctx, job); err != nil {
				t.Fatal(err)
			}
			waitJobCondition(t, job, tc.wantCondition)
			pod := jobPod(t, job)
			if pod.Status.Phase != tc.wantPhase {
				t.Errorf("pod phase = %s, want %s", pod.Status.Phase, tc.wantPhase)
			}
			if len(pod.Status.ContainerStatuses) != 1 || pod.Status.ContainerStatuses[0].State.Terminated == nil {
				t.Fatalf("container statuses = %+v, want one terminated container", pod.Status.ContainerStatuses)
			}
			term := pod.Status.ContainerStatuses[0].State.Terminated
			if term.ExitCode != int32(tc.exitCode) || term.Reason != tc.wantReason || term.Message != tc.msg {
				t.Errorf("terminated = (exit %d, reason %q, message %q), want (%d, %q, %q)",
					term.ExitCode, term.Reason, term.Message, tc.exitCode, tc.wantReason, tc.msg)
			}
		})
	}
}

func TestOnFailurePodsRestartTheirContainer(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "restart")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "crashy", Namespace: ns},
		Spec: podTemplate(map[string]string{cluster.FinishAfterAnnotation: "500ms", cluster.ExitCodeAnnotation: "1"},
			corev1.RestartPolicyOnFailure, nil).Spec,
	}
	pod.Annotations = map[string]string{cluster.FinishAfterAnnotation: "500ms", cluster.ExitCodeAnnotation: "1"}
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, framework.DefaultTimeout, "two restarts with the last exit recorded", func(ctx context.Context) (bool, string, error) {
		got := &corev1.Pod{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), got); err != nil {
			return false, "", err
		}
		if len(got.Status.ContainerStatuses) != 1 {
			return false, string(got.Status.Phase), nil
		}
		cs := got.Status.ContainerStatuses[0]
		ok := got.Status.Phase == corev1.PodRunning && cs.RestartCount >= 2 &&
			cs.LastTerminationState.Terminated != nil && cs.LastTerminationState.Terminated.ExitCode == 1
		return ok, fmt.Sprintf("phase %s restarts %d last %+v", got.Status.Phase, cs.RestartCount, cs.LastTerminationState), nil
	})
}

func TestPodAskingTooManyGPUsIsUnschedulable(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "sched")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "greedy", Namespace: ns},
		Spec: podTemplate(nil, corev1.RestartPolicyNever, corev1.ResourceList{
			cluster.GPUResource: *resource.NewQuantity(cluster.GPUNodeGPUs*2, resource.DecimalSI),
		}).Spec,
	}
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, framework.DefaultTimeout, "PodScheduled=False reason Unschedulable", func(ctx context.Context) (bool, string, error) {
		got := &corev1.Pod{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), got); err != nil {
			return false, "", err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				if !strings.Contains(c.Message, "Insufficient nvidia.com/gpu") {
					return false, "", fmt.Errorf("unschedulable message %q does not name the GPU shortage", c.Message)
				}
				return got.Status.Phase == corev1.PodPending && got.Spec.NodeName == "", "", nil
			}
		}
		return false, fmt.Sprintf("phase %s conditions %+v", got.Status.Phase, got.Status.Conditions), nil
	})
}

func TestComponentsListenOnLoopbackOnly(t *testing.T) {
	sockets, err := cluster.ListeningSockets()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range env.Cluster.State.Processes {
		ports, err := p.Listening()
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		for _, port := range ports {
			checked++
			if addr := sockets[port]; addr != "0100007F" {
				t.Errorf("%s listens on port %d at %s, want 127.0.0.1 (0100007F)", p.Name, port, addr)
			}
		}
	}
	if checked < len(env.Cluster.State.Processes) {
		t.Errorf("found %d listening ports for %d processes; each should listen at least once", checked, len(env.Cluster.State.Processes))
	}
}
