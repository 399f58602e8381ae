package backend

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	fakediscovery "k8s.io/client-go/discovery/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
)

var created = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))

// mpiJob is a job with a launcher and n one-GPU workers.
func mpiJob(ns, name string, workers int32, conds ...kubeflow.JobCondition) *kubeflow.MPIJob {
	return wrappers.MakeMPIJob(name, ns).UID(ns+"-"+name).Created(created).
		Workers(workers).WorkerResources("", "", 1).Conditions(conds...).Obj()
}

func cond(t kubeflow.JobConditionType, reason, msg string) kubeflow.JobCondition {
	return kubeflow.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: msg, LastTransitionTime: created}
}

func pod(job, role string, index int, phase corev1.PodPhase) *corev1.Pod {
	name := job + "-launcher-abcde"
	labels := map[string]string{kubeflow.JobNameLabel: job, kubeflow.JobRoleLabel: role}
	if role == kubeflow.RoleWorker {
		name = job + "-worker-" + string(rune('0'+index))
		labels[kubeflow.ReplicaIndexLabel] = string(rune('0' + index))
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "mpi"}}, NodeName: "gpu-0"},
		Status:     corev1.PodStatus{Phase: phase},
	}
}

// fixture is a server whose only caller has the token "alice".
type fixture struct {
	srv  *httptest.Server
	cl   client.Client
	kube *kubefake.Clientset
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	cl := fake.NewClientBuilder().WithScheme(Scheme).WithRESTMapper(restMapper()).
		WithRuntimeObjects(objs...).WithStatusSubresource(&kubeflow.MPIJob{}).Build()
	kube := kubefake.NewClientset()
	kube.PrependReactor("create", "selfsubjectreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, &authenticationv1.SelfSubjectReview{Status: authenticationv1.SelfSubjectReviewStatus{
			UserInfo: authenticationv1.UserInfo{Username: "alice", Groups: []string{"system:authenticated"}}}}, nil
	})
	kube.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		sar.Status.Allowed = sar.Spec.ResourceAttributes.Namespace == "team-a"
		return true, sar, nil
	})
	f := &fixture{cl: cl, kube: kube}
	s := New(Options{Clients: func(token string) (*Clients, error) {
		if token != "alice" {
			t.Errorf("factory got token %q, want the caller's", token)
		}
		return &Clients{Client: cl, Kube: kube}, nil
	}})
	f.srv = httptest.NewServer(s.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) do(t *testing.T, method, path, body string, into any) int {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer alice")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if into != nil {
		if err := json.Unmarshal(data, into); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

func TestNoTokenIs401(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/api/v1/whoami", "/api/v1/mpijobs", "/api/v1/namespaces/team-a/mpijobs/pi/logs", "/api/v1/quota"} {
		resp, err := http.Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var e Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || e.Reason != "Unauthorized" || !strings.Contains(e.Error, "bearer token") {
			t.Errorf("GET %s without a token: %d %+v, want 401 Unauthorized", path, resp.StatusCode, e)
		}
	}
}

func TestBearerToken(t *testing.T) {
	for header, want := range map[string]string{
		"Bearer abc": "abc", "bearer  abc ": "abc", "Basic abc": "", "": "", "Bearer": "",
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", header)
		if got := bearerToken(r); got != want {
			t.Errorf("bearerToken(%q) = %q, want %q", header, got, want)
		}
	}
	// oauth-proxy --pass-access-token forwards the OpenShift token this way.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-Forwarded-Access-Token", "sha256~xyz")
	if got := bearerToken(r); got != "sha256~xyz" {
		t.Errorf("bearerToken(X-Forwarded-Access-Token) = %q", got)
	}
	r.Header.Set("Authorization", "Bearer mine")
	if got := bearerToken(r); got != "mine" {
		t.Errorf("Authorization should win over X-Forwarded-Access-Token, got %q", got)
	}
}

