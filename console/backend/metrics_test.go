package backend

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// fakePrometheus records the queries it gets and answers each with
// answer(path, query).
type fakePrometheus struct {
	*httptest.Server
	mu      sync.Mutex
	queries []url.Values
	paths   []string
}

func newFakePrometheus(t *testing.T, answer func(path, query string) (int, string)) *fakePrometheus {
	t.Helper()
	p := &fakePrometheus{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.queries = append(p.queries, r.URL.Query())
		p.paths = append(p.paths, r.URL.Path)
		p.mu.Unlock()
		code, body := answer(r.URL.Path, r.URL.Query().Get("query"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *fakePrometheus) sent() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, q := range p.queries {
		out = append(out, q.Get("query"))
	}
	return out
}

// metricsFixture is a console whose caller "alice" may read what cl
// allows and is an admin when admin is true.
func metricsFixture(t *testing.T, opts Options, cl client.Client, admin bool) *fixture {
	t.Helper()
	kube := kubefake.NewClientset()
	kube.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		ra := sar.Spec.ResourceAttributes
		sar.Status.Allowed = admin && ra.Namespace == "" && ra.Verb == "list" && ra.Group == kubeflow.GroupName && ra.Resource == "mpijobs"
		return true, sar, nil
	})
	opts.Clients = func(token string) (*Clients, error) {
		if token != "alice" {
			t.Errorf("factory got token %q, want the caller's", token)
		}
		return &Clients{Client: cl, Kube: kube}, nil
	}
	f := &fixture{cl: cl, kube: kube}
	f.srv = httptest.NewServer(New(opts).Handler())
	t.Cleanup(f.srv.Close)
	return f
}

func fakeClient(objs ...runtime.Object) client.WithWatch {
	return fake.NewClientBuilder().WithScheme(Scheme).WithRESTMapper(restMapper()).WithRuntimeObjects(objs...).Build()
}

const matrix = `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1767322800,"87.5"],[1767322830,"NaN"],[1767322860,"90"]]}]}}`

func TestJobMetrics(t *testing.T) {
	job := mpiJob("team-a", "pi", 2, cond(kubeflow.JobSucceeded, "Succeeded", "done"))
	job.Status.StartTime = &metav1.Time{Time: created.Add(time.Minute)}
	job.Status.CompletionTime = &metav1.Time{Time: created.Add(time.Minute + 2*time.Hour)}
	prom := newFakePrometheus(t, func(path, query string) (int, string) {
		if path != "/prom/api/v1/query_range" {
			return http.StatusNotFound, `{"status":"error","errorType":"not_found","error":"no such path"}`
		}
		if strings.HasPrefix(query, gpuUtilizationRule) {
			return http.StatusOK, matrix
		}
		return http.StatusOK, `{"status":"success","data":{"resultType":"matrix","result":[]}}`
	})
	f := metricsFixture(t, Options{PrometheusURL: prom.URL + "/prom/", GrafanaURL: "https://grafana.example.com/"}, fakeClient(job), false)

	var got JobMetrics
	if code := f.do(t, http.MethodGet, "/api/v1/namespaces/team-a/mpijobs/pi/metrics", "", &got); code != http.StatusOK {
		t.Fatalf("status %d: %+v", code, got)
	}
	want := []string{
		`mpijob:gpu_utilization:avg{namespace="team-a",label_training_kubeflow_org_job_name="pi"}`,
		`mpijob:training_samples_per_second:sum{namespace="team-a",mpijob="pi"}`,
		`mpijob:scaling_efficiency:ratio{namespace="team-a",mpijob="pi"}`,
	}
	if diff := cmp.Diff(want, prom.sent(), sortStrings); diff != "" {
		t.Errorf("PromQL sent (-want +got):\n%s", diff)
	}
	// The job's lifetime: from its start to its completion, 2 h in about
	// 120 steps of 60 s.
	end := job.Status.CompletionTime.Unix()
	for _, q := range prom.queries {
		if q.Get("start") != itoa(end-7200) || q.Get("end") != itoa(end) || q.Get("step") != "60" {
			t.Errorf("range %s..%s step %s, want the job's 2 hours in 60 s steps", q.Get("start"), q.Get("end"), q.Get("step"))
		}
	}
	wantSeries := &MetricsSeries{
		GPUUtilization:    []Point{{1767322800, 87.5}, {1767322860, 90}},
		SamplesPerSecond:  []Point{},
		ScalingEfficiency: []Point{},
	}
	if diff := cmp.Diff(wantSeries, got.Series); diff != "" || !got.Prometheus || got.Step != 60 {
		t.Errorf("series (-want +got):\n%s\n%+v", diff, got)
	}
	if !strings.HasPrefix(got.Grafana, "https://grafana.example.com/d/mpijob-gpu?") || !strings.Contains(got.Grafana, "var-mpijob=pi") || !strings.Contains(got.Grafana, "var-namespace=team-a") {
		t.Errorf("grafana link = %q", got.Grafana)
	}

	// An explicit range ends at the job's end too.
	prom.queries = nil
	if code := f.do(t, http.MethodGet, "/api/v1/namespaces/team-a/mpijobs/pi/metrics?range=6h", "", &got); code != http.StatusOK {
		t.Fatalf("range=6h: %d", code)
	}
	if q := prom.queries[0]; q.Get("start") != itoa(end-6*3600) || q.Get("step") != "180" {
		t.Errorf("range=6h: start %s step %s", q.Get("start"), q.Get("step"))
	}
	for _, bad := range []string{"x", "-1h", "0s", "9000h"} {
		var e Error
		if code := f.do(t, http.MethodGet, "/api/v1/namespaces/team-a/mpijobs/pi/metrics?range="+bad, "", &e); code != http.StatusBadRequest || !strings.Contains(e.Error, "range") {
			t.Errorf("range=%s: %d %+v, want 400", bad, code, e)
		}
	}
}

