package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/quota"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
)

// fakeFactory serves fake clients; with nil clients, asking for them fails
// the test (bad input must be refused before contacting a cluster).
type fakeFactory struct {
	t       *testing.T
	flags   *genericclioptions.ConfigFlags
	clients *Clients
}

func (f *fakeFactory) Namespace() (string, bool, error) {
	if ns := ptr.Deref(f.flags.Namespace, ""); ns != "" {
		return ns, true, nil
	}
	return "default", false, nil
}

func (f *fakeFactory) Clients() (*Clients, error) {
	if f.clients == nil {
		f.t.Error("the command contacted the cluster")
		return nil, errors.New("no cluster in this test")
	}
	return f.clients, nil
}

type result struct {
	code           int
	stdout, stderr string
}

func runWith(t *testing.T, clients *Clients, stdin string, args ...string) result {
	t.Helper()
	return runCtx(context.Background(), t, clients, stdin, args...)
}

func runCtx(ctx context.Context, t *testing.T, clients *Clients, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(ctx, args, IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut},
		func(flags *genericclioptions.ConfigFlags, _ IOStreams) Factory {
			return &fakeFactory{t: t, flags: flags, clients: clients}
		})
	return result{code, out.String(), errOut.String()}
}

func newFakeClients(objs ...client.Object) *Clients {
	c := fake.NewClientBuilder().WithScheme(Scheme).WithObjects(objs...).WithStatusSubresource(&kubeflow.MPIJob{}).Build()
	return &Clients{Client: c, Kube: kubefake.NewClientset()}
}

func TestExitCode(t *testing.T) {
	gr := schema.GroupResource{Group: "kubeflow.org", Resource: "mpijobs"}
	admission := &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: 403, Reason: metav1.StatusReasonForbidden,
		Message: `admission webhook "quota.mpijob.io" denied the request: nvidia.com/gpu: requested 64, used 0, available 32, limit 32`,
	}}
	// A quota refusal is known by its causes, whatever its message says.
	quotaDenial := apierrors.NewForbidden(gr, "x", errors.New("can never run"))
	quotaDenial.ErrStatus.Details.Causes = []metav1.StatusCause{quota.Shortfall{Resource: "pods", Requested: "3", Used: "0", Available: "2", Limit: "2", Where: "ResourceQuota ns/q"}.Cause()}
	podsDenial := apierrors.NewForbidden(gr, "x", errors.New("bob may not create pods"))
	podsDenial.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: mpijob.CausePodsForbidden, Field: "ns"}}
	for name, tc := range map[string]struct {
		err  error
		want int
	}{
		"nil":              {nil, 0},
		"pods cause":       {podsDenial, 2},
		"not found":        {apierrors.NewNotFound(gr, "x"), 4},
		"wrapped notfound": {fmt.Errorf("getting: %w", apierrors.NewNotFound(gr, "x")), 4},
		"rbac forbidden":   {apierrors.NewForbidden(gr, "x", errors.New(`User "bob" cannot create resource "mpijobs"`)), 4},
		"unauthorized":     {apierrors.NewUnauthorized("no"), 4},
		"webhook denial":   {admission, 2},
		"quota causes":     {quotaDenial, 2},
		"invalid":          {apierrors.NewInvalid(schema.GroupKind{Group: "kubeflow.org", Kind: "MPIJob"}, "x", field.ErrorList{field.Required(field.NewPath("spec"), "")}), 2},
		"bad request":      {apierrors.NewBadRequest("nope"), 2},
		"deadline":         {fmt.Errorf("waiting: %w", context.DeadlineExceeded), 3},
		"explicit":         {&ExitError{Code: 3, Err: errors.New("queued")}, 3},
		"job failed":       {&ExitError{Code: 1, Err: errors.New("failed")}, 1},
		"other":            {errors.New("connection refused"), 1},
	} {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("%s: ExitCode = %d, want %d", name, got, tc.want)
		}
	}
}

