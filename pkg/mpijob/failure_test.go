package mpijob

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func failedPod(name string, memLimit string, t corev1.ContainerStateTerminated) *corev1.Pod {
	c := corev1.Container{Name: "main"}
	if memLimit != "" {
		c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memLimit)}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{c}},
		Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{
			{Name: "main", State: corev1.ContainerState{Terminated: &t}},
		}},
	}
}

func TestDiagnosePodFailure(t *testing.T) {
	cases := map[string]struct {
		pod        *corev1.Pod
		wantReason string
		wantMsg    string
	}{
		"oom with limit": {
			pod:        failedPod("pi-worker-3", "16Gi", corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}),
			wantReason: ReasonOOMKilled,
			wantMsg:    "worker-3 was OOMKilled at 16Gi: raise the worker memory limit or lower the batch size",
		},
		"oom without limit": {
			pod:        failedPod("pi-worker-0", "", corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}),
			wantReason: ReasonOOMKilled,
			wantMsg:    "worker-0 was OOMKilled with no memory limit",
		},
		"cuda out of memory": {
			pod:        failedPod("pi-worker-1", "", corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", Message: "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"}),
			wantReason: ReasonCUDAError,
			wantMsg:    "GPU memory ran out: lower the batch size",
		},
		"nccl": {
			pod:        failedPod("pi-worker-2", "", corev1.ContainerStateTerminated{ExitCode: 1, Message: "NCCL WARN NET/Socket : connect to 10.0.0.4 failed"}),
			wantReason: ReasonNCCLError,
			wantMsg:    "check NCCL_SOCKET_IFNAME",
		},
		"unknown keeps the container's words": {
			pod:        failedPod("pi-launcher-x7", "", corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error", Message: "segfault in rank 0"}),
			wantReason: ReasonLauncherFailed,
			wantMsg:    "launcher exited with code 3 (Error): segfault in rank 0",
		},
		"evicted": {
			pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pi-worker-5"}, Status: corev1.PodStatus{
				Phase: corev1.PodFailed, Reason: "Evicted", Message: "The node was low on resource: memory."}},
			wantReason: ReasonEvicted,
			wantMsg:    "worker-5 was evicted: The node was low on resource: memory.",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := DiagnosePodFailure(tc.pod)
			if d.Reason != tc.wantReason || !strings.Contains(d.Message, tc.wantMsg) {
				t.Errorf("diagnosis = (%s) %q; want (%s) containing %q", d.Reason, d.Message, tc.wantReason, tc.wantMsg)
			}
		})
	}
}

func TestDiagnoseImagePull(t *testing.T) {
	now := time.Now()
	pod := func(reason string, age time.Duration) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "pi-worker-0", CreationTimestamp: metav1.NewTime(now.Add(-age))},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Image: "example.invalid/x:1",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "not found"}}}}},
		}
	}
	cases := map[string]struct {
		pod              *corev1.Pod
		wantFound, fatal bool
	}{
		"fresh backoff is not fatal yet": {pod("ImagePullBackOff", time.Minute), true, false},
		"old backoff is fatal":           {pod("ImagePullBackOff", 5*time.Minute), true, true},
		"invalid name is fatal at once":  {pod("InvalidImageName", time.Second), true, true},
		"creating is fine":               {pod("ContainerCreating", time.Hour), false, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d, fatal, found := DiagnoseImagePull(tc.pod, now)
			if found != tc.wantFound || fatal != tc.fatal {
				t.Fatalf("found=%v fatal=%v, want %v %v", found, fatal, tc.wantFound, tc.fatal)
			}
			if found && (d.Reason != ReasonImagePullFailed || !strings.Contains(d.Message, `cannot pull image "example.invalid/x:1"`)) {
				t.Errorf("diagnosis = %+v", d)
			}
		})
	}
}