func TestListMPIJobs(t *testing.T) {
	older := mpiJob("team-a", "old", 2, cond(kubeflow.JobSucceeded, "Succeeded", "done"))
	older.CreationTimestamp = metav1.NewTime(created.Add(-time.Hour))
	failed := mpiJob("team-a", "bad", 4, cond(kubeflow.JobFailed, "OOMKilled", "worker-3 was OOMKilled at 1Gi: raise the worker memory limit or lower the batch size"))
	f := newFixture(t, older, failed, mpiJob("team-b", "other", 1))
	var got JobList
	if code := f.do(t, http.MethodGet, "/api/v1/namespaces/team-a/mpijobs", "", &got); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	want := []JobSummary{
		{Type: "MPIJob", Namespace: "team-a", Name: "bad", Status: "Failed", Workers: 4, GPUs: 4, Created: created.Time,
			Message: "worker-3 was OOMKilled at 1Gi: raise the worker memory limit or lower the batch size"},
		{Type: "MPIJob", Namespace: "team-a", Name: "old", Status: "Succeeded", Workers: 2, GPUs: 2, Created: created.Add(-time.Hour), Message: "done"},
	}
	if diff := cmp.Diff(want, got.Items); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	if code := f.do(t, http.MethodGet, "/api/v1/mpijobs", "", &got); code != http.StatusOK || len(got.Items) != 3 {
		t.Errorf("all namespaces: %d, %d items, want 3", code, len(got.Items))
	}
	var e Error
	if code := f.do(t, http.MethodGet, "/api/v1/mpijobs?limit=x", "", &e); code != http.StatusBadRequest || e.Reason != "BadRequest" {
		t.Errorf("bad limit: %d %+v", code, e)
	}
}

func TestDetailsWorkersEvents(t *testing.T) {
	job := mpiJob("team-a", "pi", 2, cond(kubeflow.JobCreated, "Created", ""))
	unschedulable := pod("pi", kubeflow.RoleWorker, 1, corev1.PodPending)
	unschedulable.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."}}
	ev := func(name, obj, msg string) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: obj},
			Type: "Warning", Reason: "FailedScheduling", Message: msg, LastTimestamp: created}
	}
	f := newFixture(t, job, pod("pi", kubeflow.RoleLauncher, 0, corev1.PodRunning), unschedulable, pod("pi", kubeflow.RoleWorker, 0, corev1.PodRunning),
		ev("e1", "pi-worker-1", "no GPUs"), ev("e2", "pie-worker-0", "another job's"))

	var d JobDetails
	if code := f.do(t, http.MethodGet, "/api/v1/namespaces/team-a/mpijobs/pi", "", &d); code != http.StatusOK {
		t.Fatalf("details: %d", code)
	}
	if d.Diagnosis == nil || d.Diagnosis.Reason != "Unschedulable" || !strings.Contains(d.Diagnosis.Message, "1 pod(s) cannot be scheduled (worker-1): 0/4 nodes") {
		t.Errorf("diagnosis = %+v, want the unschedulable worker", d.Diagnosis)
	}
	if !strings.Contains(d.YAML, "kind: MPIJob") || !strings.Contains(d.Describe, "Name:         pi") {
		t.Errorf("yaml/describe missing:\n%s\n%s", d.YAML, d.Describe)
	}
	var names []string
	for _, p := range d.Pods {
		names = append(names, p.Name)
	}
	if diff := cmp.Diff([]string{"pi-launcher-abcde", "pi-worker-0", "pi-worker-1"}, names); diff != "" {
		t.Errorf("pods order (-want +got):\n%s", diff)
	}

	var evs struct{ Items []EventView }
	if code := f.do(t, http.MethodGet, "/api/v1/namespaces/team-a/mpijobs/pi/events", "", &evs); code != http.StatusOK || len(evs.Items) != 1 || evs.Items[0].Object != "Pod/pi-worker-1" {
		t.Errorf("events: %d %+v, want only pi-worker-1's", code, evs.Items)
	}
	var e Error
	if code := f.do(t, http.MethodGet, "/api/v1/namespaces/team-a/mpijobs/nope/workers", "", &e); code != http.StatusNotFound || e.Reason != "NotFound" || !strings.Contains(e.Error, "nope") {
		t.Errorf("workers of a missing job: %d %+v, want 404", code, e)
	}
}