const podManifest = `apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - name: c
    image: busybox
`

const jobManifest = `apiVersion: kubeflow.org/v2beta1
kind: MPIJob
metadata:
  name: pi
spec:
  slotsPerWorker: 1
  mpiReplicaSpecs:
    Launcher:
      replicas: 1
      template:
        spec:
          containers:
          - name: mpi-launcher
            image: mpi-pi
            command: [mpirun, -n, "2", /home/mpiuser/pi]
    Worker:
      replicas: 2
      template:
        spec:
          containers:
          - name: mpi-worker
            image: mpi-pi
`

func TestBadInput(t *testing.T) {
	for name, tc := range map[string]struct {
		stdin string
		args  []string
		want  string
	}{
		"unknown flag":          {"", []string{"mpijob", "get", "--bogus"}, "unknown flag: --bogus"},
		"unknown root flag":     {"", []string{"--bogus"}, "unknown flag: --bogus"},
		"unknown command":       {"", []string{"frobnicate"}, `unknown command "frobnicate"`},
		"unknown subcommand":    {"", []string{"mpijob", "frob"}, `unknown command "frob"`},
		"malformed yaml":        {"apiVersion: kubeflow.org/v2beta1\nkind: MPIJob\nmetadata: [unclosed\n", []string{"mpijob", "create", "-f", "-"}, "parsing -:"},
		"not yaml at all":       {"{{{ not yaml", []string{"mpijob", "create", "-f", "-"}, "parsing -:"},
		"wrong kind":            {podManifest, []string{"mpijob", "create", "-f", "-"}, "wrong kind in -: expected kubeflow.org/v2beta1 MPIJob, got v1 Pod"},
		"unknown field":         {strings.Replace(jobManifest, "slotsPerWorker", "slotsPerWorkr", 1), []string{"mpijob", "create", "-f", "-"}, "unknown field"},
		"two documents":         {jobManifest + "---\n" + jobManifest, []string{"mpijob", "create", "-f", "-"}, "2 documents"},
		"empty file":            {"# nothing\n", []string{"mpijob", "create", "-f", "-"}, "is empty"},
		"missing file":          {"", []string{"mpijob", "create", "-f", "/nonexistent/job.yaml"}, "reading /nonexistent/job.yaml"},
		"missing NAME":          {"", []string{"mpijob", "create", "--image", "mpi-pi"}, "a NAME argument is required"},
		"nothing to create":     {"", []string{"mpijob", "create"}, "either -f FILE, or NAME and --image"},
		"no image":              {"", []string{"mpijob", "create", "pi"}, "--image: Required value"},
		"bad env":               {"", []string{"mpijob", "create", "pi", "--image", "i", "--env", "NOEQUALS"}, "--env must be KEY=VALUE"},
		"bad workers":           {"", []string{"mpijob", "create", "pi", "--image", "i", "--workers", "many"}, `invalid argument "many"`},
		"-f with flags":         {jobManifest, []string{"mpijob", "create", "-f", "-", "--image", "x"}, "--image cannot be combined with -f"},
		"bad dry-run":           {"", []string{"mpijob", "create", "pi", "--image", "i", "--dry-run", "yes"}, "--dry-run must be"},
		"logs without wait":     {"", []string{"mpijob", "create", "pi", "--image", "i", "--logs"}, "--logs needs --wait"},
		"bad output":            {"", []string{"mpijob", "get", "-o", "table"}, `unsupported output format "table"`},
		"describe without name": {"", []string{"mpijob", "describe"}, "a job NAME is required"},
		"two names":             {"", []string{"mpijob", "delete", "a", "b"}, "exactly one job NAME"},
		"wait for what":         {"", []string{"mpijob", "wait", "a", "--for=ready"}, "--for must be completion"},
		"bad timeout":           {"", []string{"mpijob", "wait", "a", "--timeout=soon"}, `invalid argument "soon"`},
		"logs exclusive":        {"", []string{"mpijob", "logs", "a", "--all", "--worker", "1"}, "exclusive"},
		"namespace mismatch":    {strings.Replace(jobManifest, "name: pi", "name: pi\n  namespace: other", 1), []string{"mpijob", "create", "-f", "-", "-n", "mine"}, "does not match -n mine"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runWith(t, nil, tc.stdin, tc.args...)
			if r.code != ExitUsage {
				t.Errorf("exit code %d, want 2; stderr %q", r.code, r.stderr)
			}
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ") {
				t.Errorf("want exactly one error: line, got %q", r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tc.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q", r.stdout)
			}
		})
	}
}