// A name that tries to break out of its label matcher stays one string
// literal.
func TestJobMetricsEscapesLabelValues(t *testing.T) {
	hostile := "pi\"} or vector(1) or {a=\"\\\n"
	job := mpiJob("team-a", hostile, 1)
	prom := newFakePrometheus(t, func(string, string) (int, string) {
		return http.StatusOK, `{"status":"success","data":{"resultType":"matrix","result":[]}}`
	})
	f := metricsFixture(t, Options{PrometheusURL: prom.URL}, fakeClient(job), false)
	if code := f.do(t, http.MethodGet, "/api/v1/namespaces/team-a/mpijobs/"+url.PathEscape(hostile)+"/metrics", "", nil); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	quoted := `"pi\"} or vector(1) or {a=\"\\\n"`
	want := []string{
		`mpijob:gpu_utilization:avg{namespace="team-a",label_training_kubeflow_org_job_name=` + quoted + `}`,
		`mpijob:training_samples_per_second:sum{namespace="team-a",mpijob=` + quoted + `}`,
		`mpijob:scaling_efficiency:ratio{namespace="team-a",mpijob=` + quoted + `}`,
	}
	if diff := cmp.Diff(want, prom.sent(), sortStrings); diff != "" {
		t.Errorf("PromQL sent (-want +got):\n%s", diff)
	}
	for in, want := range map[string]string{`a`: `"a"`, `a"b`: `"a\"b"`, `a\b`: `"a\\b"`, "a\nb": `"a\nb"`, "}": `"}"`} {
		if got := promQuote(in); got != want {
			t.Errorf("promQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// Who may not read the job gets the apiserver's answer, and Prometheus is
// never asked.
func TestJobMetricsRBAC(t *testing.T) {
	prom := newFakePrometheus(t, func(string, string) (int, string) { return http.StatusOK, matrix })
	denying := fake.NewClientBuilder().WithScheme(Scheme).WithRESTMapper(restMapper()).WithRuntimeObjects(mpiJob("team-b", "secret", 1)).
		WithInterceptorFuncs(interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if key.Namespace == "team-b" {
				return apierrors.NewForbidden(schema.GroupResource{Group: kubeflow.GroupName, Resource: "mpijobs"}, key.Name, errForbidden)
			}
			return c.Get(ctx, key, obj, opts...)
		}}).Build()
	f := metricsFixture(t, Options{PrometheusURL: prom.URL}, denying, false)
	var e Error
	if code := f.do(t, http.MethodGet, "/api/v1/namespaces/team-b/mpijobs/secret/metrics", "", &e); code != http.StatusForbidden || e.Reason != "Forbidden" || !strings.Contains(e.Error, `User "alice" cannot get resource "mpijobs"`) {
		t.Errorf("another team's job: %d %+v, want the apiserver's 403", code, e)
	}
	if code := f.do(t, http.MethodGet, "/api/v1/namespaces/team-a/mpijobs/nope/metrics", "", &e); code != http.StatusNotFound || e.Reason != "NotFound" {
		t.Errorf("a missing job: %d %+v, want 404", code, e)
	}
	if sent := prom.sent(); len(sent) != 0 {
		t.Errorf("Prometheus was asked %q for jobs the caller may not read", sent)
	}
}

type forbiddenErr struct{}

func (forbiddenErr) Error() string {
	return `User "alice" cannot get resource "mpijobs" in namespace "team-b"`
}

var errForbidden = forbiddenErr{}

func TestJobMetricsWithoutPrometheus(t *testing.T) {
	f := metricsFixture(t, Options{}, fakeClient(mpiJob("team-a", "pi", 1)), false)
	var got map[string]any
	if code := f.do(t, http.MethodGet, "/api/v1/namespaces/team-a/mpijobs/pi/metrics", "", &got); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if diff := cmp.Diff(map[string]any{"prometheus": false, "grafana": ""}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	f = metricsFixture(t, Options{GrafanaURL: "https://grafana.example.com"}, fakeClient(mpiJob("team-a", "pi", 1)), false)
	var m JobMetrics
	if code := f.do(t, http.MethodGet, "/api/v1/namespaces/team-a/mpijobs/pi/metrics", "", &m); code != http.StatusOK || m.Prometheus || m.Series != nil ||
		!strings.HasPrefix(m.Grafana, "https://grafana.example.com/d/mpijob-gpu?") {
		t.Errorf("with Grafana only: %d %+v", code, m)
	}
}

func TestJobMetricsPrometheusFailing(t *testing.T) {
	job := mpiJob("team-a", "pi", 1)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	erroring := newFakePrometheus(t, func(string, string) (int, string) {
		return http.StatusUnprocessableEntity, `{"status":"error","errorType":"execution","error":"query processing would load too many samples"}`
	})
	notJSON := newFakePrometheus(t, func(string, string) (int, string) { return http.StatusBadGateway, `<html>bad gateway</html>` })
	for name, tc := range map[string]struct{ url, want string }{
		"down":     {downURL, "Prometheus at " + downURL + " is unreachable"},
		"erroring": {erroring.URL, "too many samples"},
		"not JSON": {notJSON.URL, "answered 502 Bad Gateway"},
	} {
		t.Run(name, func(t *testing.T) {
			f := metricsFixture(t, Options{PrometheusURL: tc.url}, fakeClient(job), false)
			var e Error
			if code := f.do(t, http.MethodGet, "/api/v1/namespaces/team-a/mpijobs/pi/metrics", "", &e); code != http.StatusBadGateway || e.Reason != "BadGateway" ||
				!strings.Contains(e.Error, "Prometheus") || !strings.Contains(e.Error, tc.want) {
				t.Errorf("%d %+v, want 502 naming Prometheus and %q", code, e, tc.want)
			}
		})
	}
}

func TestJobMetricsPrometheusTimeout(t *testing.T) {
	old := prometheusTimeout
	prometheusTimeout = 50 * time.Millisecond
	defer func() { prometheusTimeout = old }()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	f := metricsFixture(t, Options{PrometheusURL: slow.URL}, fakeClient(mpiJob("team-a", "pi", 1)), false)
	var e Error
	code := f.do(t, http.MethodGet, "/api/v1/namespaces/team-a/mpijobs/pi/metrics", "", &e)
	if code != http.StatusBadGateway || !strings.Contains(e.Error, "did not answer within 50ms") {
		t.Errorf("%d %+v, want 502 saying Prometheus did not answer within the timeout", code, e)
	}
}

func TestAdminGPUUtilization(t *testing.T) {
	prom := newFakePrometheus(t, func(path, query string) (int, string) {
		if path != "/api/v1/query" {
			return http.StatusNotFound, `{"status":"error","errorType":"not_found","error":"no such path"}`
		}
		switch query {
		case "avg by (namespace) (mpijob:gpu_utilization:avg)":
			return http.StatusOK, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"team-b"},"value":[1767322800,"12.5"]},{"metric":{"namespace":"team-a"},"value":[1767322800,"80"]}]}}`
		case "namespace:mpijob_gpus_requested:sum":
			return http.StatusOK, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"team-a"},"value":[1767322800,"4"]},{"metric":{"namespace":"team-c"},"value":[1767322800,"2"]}]}}`
		}
		return http.StatusBadRequest, `{"status":"error","errorType":"bad_data","error":"unexpected query"}`
	})
	f := metricsFixture(t, Options{PrometheusURL: prom.URL}, fakeClient(), true)
	var got ClusterGPU
	if code := f.do(t, http.MethodGet, "/api/v1/admin/gpu-utilization", "", &got); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	n := func(f float64) *float64 { return &f }
	want := ClusterGPU{Prometheus: true, Namespaces: []NamespaceGPU{
		{Namespace: "team-a", GPUUtilization: n(80), GPUsAllocated: n(4)},
		{Namespace: "team-b", GPUUtilization: n(12.5)},
		{Namespace: "team-c", GPUsAllocated: n(2)},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// Not an admin: 403, and Prometheus is not asked.
	asked := len(prom.sent())
	f = metricsFixture(t, Options{PrometheusURL: prom.URL}, fakeClient(), false)
	var e Error
	if code := f.do(t, http.MethodGet, "/api/v1/admin/gpu-utilization", "", &e); code != http.StatusForbidden || e.Reason != "Forbidden" || !strings.Contains(e.Error, "list mpijobs") {
		t.Errorf("non-admin: %d %+v, want 403", code, e)
	}
	if len(prom.sent()) != asked {
		t.Errorf("Prometheus was asked for a non-admin")
	}

	// No Prometheus: said so.
	f = metricsFixture(t, Options{}, fakeClient(), true)
	if code := f.do(t, http.MethodGet, "/api/v1/admin/gpu-utilization", "", &got); code != http.StatusOK || got.Prometheus || got.Namespaces == nil || len(got.Namespaces) != 0 {
		t.Errorf("without Prometheus: %d %+v", code, got)
	}

	// Prometheus down: 502.
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	f = metricsFixture(t, Options{PrometheusURL: down.URL}, fakeClient(), true)
	if code := f.do(t, http.MethodGet, "/api/v1/admin/gpu-utilization", "", &e); code != http.StatusBadGateway || !strings.Contains(e.Error, "Prometheus") {
		t.Errorf("Prometheus down: %d %+v", code, e)
	}
}

var sortStrings = cmpopts.SortSlices(func(a, b string) bool { return a < b })

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
