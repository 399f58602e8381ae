package sdk_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

// limitsProgram submits, through the SDK as a user would, a job of 10
// million workers, a job whose name is one past the limit and a job with a
// hostPath volume; the first two both as the SDK's constructor checks them
// (client-side) and as from_dict() passes them unchecked to the server.
// It prints each ValidationError as JSON.
const limitsProgram = `
import json, sys
from openshift_ai_sdk.training import MPIJob, ValidationError, Volume

IMAGE = "mpioperator/mpi-pi:openmpi"
too_long = sys.argv[1]
out = {}

def attempt(key, submit):
    try:
        submit()
    except ValidationError as e:
        out[key] = {"value_error": isinstance(e, ValueError), "status": e.status, "field_path": e.field_path,
                    "fields": [c.field for c in e.causes], "message": str(e)}
    else:
        out[key] = None

def server(name, change):
    d = MPIJob(name, IMAGE, "mpirun /pi").to_dict()
    change(d)
    MPIJob.from_dict(d).create()

def ten_million(d):
    d["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] = 10_000_000

def long_name(d):
    d["metadata"]["name"] = too_long

attempt("workers/sdk", lambda: MPIJob("ten-million", IMAGE, "mpirun /pi", workers=10_000_000).create())
attempt("workers/server", lambda: server("ten-million", ten_million))
attempt("name/sdk", lambda: MPIJob(too_long, IMAGE, "mpirun /pi").create())
attempt("name/server", lambda: server("short", long_name))
attempt("hostPath/server", lambda: MPIJob("host-path", IMAGE, "mpirun /pi",
        volumes=[Volume("host", "/host", {"hostPath": {"path": "/etc"}})]).create())
print(json.dumps(out))
`

// refusal is one ValidationError of limitsProgram.
type refusal struct {
	ValueError bool     `json:"value_error"`
	Status     *int     `json:"status"`
	FieldPath  string   `json:"field_path"`
	Fields     []string `json:"fields"`
	Message    string   `json:"message"`
}

// A tenant cannot hurt the shared controller (issue 15), through the SDK
// either: each job over a limit raises ValidationError (a ValueError) that
// names the field, whether the SDK's own check or the server refuses it,
// and none of them reaches the controller.
func TestTenantLimitsAreValidationErrorsAndNeverReachTheController(t *testing.T) {
	ns := env.CreateNamespace(t, "sdk-limits")
	alice := dataScientist(t, ns)
	before := manager.Metrics(t)

	tooLong := "a" + strings.Repeat("b", kubeflow.MaxNameLength-1) + "c" // MaxNameLength+1
	r := python(t, 2*time.Minute, alice.Kubeconfig, "", nil, "python", "-c", limitsProgram, tooLong)
	if r.code != 0 {
		t.Fatalf("the SDK program failed: %s", r)
	}
	var got map[string]*refusal
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &got); err != nil {
		t.Fatalf("decoding the program's output: %v\n%s", err, r.stdout)
	}
	workers := "spec.mpiReplicaSpecs[Worker].replicas"
	for key, tc := range map[string]struct {
		status    int // 0: refused by the SDK before any request
		wantField string
		wantText  string
	}{
		"workers/sdk": {wantField: workers, wantText: "must be at most 1024 workers"},
		// The CRD schema's maximum (the apiserver names map keys with dots);
		// the SDK's field_path is the server's.
		"workers/server":  {status: 422, wantField: "spec.mpiReplicaSpecs.Worker.replicas", wantText: "less than or equal to 1024"},
		"name/sdk":        {wantField: "metadata.name", wantText: "must be at most 50 characters, not 51"},
		"name/server":     {status: 422, wantField: "metadata.name", wantText: "must be at most 50 characters, not 51"},
		"hostPath/server": {status: 422, wantField: "spec.mpiReplicaSpecs[Worker].template.spec.volumes[0].hostPath", wantText: "hostPath volumes are not allowed"},
	} {
		e := got[key]
		switch {
		case e == nil:
			t.Errorf("%s: no ValidationError; the SDK submitted the job", key)
			continue
		case !e.ValueError:
			t.Errorf("%s: the ValidationError is no ValueError", key)
		case tc.status == 0 && e.Status != nil, tc.status != 0 && (e.Status == nil || *e.Status != tc.status):
			t.Errorf("%s: status %v, want %d (0: the SDK's own check)", key, e.Status, tc.status)
		}
		if e.FieldPath != tc.wantField && !slices.Contains(e.Fields, tc.wantField) {
			t.Errorf("%s: field_path %q and causes %v lack %q", key, e.FieldPath, e.Fields, tc.wantField)
		}
		if !strings.Contains(e.Message, tc.wantText) {
			t.Errorf("%s: message lacks %q: %s", key, tc.wantText, e.Message)
		}
		t.Logf("%s: field_path %s: %s", key, e.FieldPath, e.Message)
	}
	refused := manager.Metrics(t)

	// None of them was stored, so none reached the controller. A valid
	// (suspended, podless) witness submitted afterwards proves it without a
	// sleep: the controller's watch delivers a namespace's objects in order,
	// so once it has counted the witness it would have counted anything
	// before it, and the count for the namespace must be exactly one.
	if jobs := jobsIn(t, ns); len(jobs) != 0 {
		t.Fatalf("%d MPIJobs stored after the refusals, want none", len(jobs))
	}
	if err := alice.Client.Create(context.Background(), witness(ns)); err != nil {
		t.Fatalf("the witness job: %v", err)
	}
	created := `mpi_operator_jobs_created_total{namespace="` + ns + `"}`
	var after map[string]float64
	framework.Eventually(t, framework.DefaultTimeout, "the controller to count the witness job", func(context.Context) (bool, string, error) {
		after = manager.Metrics(t)
		_, ok := after[created]
		return ok, "", nil
	})
	if n := after[created]; n != 1 {
		t.Errorf("%s = %v, want 1 (the witness alone)", created, n)
	}
	var cached float64
	for k, v := range after {
		if strings.HasPrefix(k, `mpijob_jobs{namespace="`+ns+`"`) {
			cached += v
		}
	}
	if cached != 1 {
		t.Errorf("mpijob_jobs for %s = %v in the controller's cache, want 1 (the witness alone)", ns, cached)
	}
	// For the note: resident memory is noisy (GC, other tests), so it
	// is logged, not asserted.
	rss, reconciles := "process_resident_memory_bytes", `controller_runtime_reconcile_total{controller="mpijob-controller",result="success"}`
	t.Logf("controller RSS: %.1f MiB before the refusals, %.1f MiB after them, %.1f MiB after the witness; %s: %v, %v, %v",
		before[rss]/(1<<20), refused[rss]/(1<<20), after[rss]/(1<<20), reconciles, before[reconciles], refused[reconciles], after[reconciles])
}

// witness is a valid MPIJob that stays suspended, so it creates no pod.
func witness(ns string) *kubeflow.MPIJob {
	return wrappers.MakeMPIJob("witness", ns).Image("mpioperator/mpi-pi:openmpi").Workers(1).Suspend(true).
		Command(kubeflow.MPIReplicaTypeLauncher, "mpirun", "/pi").Requests(kubeflow.MPIReplicaTypeLauncher, "cpu", "1", "memory", "1Gi").
		Command(kubeflow.MPIReplicaTypeWorker, "mpirun", "/pi").Requests(kubeflow.MPIReplicaTypeWorker, "cpu", "1", "memory", "1Gi").Obj()
}