func TestCreateDryRunClient(t *testing.T) {
	r := runWith(t, nil, "", "mpijob", "create", "pi", "-n", "team-a", "--image", "mpi-pi", "--workers", "2", "--gpus-per-worker", "4",
		"--dry-run=client", "-o", "yaml", "--", "mpirun", "python", "-c", "print('a b')")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"apiVersion: kubeflow.org/v2beta1", "kind: MPIJob", "namespace: team-a", "nvidia.com/gpu: \"4\"", "- print('a b')", "slotsPerWorker: 4"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runWith(t, nil, jobManifest, "mpijob", "create", "-f", "-", "--dry-run=client", "-o", "name")
	if r.code != 0 || r.stdout != "mpijob.kubeflow.org/pi\n" {
		t.Errorf("dry run -o name: %d %q %q", r.code, r.stdout, r.stderr)
	}
}

func TestLifecycle(t *testing.T) {
	clients := newFakeClients()
	ctx := context.Background()
	r := runWith(t, clients, "", "mpijob", "create", "pi", "-n", "team-a", "--image", "mpi-pi", "--workers", "2", "--queue", "q1", "--command", "mpirun -n 2 /home/mpiuser/pi")
	if r.code != 0 || r.stdout != "mpijob.kubeflow.org/pi created\n" {
		t.Fatalf("create: %+v", r)
	}
	var job kubeflow.MPIJob
	if err := clients.Client.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "pi"}, &job); err != nil {
		t.Fatal(err)
	}
	if got := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Spec.Containers[0].Command; strings.Join(got, " ") != "mpirun -n 2 /home/mpiuser/pi" {
		t.Errorf("command %q", got)
	}
	r = runWith(t, clients, jobManifest, "mpijob", "create", "-f", "-", "-n", "team-a", "-o", "name")
	if r.code != 0 || r.stdout != "mpijob.kubeflow.org/pi\n" && !strings.Contains(r.stderr, "already exists") {
		t.Logf("second create: %+v", r)
	}

	r = runWith(t, clients, "", "mpijob", "get", "-n", "team-a")
	if r.code != 0 || !strings.Contains(r.stdout, "NAME   STATUS    WORKERS READY   QUEUE   AGE") || !strings.Contains(r.stdout, "pi     Pending   0/2             q1") {
		t.Errorf("get: %+v", r)
	}
	r = runWith(t, clients, "", "mpijob", "get", "-A", "-o", "wide")
	if r.code != 0 || !strings.Contains(r.stdout, "NAMESPACE") || !strings.Contains(r.stdout, "LAUNCHER") {
		t.Errorf("get -A -o wide: %+v", r)
	}
	r = runWith(t, clients, "", "mpijob", "get", "pi", "-n", "team-a", "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"kind": "MPIJob"`) {
		t.Errorf("get -o json: %+v", r)
	}
	r = runWith(t, clients, "", "mpijob", "get", "-n", "team-a", "-o", "yaml")
	if r.code != 0 || !strings.Contains(r.stdout, "kind: MPIJobList") {
		t.Errorf("get -o yaml: %+v", r)
	}
	r = runWith(t, clients, "", "mpijob", "get", "-n", "empty")
	if r.code != 0 || r.stdout != "" || r.stderr != "No resources found in empty namespace.\n" {
		t.Errorf("get in an empty namespace: %+v", r)
	}
	r = runWith(t, clients, "", "mpijob", "get", "missing", "-n", "team-a")
	if r.code != ExitNotFound || !strings.HasPrefix(r.stderr, "error: ") || !strings.Contains(r.stderr, "not found") {
		t.Errorf("get missing: %+v", r)
	}

	r = runWith(t, clients, "", "mpijob", "suspend", "pi", "-n", "team-a")
	if r.code != 0 || r.stdout != "mpijob.kubeflow.org/pi suspended\n" {
		t.Errorf("suspend: %+v", r)
	}
	if err := clients.Client.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "pi"}, &job); err != nil || !ptr.Deref(job.Spec.RunPolicy.Suspend, false) {
		t.Errorf("suspend did not set spec.runPolicy.suspend: %v", err)
	}
	r = runWith(t, clients, "", "mpijob", "get", "-n", "team-a", "--no-headers")
	if !strings.Contains(r.stdout, "Queued") {
		t.Errorf("a suspended job with a queue is Queued: %+v", r)
	}
	r = runWith(t, clients, "", "mpijob", "wait", "pi", "-n", "team-a", "--timeout=50ms")
	if r.code != ExitTimeout || !strings.Contains(r.stderr, "still queued in q1") {
		t.Errorf("wait on a queued job: %+v", r)
	}
	r = runWith(t, clients, "", "mpijob", "resume", "pi", "-n", "team-a")
	if r.code != 0 || r.stdout != "mpijob.kubeflow.org/pi resumed\n" {
		t.Errorf("resume: %+v", r)
	}
	if err := clients.Client.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "pi"}, &job); err != nil || ptr.Deref(job.Spec.RunPolicy.Suspend, true) {
		t.Errorf("resume did not clear spec.runPolicy.suspend: %v", err)
	}
	r = runWith(t, clients, "", "mpijob", "describe", "pi", "-n", "team-a")
	if r.code != 0 || !strings.Contains(r.stdout, "Name:         pi") || !strings.Contains(r.stdout, "Queue:              q1") {
		t.Errorf("describe: %+v", r)
	}
	r = runWith(t, clients, "", "mpijob", "describe", "nope", "-n", "team-a")
	if r.code != ExitNotFound {
		t.Errorf("describe missing: %+v", r)
	}

	r = runWith(t, clients, "", "mpijob", "delete", "pi", "-n", "team-a")
	if r.code != 0 || r.stdout != "mpijob.kubeflow.org/pi deleted\n" {
		t.Errorf("delete: %+v", r)
	}
	if err := clients.Client.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "pi"}, &job); !apierrors.IsNotFound(err) {
		t.Errorf("the job still exists: %v", err)
	}
	r = runWith(t, clients, "", "mpijob", "delete", "pi", "-n", "team-a")
	if r.code != ExitNotFound {
		t.Errorf("delete missing: %+v", r)
	}
}

