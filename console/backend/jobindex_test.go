package backend

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	fcache "k8s.io/client-go/tools/cache/testing"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
)

// The index follows adds, changes and deletes, keeps only what a row is
// made of, and tells each subscriber of its namespace (and of every
// namespace) that something changed.
func TestJobIndex(t *testing.T) {
	src := fcache.NewFakeControllerSource()
	first := mpiJob("team-a", "bert", 4)
	first.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template.Spec.Containers[0].Env = nil
	first.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template.Spec.Containers[0].Image = "example.invalid/secret-image:1"
	src.Add(first)
	x := newJobIndex(src)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go x.Run(ctx)
	if !x.WaitSynced(ctx) || !x.Synced() {
		t.Fatal("the index never synced")
	}
	teamA, stopA := x.subscribe("team-a")
	defer stopA()
	every, stopAll := x.subscribe("")
	defer stopAll()
	teamB, stopB := x.subscribe("team-b")
	defer stopB()

	rows := func(ns string) map[string]JobSummary {
		out := map[string]JobSummary{}
		for _, r := range x.rowsOf(ns, jobQuery{}, nil) {
			out[r.Namespace+"/"+r.Name] = *r
		}
		return out
	}
	got := rows("team-a")
	if r, ok := got["team-a/bert"]; !ok || r.Workers != 4 || r.GPUs != 4 || len(got) != 1 {
		t.Fatalf("rows after the first list: %+v", got)
	}
	// The store keeps no image, command or environment.
	stored, _, _ := x.informer.GetStore().GetByKey("team-a/bert")
	if job := stored.(*kubeflow.MPIJob); job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template.Spec.Containers[0].Image != "" {
		t.Errorf("the index keeps the image: %+v", job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker])
	}

	running := mpiJob("team-a", "bert", 4, cond(kubeflow.JobRunning, "MPIJobRunning", "all workers running"))
	running.ResourceVersion = "2"
	src.Modify(running)
	waitFor(t, teamA, "team-a's subscriber after a change")
	waitFor(t, every, "the every-namespace subscriber after a change")
	if r := rows("team-a")["team-a/bert"]; r.Status != mpijob.PhaseRunning || r.Message != "all workers running" {
		t.Errorf("row after the change: %+v", r)
	}
	select {
	case <-teamB:
		t.Error("team-b's subscriber was told of team-a's change")
	default:
	}

	src.Add(mpiJob("team-b", "gpt", 2))
	waitFor(t, teamB, "team-b's subscriber after an add")
	waitFor(t, every, "the every-namespace subscriber after an add")
	if n := x.Len(); n != 2 || len(rows("")) != 2 || len(rows("team-b")) != 1 {
		t.Errorf("after the add: %d jobs, %v", n, rows(""))
	}

	src.Delete(running)
	waitFor(t, teamA, "team-a's subscriber after a delete")
	if got := rows("team-a"); len(got) != 0 {
		t.Errorf("after the delete: %v", got)
	}
	// Status and search filter while collecting.
	if got := x.rowsOf("", jobQuery{Search: "gpt"}, nil); len(got) != 1 || got[0].Name != "gpt" {
		t.Errorf("rows matching gpt: %+v", got)
	}
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("no notice to %s", what)
	}
}

// A nil index is off: the list is read with the caller's token.
func TestNilJobIndexIsOff(t *testing.T) {
	var x *JobIndex
	if x.Synced() {
		t.Error("a nil index says it is synced")
	}
}

// The index keeps trimmed objects: every row field must come out the same
// as from the whole job, so that summarize and trimForRow cannot drift.
func TestTrimForRowKeepsTheRow(t *testing.T) {
	full := wrappers.MakeMPIJob("bert", "team-a").UID("u1").Created(created).
		Workers(4).WorkerResources("2", "8Gi", 2).LauncherResources("1", "1Gi").
		Command(kubeflow.MPIReplicaTypeLauncher, "mpirun", "python", "train.py").TemplateLabel(kubeflow.MPIReplicaTypeWorker, "team", "nlp").
		Queue("gpus").Suspend(true).Conditions(cond(kubeflow.JobCreated, "MPIJobCreated", "created")).Obj()
	full.Annotations = map[string]string{"note": "kept out of the index"}
	full.Spec.RunPolicy.SchedulingPolicy = &kubeflow.SchedulingPolicy{Queue: "below-the-label"}
	full.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
	full.Status.ReplicaStatuses = map[kubeflow.MPIReplicaType]*kubeflow.ReplicaStatus{kubeflow.MPIReplicaTypeWorker: {Active: 3}}
	want := summarize(full)
	if want.GPUs != 9 || want.Queue != "gpus" || want.ActiveWorkers != 3 || want.Status != mpijob.PhaseQueued {
		t.Fatalf("the test job does not exercise every row field: %+v", want)
	}
	if diff := cmp.Diff(want, summarize(trimForRow(full))); diff != "" {
		t.Errorf("row from the trimmed job (-whole +trimmed):\n%s", diff)
	}
}
