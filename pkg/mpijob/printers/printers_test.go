package printers

import (
	"bytes"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
	"github.com/mpijob-platform/mpijob-platform/test/golden"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func job(name string, workers int32, gpus int64, queue string) *kubeflow.MPIJob {
	w := wrappers.MakeMPIJob(name, "team-a").UID("uid-"+name).Created(ago(2*time.Hour)).Image("registry.example/bert:1").
		SlotsPerWorker(int32(gpus)).Implementation(kubeflow.MPIImplementationOpenMPI).Workers(workers).
		ContainerName(kubeflow.MPIReplicaTypeLauncher, "mpi-launcher").Command(kubeflow.MPIReplicaTypeLauncher, "mpirun", "python", "train.py").
		ContainerName(kubeflow.MPIReplicaTypeWorker, "mpi-worker").
		Limits(kubeflow.MPIReplicaTypeWorker, string(GPUResource), strconv.FormatInt(gpus, 10), "memory", "16Gi")
	if queue != "" {
		w.Queue(queue)
	}
	j := w.Obj()
	return j
}

func cond(t kubeflow.JobConditionType, reason, msg string, age time.Duration) kubeflow.JobCondition {
	return kubeflow.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: msg, LastTransitionTime: ago(age), LastUpdateTime: ago(age)}
}

func pod(job, role string, index int, phase corev1.PodPhase, ready bool, node string) corev1.Pod {
	name := job + "-launcher"
	if role == kubeflow.RoleWorker {
		name = job + "-worker-" + string(rune('0'+index))
	}
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team-a", UID: types.UID("uid-pod-" + name), CreationTimestamp: ago(time.Hour), Labels: map[string]string{
			kubeflow.JobNameLabel: job, kubeflow.JobRoleLabel: role, kubeflow.ReplicaIndexLabel: string(rune('0' + index)),
		}},
		Spec:   corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: phase},
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	return p
}

// fixtures are a running, a queued, a succeeded and a failed job.
func fixtures() []DescribeInput {
	running := job("running", 2, 4, "")
	running.Status.Conditions = []kubeflow.JobCondition{cond(kubeflow.JobCreated, "MPIJobCreated", "MPIJob team-a/running is created.", 2*time.Hour), cond(kubeflow.JobRunning, "MPIJobRunning", "MPIJob team-a/running is running.", time.Hour)}
	runningPods := []corev1.Pod{
		pod("running", kubeflow.RoleLauncher, 0, corev1.PodRunning, true, "gpu-node-0"),
		pod("running", kubeflow.RoleWorker, 1, corev1.PodRunning, true, "gpu-node-1"),
		pod("running", kubeflow.RoleWorker, 0, corev1.PodRunning, true, "gpu-node-0"),
	}
	runningPods[2].Status.ContainerStatuses = []corev1.ContainerStatus{{RestartCount: 1, LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 137}}}}

	queued := job("queued", 8, 8, "team-a-queue")
	queued.Spec.RunPolicy.Suspend = ptr.To(true)
	queued.Status.Conditions = []kubeflow.JobCondition{cond(kubeflow.JobCreated, "MPIJobCreated", "MPIJob team-a/queued is created.", 2*time.Hour), cond(kubeflow.JobSuspended, "MPIJobSuspended", "MPIJob suspended", 2*time.Hour)}
	wl := &kueue.Workload{
		ObjectMeta: metav1.ObjectMeta{Name: "mpijob-queued-1a2b3", Namespace: "team-a", UID: "uid-wl"},
		Spec:       kueue.WorkloadSpec{QueueName: "team-a-queue"},
		Status: kueue.WorkloadStatus{Conditions: []metav1.Condition{{
			Type: kueue.WorkloadQuotaReserved, Status: metav1.ConditionFalse, Reason: "Pending",
			Message: "couldn't assign flavors to pod set worker: insufficient quota for nvidia.com/gpu in flavor h100, request > maximum capacity (64 > 32)",
		}}},
	}
	queuedEvents := []corev1.Event{{
		InvolvedObject: corev1.ObjectReference{Kind: "Workload", Name: wl.Name, UID: wl.UID}, Type: corev1.EventTypeNormal, Reason: "Pending",
		Message: "couldn't assign flavors to pod set worker: insufficient quota", LastTimestamp: ago(time.Minute), Source: corev1.EventSource{Component: "kueue-admission"},
	}}

	succeeded := job("succeeded", 2, 1, "team-a-queue")
	succeeded.Status.Conditions = []kubeflow.JobCondition{cond(kubeflow.JobCreated, "MPIJobCreated", "MPIJob team-a/succeeded is created.", 2*time.Hour), cond(kubeflow.JobSucceeded, "MPIJobSucceeded", "MPIJob team-a/succeeded successfully completed.", 30*time.Minute)}
	wlAdmitted := &kueue.Workload{
		ObjectMeta: metav1.ObjectMeta{Name: "mpijob-succeeded-9f8e7", Namespace: "team-a"},
		Spec:       kueue.WorkloadSpec{QueueName: "team-a-queue"},
		Status: kueue.WorkloadStatus{
			Admission:  &kueue.Admission{ClusterQueue: "gpu-cluster-queue"},
			Conditions: []metav1.Condition{{Type: kueue.WorkloadAdmitted, Status: metav1.ConditionTrue, Reason: "Admitted"}, {Type: kueue.WorkloadFinished, Status: metav1.ConditionTrue, Reason: "Succeeded", Message: "MPIJob team-a/succeeded successfully completed."}},
		},
	}
	succeededPods := []corev1.Pod{pod("succeeded", kubeflow.RoleLauncher, 0, corev1.PodSucceeded, false, "gpu-node-2")}
	succeededPods[0].Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}}

	failed := job("failed", 4, 2, "")
	failed.Status.Conditions = []kubeflow.JobCondition{cond(kubeflow.JobCreated, "MPIJobCreated", "MPIJob team-a/failed is created.", 2*time.Hour), cond(kubeflow.JobFailed, "OOMKilled", "worker-3 was OOMKilled at 16Gi: raise the worker memory limit or lower the batch size", 10*time.Minute)}
	failedPods := []corev1.Pod{
		pod("failed", kubeflow.RoleLauncher, 0, corev1.PodFailed, false, "gpu-node-0"),
		pod("failed", kubeflow.RoleWorker, 3, corev1.PodFailed, false, "gpu-node-3"),
	}
	failedPods[1].Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}}}
	failedEvents := []corev1.Event{
		{InvolvedObject: corev1.ObjectReference{Kind: "MPIJob", Name: "failed", UID: "uid-failed"}, Type: corev1.EventTypeWarning, Reason: "OOMKilled", Message: "worker-3 was OOMKilled at 16Gi: raise the worker memory limit or lower the batch size", LastTimestamp: ago(10 * time.Minute), Source: corev1.EventSource{Component: "mpijob-controller"}},
		{InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "failed-worker-3"}, Type: corev1.EventTypeNormal, Reason: "Started", Message: "Started container mpi-worker", LastTimestamp: ago(time.Hour), Source: corev1.EventSource{Component: "kubelet"}},
	}
	return []DescribeInput{
		{Job: running, Pods: runningPods, Now: now},
		{Job: queued, Workload: wl, Events: queuedEvents, Now: now},
		{Job: succeeded, Pods: succeededPods, Workload: wlAdmitted, Now: now},
		{Job: failed, Pods: failedPods, Events: failedEvents, Now: now},
	}
}