func finishedJob(name string, t kubeflow.JobConditionType, reason, msg string) *kubeflow.MPIJob {
	return wrappers.MakeMPIJob(name, "default").Condition(t, corev1.ConditionTrue, reason, msg).Obj()
}

func TestWait(t *testing.T) {
	old := pollInterval
	pollInterval = 10 * time.Millisecond
	defer func() { pollInterval = old }()
	clients := newFakeClients(
		finishedJob("ok", kubeflow.JobSucceeded, "MPIJobSucceeded", "done"),
		finishedJob("oom", kubeflow.JobFailed, "OOMKilled", "worker-3 was OOMKilled at 16Gi: raise the worker memory limit or lower the batch size"),
		finishedJob("running", kubeflow.JobRunning, "MPIJobRunning", ""),
	)
	r := runWith(t, clients, "", "mpijob", "wait", "ok", "--for=completion", "--timeout=1s")
	if r.code != 0 || r.stdout != "mpijob.kubeflow.org/ok condition met: Succeeded\n" {
		t.Errorf("succeeded: %+v", r)
	}
	r = runWith(t, clients, "", "mpijob", "wait", "oom", "--for=completion", "--timeout=1s")
	if r.code != ExitJobFailed || r.stderr != "error: mpijob oom failed: OOMKilled: worker-3 was OOMKilled at 16Gi: raise the worker memory limit or lower the batch size\n" {
		t.Errorf("failed: %+v", r)
	}
	r = runWith(t, clients, "", "mpijob", "wait", "running", "--timeout=50ms")
	if r.code != ExitTimeout || !strings.Contains(r.stderr, "still running") {
		t.Errorf("timeout: %+v", r)
	}
	r = runWith(t, clients, "", "mpijob", "wait", "missing", "--timeout=1s")
	if r.code != ExitNotFound {
		t.Errorf("missing: %+v", r)
	}
	// A job that finishes while we wait.
	go func() {
		time.Sleep(50 * time.Millisecond)
		var job kubeflow.MPIJob
		_ = clients.Client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "running"}, &job)
		job.Status.Conditions = append(job.Status.Conditions, kubeflow.JobCondition{Type: kubeflow.JobSucceeded, Status: corev1.ConditionTrue})
		_ = clients.Client.Status().Update(context.Background(), &job)
	}()
	r = runWith(t, clients, "", "mpijob", "wait", "running", "--timeout=5s")
	if r.code != 0 {
		t.Errorf("finishing while waiting: %+v", r)
	}
}