func TestDiagnoseUnschedulable(t *testing.T) {
	pods := []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "pi-worker-1"}, Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		Message: "0/6 nodes are available: 6 Insufficient nvidia.com/gpu.",
	}}}}}
	d, ok := DiagnoseUnschedulable(pods)
	if !ok || d.Reason != ReasonUnschedulable || !strings.Contains(d.Message, "worker-1") || !strings.Contains(d.Message, "lower the GPUs per worker") {
		t.Errorf("diagnosis = %+v, %v", d, ok)
	}
	if _, ok := DiagnoseUnschedulable(nil); ok {
		t.Error("no pods diagnosed as unschedulable")
	}
}

func TestDiagnoseLauncherJob(t *testing.T) {
	failed := func(reason string) *batchv1.Job {
		return &batchv1.Job{Status: batchv1.JobStatus{Failed: 3, Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: reason}}}}
	}
	d := DiagnoseLauncherJob(failed(batchv1.JobReasonDeadlineExceeded), nil, ptr.To[int64](600))
	if d.Reason != ReasonDeadlineExceeded || !strings.Contains(d.Message, "activeDeadlineSeconds=600") {
		t.Errorf("deadline: %+v", d)
	}
	pods := []corev1.Pod{*failedPod("pi-launcher-abc", "8Gi", corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"})}
	d = DiagnoseLauncherJob(failed(batchv1.JobReasonBackoffLimitExceeded), pods, nil)
	if d.Reason != ReasonOOMKilled || !strings.Contains(d.Message, "failed 3 time(s)") || !strings.Contains(d.Message, "launcher was OOMKilled at 8Gi") {
		t.Errorf("backoff with OOM: %+v", d)
	}
	d = DiagnoseLauncherJob(failed(batchv1.JobReasonBackoffLimitExceeded), nil, nil)
	if d.Reason != ReasonBackoffLimitExceeded {
		t.Errorf("backoff without pods: %+v", d)
	}
	// restartPolicy OnFailure: the pod restarted its container and is being
	// deleted by the Job controller, never Failed; its last termination
	// still gives the reason.
	restarted := failedPod("pi-launcher-xyz", "4Gi", corev1.ContainerStateTerminated{})
	restarted.Labels = map[string]string{"training.kubeflow.org/job-role": "launcher"}
	restarted.Status.Phase = corev1.PodRunning
	restarted.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	restarted.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}
	d = DiagnoseLauncherJob(failed(batchv1.JobReasonBackoffLimitExceeded), []corev1.Pod{*restarted}, nil)
	if d.Reason != ReasonOOMKilled || !strings.Contains(d.Message, "OOMKilled at 4Gi") {
		t.Errorf("backoff after OOMKilled restarts: %+v", d)
	}
	// A launcher pod that only ever ran fine gives no reason.
	healthy := restarted.DeepCopy()
	healthy.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{}
	if d := DiagnoseLauncherJob(failed(batchv1.JobReasonBackoffLimitExceeded), []corev1.Pod{*healthy}, nil); d.Reason != ReasonBackoffLimitExceeded {
		t.Errorf("backoff with a healthy pod: %+v", d)
	}
}

func TestTruncateUTF8(t *testing.T) {
	cases := map[string]struct {
		in, want string
		max      int
	}{
		"short":                  {in: "worker-3 was OOMKilled", max: 1024, want: "worker-3 was OOMKilled"},
		"exactly the limit":      {in: strings.Repeat("a", 1024), max: 1024, want: strings.Repeat("a", 1024)},
		"one byte over":          {in: strings.Repeat("a", 1025), max: 1024, want: strings.Repeat("a", 1021) + "…"},
		"cut inside a rune":      {in: "aé" + "xyz", max: 5, want: "a…"},
		"cut after a rune":       {in: "abé" + "cdef", max: 7, want: "abé…"},
		"four-byte runes":        {in: strings.Repeat("🙂", 5), max: 10, want: "🙂…"},
		"invalid bytes replaced": {in: "a\xffb", max: 1024, want: "a\uFFFDb"},
		"no room for the marker": {in: "abcdef", max: 2, want: ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, TruncateUTF8(tc.in, tc.max)); diff != "" {
				t.Errorf("TruncateUTF8 (-want +got):\n%s", diff)
			}
		})
	}
}