func TestCreateFromForm(t *testing.T) {
	f := newFixture(t)
	form := `{"form":{"name":"pi","image":"mpioperator/mpi-pi:openmpi","command":"mpirun -n 4 python 'train me.py'","workers":4,"gpusPerWorker":1,
		"cpu":"2","memory":"8Gi","queue":"gpus","env":[{"name":"NCCL_DEBUG","value":"INFO"}],"nodeSelector":{"gpu":"a100"},
		"volumes":[{"name":"data","mountPath":"/data","claimName":"datasets","readOnly":true}],"backoffLimit":2}}`

	var dry CreateResponse
	if code := f.do(t, http.MethodPost, "/api/v1/namespaces/team-a/mpijobs?dryRun=true", form, &dry); code != http.StatusOK {
		t.Fatalf("dry run: %d", code)
	}
	for _, want := range []string{"name: pi", "namespace: team-a", "kueue.x-k8s.io/queue-name: gpus", "- train me.py", "claimName: datasets", "nvidia.com/gpu: \"1\"", "backoffLimit: 2", "gpu: a100"} {
		if !strings.Contains(dry.YAML, want) {
			t.Errorf("preview YAML lacks %q:\n%s", want, dry.YAML)
		}
	}
	if strings.Contains(dry.YAML, "uid:") || strings.Contains(dry.YAML, "creationTimestamp: \"") {
		t.Errorf("preview YAML has server-made fields:\n%s", dry.YAML)
	}
	if err := f.cl.Get(context.Background(), client.ObjectKey{Namespace: "team-a", Name: "pi"}, &kubeflow.MPIJob{}); err == nil {
		t.Error("a dry run created the job")
	}

	var real CreateResponse
	if code := f.do(t, http.MethodPost, "/api/v1/namespaces/team-a/mpijobs", form, &real); code != http.StatusCreated || real.DryRun {
		t.Fatalf("create: %d %+v", code, real)
	}
	got := &kubeflow.MPIJob{}
	if err := f.cl.Get(context.Background(), client.ObjectKey{Namespace: "team-a", Name: "pi"}, got); err != nil {
		t.Fatal(err)
	}
	if w := got.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker]; *w.Replicas != 4 || w.Template.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "datasets" {
		t.Errorf("created worker spec = %+v", w)
	}
	var e errorWithFields
	if code := f.do(t, http.MethodPost, "/api/v1/namespaces/team-a/mpijobs", form, &e); code != http.StatusConflict || e.Reason != "AlreadyExists" {
		t.Errorf("second create: %d %+v, want 409 AlreadyExists", code, e)
	}
}

func TestCreateValidation(t *testing.T) {
	f := newFixture(t)
	var e errorWithFields
	code := f.do(t, http.MethodPost, "/api/v1/namespaces/team-a/mpijobs?dryRun=true",
		`{"form":{"name":"Bad_Name","workers":0,"memory":"lots","env":[{"name":"1X"}],"volumes":[{"name":"v","mountPath":"data"}]}}`, &e)
	if code != http.StatusUnprocessableEntity || e.Reason != "Invalid" {
		t.Fatalf("invalid form: %d %+v, want 422 Invalid", code, e)
	}
	fields := map[string]bool{}
	for _, fe := range e.Fields {
		fields[fe.Field] = true
	}
	for _, want := range []string{"name", "image", "workers", "memory", "env[0].name", "volumes[0].mountPath"} {
		if !fields[want] {
			t.Errorf("no error for field %s in %+v", want, e.Fields)
		}
	}
	for body, wantCode := range map[string]int{
		`not json`:                http.StatusBadRequest,
		`{}`:                      http.StatusBadRequest,
		`{"form":{},"mpijob":{}}`: http.StatusBadRequest,
		`{"mpijob":{"metadata":{"name":"x","namespace":"team-b"}}}`: http.StatusBadRequest,
		`{"form":{"nme":"typo"}}`:                                   http.StatusBadRequest,
	} {
		if code := f.do(t, http.MethodPost, "/api/v1/namespaces/team-a/mpijobs", body, &e); code != wantCode {
			t.Errorf("body %s: %d, want %d", body, code, wantCode)
		}
	}
}