func TestCreateWait(t *testing.T) {
	old := pollInterval
	pollInterval = 10 * time.Millisecond
	defer func() { pollInterval = old }()
	r := runWith(t, newFakeClients(), jobManifest, "mpijob", "create", "-f", "-", "--wait", "--logs", "--timeout=100ms")
	if r.code != ExitTimeout || r.stdout != "mpijob.kubeflow.org/pi created\n" || !strings.Contains(r.stderr, "error: timed out after 100ms waiting for mpijob pi to finish: it is still pending") {
		t.Errorf("create --wait: %+v", r)
	}
}

func TestGetWatch(t *testing.T) {
	job := finishedJob("w", kubeflow.JobCreated, "MPIJobCreated", "")
	clients := newFakeClients(job)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(200 * time.Millisecond)
		var j kubeflow.MPIJob
		_ = clients.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "w"}, &j)
		j.Status.Conditions = append(j.Status.Conditions, kubeflow.JobCondition{Type: kubeflow.JobRunning, Status: corev1.ConditionTrue})
		_ = clients.Client.Status().Update(ctx, &j)
		time.Sleep(200 * time.Millisecond)
		cancel()
	}()
	r := runCtx(ctx, t, clients, "", "mpijob", "get", "-w")
	if r.code != 0 || strings.Count(r.stdout, "NAME") != 1 || !strings.Contains(r.stdout, "w      Created") || !strings.Contains(r.stdout, "w      Running") {
		t.Errorf("get -w: %+v", r)
	}
}

func TestWaitToleratesTransientErrors(t *testing.T) {
	old := pollInterval
	pollInterval = 10 * time.Millisecond
	defer func() { pollInterval = old }()
	base := fake.NewClientBuilder().WithScheme(Scheme).Build()
	failing := interceptor.NewClient(base, interceptor.Funcs{
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return errors.New("rate: Wait(n=1) would exceed context deadline")
		},
	})
	r := runWith(t, &Clients{Client: failing, Kube: kubefake.NewClientset()}, "", "mpijob", "wait", "x", "--timeout=50ms")
	if r.code != ExitTimeout || !strings.Contains(r.stderr, "could not be read: rate: Wait") {
		t.Errorf("wait with a failing client: %+v", r)
	}
}