func views() []JobView {
	var vs []JobView
	for _, f := range fixtures() {
		v := JobView{Job: f.Job, Pods: f.Pods}
		if f.Job.Name == "queued" {
			v.QueuePosition = 3 // from Kueue's visibility API
		}
		vs = append(vs, v)
	}
	return vs
}

func TestTable(t *testing.T) {
	for _, tc := range []struct {
		name                string
		wide, allNamespaces bool
	}{{"table.txt", false, false}, {"table-wide.txt", true, false}, {"table-all-namespaces.txt", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if _, err := PrintTable(&buf, views(), tc.wide, tc.allNamespaces, false, now); err != nil {
				t.Fatal(err)
			}
			golden.CheckFile(t, filepath.Join("testdata", tc.name), buf.Bytes())
		})
	}
}

func TestRowValues(t *testing.T) {
	vs := views()
	want := [][]string{
		{"running", "Running", "2/2", "<none>", "120m", "Running", "8", "<none>"},
		{"queued", "Queued", "0/8", "team-a-queue", "120m", "<none>", "64", "3"},
		{"succeeded", "Succeeded", "0/2", "team-a-queue", "120m", "Succeeded", "2", "<none>"},
		{"failed", "Failed", "0/4", "<none>", "120m", "Failed", "8", "<none>"},
	}
	for i, v := range vs {
		got := Row(v, true, false, now)
		if len(got) != len(want[i]) {
			t.Fatalf("row %d has %d columns, want %d", i, len(got), len(want[i]))
		}
		for j := range want[i] {
			if got[j] != want[i][j] {
				t.Errorf("row %d column %d = %q, want %q", i, j, got[j], want[i][j])
			}
		}
	}
}

func TestStatus(t *testing.T) {
	j := job("x", 1, 0, "")
	if s := string(mpijob.PhaseOf(j)); s != "Pending" {
		t.Errorf("no conditions: %s", s)
	}
	j.Spec.RunPolicy.Suspend = ptr.To(true)
	if s := string(mpijob.PhaseOf(j)); s != "Suspended" {
		t.Errorf("suspended without queue: %s", s)
	}
	j.Spec.RunPolicy.Suspend = nil
	j.Status.Conditions = []kubeflow.JobCondition{cond(kubeflow.JobRunning, "", "", 0), cond(kubeflow.JobRestarting, "", "", 0)}
	if s := string(mpijob.PhaseOf(j)); s != "Restarting" {
		t.Errorf("restarting: %s", s)
	}
	j.Status.Conditions[1].Status = corev1.ConditionFalse
	if s := string(mpijob.PhaseOf(j)); s != "Running" {
		t.Errorf("running: %s", s)
	}
}

func TestDescribe(t *testing.T) {
	for _, in := range fixtures() {
		t.Run(in.Job.Name, func(t *testing.T) {
			golden.CheckFile(t, filepath.Join("testdata", "describe-"+in.Job.Name+".txt"), []byte(Describe(in)))
		})
	}
}