func TestSplitCommand(t *testing.T) {
	for in, want := range map[string][]string{
		"":                             nil,
		"mpirun -n 2  python train.py": {"mpirun", "-n", "2", "python", "train.py"},
		`sh -c "echo a b" 'x y' ""`:    {"sh", "-c", "echo a b", "x y", ""},
	} {
		got, err := splitCommand(in)
		if err != nil || !cmp.Equal(want, got) {
			t.Errorf("splitCommand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := splitCommand(`echo "oops`); err == nil {
		t.Error("an unterminated quote should be an error")
	}
}

func TestSuspendResumeDelete(t *testing.T) {
	f := newFixture(t, mpiJob("team-a", "pi", 2))
	var out struct{ Summary JobSummary }
	if code := f.do(t, http.MethodPost, "/api/v1/namespaces/team-a/mpijobs/pi/suspend", "", &out); code != http.StatusOK || out.Summary.Status != "Suspended" {
		t.Errorf("suspend: %d %+v", code, out.Summary)
	}
	if code := f.do(t, http.MethodPost, "/api/v1/namespaces/team-a/mpijobs/pi/resume", "", &out); code != http.StatusOK || out.Summary.Status == "Suspended" {
		t.Errorf("resume: %d %+v", code, out.Summary)
	}
	if code := f.do(t, http.MethodDelete, "/api/v1/namespaces/team-a/mpijobs/pi", "", nil); code != http.StatusOK {
		t.Errorf("delete: %d", code)
	}
	var e Error
	if code := f.do(t, http.MethodDelete, "/api/v1/namespaces/team-a/mpijobs/pi", "", &e); code != http.StatusNotFound {
		t.Errorf("second delete: %d %+v, want 404", code, e)
	}
	if code := f.do(t, http.MethodPost, "/api/v1/namespaces/team-a/mpijobs/gone/suspend", "", &e); code != http.StatusNotFound {
		t.Errorf("suspend of a missing job: %d, want 404", code)
	}
}

func TestCrossOriginWritesRefused(t *testing.T) {
	f := newFixture(t, mpiJob("team-a", "pi", 2))
	req, _ := http.NewRequest(http.MethodDelete, f.srv.URL+"/api/v1/namespaces/team-a/mpijobs/pi", nil)
	req.Header.Set("Authorization", "Bearer alice")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site DELETE: %d, want 403", resp.StatusCode)
	}
	if err := f.cl.Get(context.Background(), client.ObjectKey{Namespace: "team-a", Name: "pi"}, &kubeflow.MPIJob{}); err != nil {
		t.Errorf("the job is gone after a refused request: %v", err)
	}
}

func TestLogs(t *testing.T) {
	f := newFixture(t, mpiJob("team-a", "pi", 2, cond(kubeflow.JobSucceeded, "Succeeded", "")),
		pod("pi", kubeflow.RoleLauncher, 0, corev1.PodSucceeded), pod("pi", kubeflow.RoleWorker, 0, corev1.PodRunning), pod("pi", kubeflow.RoleWorker, 1, corev1.PodPending))
	get := func(query string) (int, string, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/api/v1/namespaces/team-a/mpijobs/pi/logs"+query, nil)
		req.Header.Set("Authorization", "Bearer alice")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data), resp.Header
	}
	// The fake clientset's log of every pod is "fake logs".
	if code, body, _ := get(""); code != http.StatusOK || body != "fake logs\n" {
		t.Errorf("launcher log: %d %q", code, body)
	}
	if code, body, h := get("?role=worker&index=0&download=true"); code != http.StatusOK || body != "fake logs\n" || !strings.Contains(h.Get("Content-Disposition"), "pi-worker-0.log") {
		t.Errorf("worker 0 download: %d %q %v", code, body, h)
	}
	if code, body, _ := get("?role=all"); code != http.StatusOK || !strings.Contains(body, "[pi-worker-0] fake logs\n") || !strings.Contains(body, "[pi-launcher-abcde] fake logs\n") {
		t.Errorf("all logs: %d %q", code, body)
	}
	if code, body, _ := get("?role=worker&index=1"); code != http.StatusInternalServerError || !strings.Contains(body, "has not started yet") {
		t.Errorf("a pending worker's log: %d %q", code, body)
	}
	for _, q := range []string{"?role=worker", "?role=chief", "?tail=-1"} {
		if code, _, _ := get(q); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, code)
		}
	}
	code, body, h := get("?role=launcher&follow=true")
	if code != http.StatusOK || h.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("follow: %d %v", code, h)
	}
	var events []string
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "data: ") || strings.HasPrefix(l, "event: ") {
			events = append(events, l)
		}
	}
	if diff := cmp.Diff([]string{"data: fake logs", "event: end", "data: {}"}, events); diff != "" {
		t.Errorf("event stream (-want +got):\n%s\nbody:\n%s", diff, body)
	}
}

func TestTrainingJobs(t *testing.T) {
	pt := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
		"metadata": map[string]any{"namespace": "team-a", "name": "bert", "creationTimestamp": "2026-01-02T03:04:05Z"},
		"spec": map[string]any{"pytorchReplicaSpecs": map[string]any{
			"Master": map[string]any{"replicas": int64(1)},
			"Worker": map[string]any{"replicas": int64(3), "template": map[string]any{"spec": map[string]any{"containers": []any{
				map[string]any{"name": "pytorch", "resources": map[string]any{"limits": map[string]any{"nvidia.com/gpu": "2"}}}}}}},
		}},
		"status": map[string]any{"conditions": []any{map[string]any{"type": "Running", "status": "True", "message": "running"}}},
	}}
	f := newFixture(t, mpiJob("team-a", "pi", 2), pt)
	f.kube.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{
		{GroupVersion: "kubeflow.org/v1", APIResources: []metav1.APIResource{{Name: "pytorchjobs", Kind: "PyTorchJob", Namespaced: true}}},
	}
	var got TrainingJobList
	if code := f.do(t, http.MethodGet, "/api/v1/namespaces/team-a/trainingjobs", "", &got); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if diff := cmp.Diff([]string{"MPIJob", "PyTorchJob"}, got.Types); diff != "" {
		t.Errorf("types (-want +got):\n%s", diff)
	}
	kinds := map[string]JobSummary{}
	for _, s := range got.Items {
		kinds[s.Type] = s
	}
	if p := kinds["PyTorchJob"]; p.Status != "Running" || p.Workers != 3 || p.GPUs != 6 {
		t.Errorf("PyTorchJob summary = %+v, want Running with 3 workers and 6 GPUs", p)
	}
	if code := f.do(t, http.MethodGet, "/api/v1/trainingjobs?type=PyTorchJob", "", &got); code != http.StatusOK || len(got.Items) != 1 || got.Items[0].Type != "PyTorchJob" {
		t.Errorf("type filter: %d %+v", code, got.Items)
	}
}

func TestQuota(t *testing.T) {
	rq := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "gpus"},
		Spec:   corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"requests.nvidia.com/gpu": resource.MustParse("8")}},
		Status: corev1.ResourceQuotaStatus{Used: corev1.ResourceList{"requests.nvidia.com/gpu": resource.MustParse("2")}}}
	lq := &kueue.LocalQueue{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "gpus"}, Spec: kueue.LocalQueueSpec{ClusterQueue: "team-a-cq"}}
	cq := &kueue.ClusterQueue{ObjectMeta: metav1.ObjectMeta{Name: "team-a-cq"}, Spec: kueue.ClusterQueueSpec{ResourceGroups: []kueue.ResourceGroup{{
		CoveredResources: []corev1.ResourceName{"nvidia.com/gpu"},
		Flavors:          []kueue.FlavorQuotas{{Name: "gpu", Resources: []kueue.ResourceQuota{{Name: "nvidia.com/gpu", NominalQuota: resource.MustParse("16")}}}},
	}}}, Status: kueue.ClusterQueueStatus{PendingWorkloads: 3, FlavorsReservation: []kueue.FlavorUsage{{Name: "gpu", Resources: []kueue.ResourceUsage{{Name: "nvidia.com/gpu", Total: resource.MustParse("12")}}}}}}
	f := newFixture(t, rq, lq, cq)
	var got QuotaView
	if code := f.do(t, http.MethodGet, "/api/v1/namespaces/team-a/quota", "", &got); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	pct := func(f float64) *float64 { return &f }
	want := QuotaView{Namespace: "team-a", Kueue: true,
		ResourceQuotas: []ResourceQuotaView{{Name: "gpus", Namespace: "team-a", Resources: []Usage{{Resource: "requests.nvidia.com/gpu", Limit: "8", Used: "2", Percent: pct(25)}}}},
		LocalQueues: []LocalQueueView{{Name: "gpus", Namespace: "team-a", ClusterQueue: "team-a-cq", Usage: []Usage{},
			ClusterQueueStatus: &ClusterQueueView{Name: "team-a-cq", Pending: 3, Resources: []Usage{{Resource: "nvidia.com/gpu", Flavor: "gpu", Limit: "16", Used: "12", Percent: pct(75)}}}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("quota (-want +got):\n%s", diff)
	}
	var all ClusterQuota
	if code := f.do(t, http.MethodGet, "/api/v1/quota", "", &all); code != http.StatusOK || len(all.Namespaces) != 1 || len(all.ClusterQueues) != 1 || len(all.Namespaces[0].LocalQueues) != 1 {
		t.Errorf("cluster quota: %d %+v", code, all)
	}
}

func TestWhoami(t *testing.T) {
	f := newFixture(t)
	var id Identity
	if code := f.do(t, http.MethodGet, "/api/v1/whoami", "", &id); code != http.StatusOK || id.Username != "alice" || id.Admin {
		t.Errorf("whoami: %d %+v, want alice, not admin", code, id)
	}
}

func TestUnknownAPIIs404JSON(t *testing.T) {
	f := newFixture(t)
	var e Error
	if code := f.do(t, http.MethodGet, "/api/v1/nothing", "", &e); code != http.StatusNotFound || e.Reason != "NotFound" {
		t.Errorf("%d %+v", code, e)
	}
}