func TestLogs(t *testing.T) {
	labels := func(role, index string) map[string]string {
		return map[string]string{kubeflow.JobNameLabel: "pi", kubeflow.JobRoleLabel: role, kubeflow.ReplicaIndexLabel: index}
	}
	pods := []client.Object{
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pi-launcher", Namespace: "default", Labels: labels("launcher", "0")}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "mpi-launcher"}}}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pi-worker-0", Namespace: "default", Labels: labels("worker", "0")}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pi-worker-1", Namespace: "default", Labels: labels("worker", "1")}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
	}
	running := finishedJob("pi", kubeflow.JobRunning, "", "")
	running.Spec.MPIReplicaSpecs = map[kubeflow.MPIReplicaType]*kubeflow.ReplicaSpec{kubeflow.MPIReplicaTypeWorker: {Replicas: ptr.To[int32](2)}}
	clients := newFakeClients(append(pods, running)...)
	// client-go's fake log stream says "fake logs".
	r := runWith(t, clients, "", "mpijob", "logs", "pi")
	if r.code != 0 || r.stdout != "fake logs\n" {
		t.Errorf("launcher: %+v", r)
	}
	r = runWith(t, clients, "", "mpijob", "logs", "pi", "--all")
	if r.code != 0 || r.stdout != "[pi-launcher] fake logs\n[pi-worker-0] fake logs\n[pi-worker-1] fake logs\n" {
		t.Errorf("all: %+v", r)
	}
	r = runWith(t, clients, "", "mpijob", "logs", "pi", "--worker", "1", "--tail", "5", "--since", "1m")
	if r.code != 0 || r.stdout != "fake logs\n" {
		t.Errorf("worker 1: %+v", r)
	}
	r = runWith(t, clients, "", "mpijob", "logs", "pi", "--worker", "7")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "mpijob pi has 2 worker(s): --worker takes 0 to 1, not 7") {
		t.Errorf("a worker the job does not have: %+v", r)
	}
	r = runWith(t, clients, "", "mpijob", "logs", "nope")
	if r.code != ExitNotFound {
		t.Errorf("missing job: %+v", r)
	}
}

func TestLogOptions(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "mpi-launcher"}, {Name: "istio-proxy"}}}}
	opts := (&kubeLogSource{}).logOptions(pod, true)
	if opts.TailLines != nil || opts.SinceSeconds != nil || !opts.Follow || opts.Container != "mpi-launcher" {
		t.Errorf("defaults: %+v", opts)
	}
	opts = (&kubeLogSource{since: 60, tail: ptr.To[int64](5)}).logOptions(pod, false)
	if ptr.Deref(opts.TailLines, -1) != 5 || ptr.Deref(opts.SinceSeconds, 0) != 60 || opts.Follow {
		t.Errorf("--since/--tail: %+v", opts)
	}
}

func TestVersionAndHelp(t *testing.T) {
	r := runWith(t, nil, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "kubectl-odh ") {
		t.Errorf("version: %+v", r)
	}
	r = runWith(t, nil, "", "mpijob", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "kubectl odh mpijob [command]") {
		t.Errorf("help: %+v", r)
	}
	r = runWith(t, nil, "", "completion", "bash")
	if r.code != 0 || !strings.Contains(r.stdout, "bash completion") {
		t.Errorf("completion: code %d stderr %q", r.code, r.stderr)
	}
}

func TestWarningHandler(t *testing.T) {
	var buf bytes.Buffer
	w := &warningWriter{out: &buf, seen: map[string]bool{}}
	w.HandleWarningHeader(299, "", "spec.runPolicy.cleanPodPolicy: Running is recommended")
	w.HandleWarningHeader(299, "", "spec.runPolicy.cleanPodPolicy: Running is recommended")
	w.HandleWarningHeader(199, "", "ignored")
	if buf.String() != "Warning: spec.runPolicy.cleanPodPolicy: Running is recommended\n" {
		t.Errorf("warnings %q", buf.String())
	}
}

func TestReferenceIsUpToDate(t *testing.T) {
	var buf bytes.Buffer
	if err := GenReference(&buf); err != nil {
		t.Fatal(err)
	}
	const path = "../../../docs/reference/cli-reference.md"
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s is stale: run go run ./cli/cmd/gen-docs", path)
	}
}
