package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// The recording rules the Metrics tab and the admin view read
// (rules/rules.go; docs/observability.md).
const (
	gpuUtilizationRule   = "mpijob:gpu_utilization:avg"             // percent, by namespace and label_training_kubeflow_org_job_name
	samplesPerSecondRule = "mpijob:training_samples_per_second:sum" // by namespace and mpijob
	scalingRule          = "mpijob:scaling_efficiency:ratio"        // by namespace and mpijob
	gpusRequestedRule    = "namespace:mpijob_gpus_requested:sum"    // by namespace
	// grafanaGPUDashboard is dashboards.GPUUID, the per-job GPU dashboard.
	grafanaGPUDashboard = "mpijob-gpu"
)

// prometheusTimeout bounds each query the console sends (a variable for
// tests).
var prometheusTimeout = 5 * time.Second

const (
	// metricsPoints is about how many points a series of the Metrics tab
	// has: the step is the range divided by it.
	metricsPoints = 120
	// defaultMetricsRange caps the default range (the job's lifetime).
	defaultMetricsRange = 24 * time.Hour
	// maxMetricsRange is the longest range one may ask for.
	maxMetricsRange = 30 * 24 * time.Hour
	// minMetricsRange is the shortest range: a job that just started still
	// gets a few minutes of axis.
	minMetricsRange = 5 * time.Minute
)

// Point is one sample of a series: [unix seconds, value].
type Point [2]float64

// MetricsSeries are a job's series over the range.
type MetricsSeries struct {
	// GPUUtilization is the average busy percentage (0-100) of the job's
	// GPUs.
	GPUUtilization []Point `json:"gpuUtilization"`
	// SamplesPerSecond is the job's training throughput, from the gauge
	// its training script exposes.
	SamplesPerSecond []Point `json:"samplesPerSecond"`
	// ScalingEfficiency is throughput / (workers x one-worker baseline),
	// a ratio where 1 is linear scaling.
	ScalingEfficiency []Point `json:"scalingEfficiency"`
}

// JobMetrics is the Metrics tab's data.
type JobMetrics struct {
	// Prometheus is false when the console has no Prometheus URL; then
	// there are no series, only the Grafana link when configured.
	Prometheus bool           `json:"prometheus"`
	Series     *MetricsSeries `json:"series,omitempty"`
	// Start, End (unix seconds) and Step (seconds) of the range queried.
	Start float64 `json:"start,omitempty"`
	End   float64 `json:"end,omitempty"`
	Step  float64 `json:"step,omitempty"`
	// Grafana links to the job's GPU dashboard; empty without a Grafana
	// URL.
	Grafana string `json:"grafana"`
}

// promQuote quotes a label value for PromQL. PromQL string literals take
// Go's escapes, so strconv.Quote's output is one string literal whatever
// the value holds (quotes, backslashes, braces, newlines).
func promQuote(s string) string { return strconv.Quote(s) }

// jobQueries are the PromQL of a job's three series.
func jobQueries(ns, name string) (gpu, samples, scaling string) {
	n, j := promQuote(ns), promQuote(name)
	gpu = gpuUtilizationRule + `{namespace=` + n + `,label_training_kubeflow_org_job_name=` + j + `}`
	samples = samplesPerSecondRule + `{namespace=` + n + `,mpijob=` + j + `}`
	scaling = scalingRule + `{namespace=` + n + `,mpijob=` + j + `}`
	return gpu, samples, scaling
}

// jobEnd is when the job finished, or now while it runs.
func jobEnd(job *kubeflow.MPIJob, now time.Time) time.Time {
	if t := job.Status.CompletionTime; t != nil && !t.IsZero() {
		return t.Time
	}
	for _, c := range job.Status.Conditions {
		if (c.Type == kubeflow.JobSucceeded || c.Type == kubeflow.JobFailed) && c.Status == corev1.ConditionTrue && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.Time
		}
	}
	return now
}

// metricsWindow is the range to query: ?range= (a Go duration such as 1h
// or 90m) before the job's end, else the job's lifetime capped at 24h.
func metricsWindow(r *http.Request, job *kubeflow.MPIJob, now time.Time) (start, end time.Time, step time.Duration, err error) {
	end = jobEnd(job, now)
	var rng time.Duration
	if q := r.URL.Query().Get("range"); q != "" {
		rng, err = time.ParseDuration(q)
		if err != nil || rng <= 0 {
			return start, end, 0, fmt.Errorf("range must be a positive duration such as 30m, 6h or 24h, not %s", strconv.Quote(q))
		}
		if rng > maxMetricsRange {
			return start, end, 0, fmt.Errorf("range %s is longer than the %s the console queries at most", q, maxMetricsRange)
		}
	} else {
		from := job.CreationTimestamp.Time
		if job.Status.StartTime != nil && !job.Status.StartTime.IsZero() {
			from = job.Status.StartTime.Time
		}
		rng = min(end.Sub(from), defaultMetricsRange)
	}
	rng = max(rng, minMetricsRange)
	step = max(time.Duration(math.Ceil(rng.Seconds()/metricsPoints))*time.Second, time.Second)
	return end.Add(-rng), end, step, nil
}

// grafanaJobLink links to the job's GPU dashboard over the range.
func (s *Server) grafanaJobLink(ns, name string, start, end time.Time) string {
	if s.opts.GrafanaURL == "" {
		return ""
	}
	q := url.Values{"var-namespace": {ns}, "var-mpijob": {name}}
	if !start.IsZero() {
		q.Set("from", strconv.FormatInt(start.UnixMilli(), 10))
		q.Set("to", strconv.FormatInt(end.UnixMilli(), 10))
	}
	return strings.TrimSuffix(s.opts.GrafanaURL, "/") + "/d/" + grafanaGPUDashboard + "?" + q.Encode()
}

func (s *Server) jobMetrics(w http.ResponseWriter, r *http.Request, c *Clients) {
	// Reading the job first lets RBAC decide: who may not read the job
	// gets the apiserver's 403 (or 404), and never its metrics.
	job, err := s.getJob(r.Context(), r, c)
	if err != nil {
		writeError(w, err, warnings(c))
		return
	}
	start, end, step, err := metricsWindow(r, job, time.Now())
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	if s.opts.PrometheusURL == "" {
		writeJSON(w, http.StatusOK, JobMetrics{Grafana: s.grafanaJobLink(job.Namespace, job.Name, start, end)})
		return
	}
	queries := [3]string{}
	queries[0], queries[1], queries[2] = jobQueries(job.Namespace, job.Name)
	var (
		results [3][]Point
		errs    [3]error
		wg      sync.WaitGroup
	)
	for i, q := range queries {
		wg.Go(func() { results[i], errs[i] = s.queryRange(r.Context(), q, start, end, step) })
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		prometheusError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, JobMetrics{
		Prometheus: true,
		Series:     &MetricsSeries{GPUUtilization: results[0], SamplesPerSecond: results[1], ScalingEfficiency: results[2]},
		Start:      float64(start.Unix()),
		End:        float64(end.Unix()),
		Step:       step.Seconds(),
		Grafana:    s.grafanaJobLink(job.Namespace, job.Name, start, end),
	})
}

// NamespaceGPU is one namespace's row of the admin view's GPU column.
type NamespaceGPU struct {
	Namespace string `json:"namespace"`
	// GPUUtilization is the average busy percentage of the namespace's
	// MPIJobs' GPUs now; absent without samples.
	GPUUtilization *float64 `json:"gpuUtilization,omitempty"`
	// GPUsAllocated is the GPUs the namespace's pending and running
	// MPIJob pods request; absent without samples.
	GPUsAllocated *float64 `json:"gpusAllocated,omitempty"`
}

// ClusterGPU is the admin view's GPU utilisation per namespace.
type ClusterGPU struct {
	Prometheus bool           `json:"prometheus"`
	Namespaces []NamespaceGPU `json:"namespaces"`
}

const (
	adminGPUUtilizationQuery = "avg by (namespace) (" + gpuUtilizationRule + ")"
	adminGPUsQuery           = gpusRequestedRule
)

func (s *Server) clusterGPUUtilization(w http.ResponseWriter, r *http.Request, c *Clients) {
	admin, err := canListAllMPIJobs(r, c)
	if err != nil {
		writeError(w, err, nil)
		return
	}
	if !admin {
		writeJSON(w, http.StatusForbidden, Error{
			Error:  "the GPU utilisation of all namespaces is for admins: it needs the right to list mpijobs.kubeflow.org in all namespaces (the mpijob-platform-admin ClusterRole grants it)",
			Reason: string(metav1.StatusReasonForbidden),
		})
		return
	}
	if s.opts.PrometheusURL == "" {
		writeJSON(w, http.StatusOK, ClusterGPU{Namespaces: []NamespaceGPU{}})
		return
	}
	var (
		util, gpus       map[string]float64
		utilErr, gpusErr error
		wg               sync.WaitGroup
	)
	wg.Go(func() { util, utilErr = s.queryByNamespace(r.Context(), adminGPUUtilizationQuery) })
	wg.Go(func() { gpus, gpusErr = s.queryByNamespace(r.Context(), adminGPUsQuery) })
	wg.Wait()
	if err := errors.Join(utilErr, gpusErr); err != nil {
		prometheusError(w, err)
		return
	}
	rows := map[string]*NamespaceGPU{}
	row := func(ns string) *NamespaceGPU {
		if rows[ns] == nil {
			rows[ns] = &NamespaceGPU{Namespace: ns}
		}
		return rows[ns]
	}
	for ns, v := range util {
		row(ns).GPUUtilization = &v
	}
	for ns, v := range gpus {
		row(ns).GPUsAllocated = &v
	}
	out := ClusterGPU{Prometheus: true, Namespaces: make([]NamespaceGPU, 0, len(rows))}
	for _, r := range rows {
		out.Namespaces = append(out.Namespaces, *r)
	}
	sort.Slice(out.Namespaces, func(i, j int) bool { return out.Namespaces[i].Namespace < out.Namespaces[j].Namespace })
	writeJSON(w, http.StatusOK, out)
}

// prometheusError answers 502: the console works, Prometheus does not.
func prometheusError(w http.ResponseWriter, err error) {
	writeJSON(w, http.StatusBadGateway, Error{Error: err.Error(), Reason: "BadGateway"})
}

// promResponse is the envelope of Prometheus's HTTP API.
type promResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// promSample is one value of Prometheus's API: [unix seconds, "value"].
type promSample [2]any

func (p promSample) point() (Point, bool) {
	t, ok := p[0].(float64)
	s, ok2 := p[1].(string)
	if !ok || !ok2 {
		return Point{}, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return Point{}, false // JSON has no NaN; a gap in the chart
	}
	return Point{t, v}, true
}

// prometheusGet runs one query against the API path with a timeout and
// returns the result of a successful answer.
func (s *Server) prometheusGet(ctx context.Context, path string, params url.Values) (json.RawMessage, error) {
	base, err := url.Parse(s.opts.PrometheusURL)
	if err != nil {
		return nil, fmt.Errorf("the console's Prometheus URL is not a URL: %w", err)
	}
	where := "Prometheus at " + base.Redacted()
	u := base.JoinPath(path)
	u.RawQuery = params.Encode()
	ctx, cancel := context.WithTimeout(ctx, prometheusTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("querying %s: %w", where, err)
	}
	req.Header.Set("Accept", "application/json")
	hc := s.opts.PrometheusClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL and its query again
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%s did not answer within %s", where, prometheusTimeout)
		}
		return nil, fmt.Errorf("%s is unreachable: %w", where, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %w", where, err)
	}
	var pr promResponse
	if err := json.Unmarshal(data, &pr); err != nil {
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s answered %s: %s", where, resp.Status, strings.TrimSpace(string(data[:min(len(data), 512)])))
		}
		return nil, fmt.Errorf("%s answered something that is not its API's JSON: %w", where, err)
	}
	if resp.StatusCode != http.StatusOK || pr.Status != "success" {
		msg := pr.Error
		if msg == "" {
			msg = "status " + pr.Status
		}
		return nil, fmt.Errorf("%s answered %s to %s: %s (%s)", where, resp.Status, params.Get("query"), msg, pr.ErrorType)
	}
	return pr.Data.Result, nil
}

// queryRange is one series of a range query; when the query has several
// series (it should not), the first.
func (s *Server) queryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Point, error) {
	raw, err := s.prometheusGet(ctx, "/api/v1/query_range", url.Values{
		"query": {query},
		"start": {strconv.FormatInt(start.Unix(), 10)},
		"end":   {strconv.FormatInt(end.Unix(), 10)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	})
	if err != nil {
		return nil, err
	}
	var matrix []struct {
		Values []promSample `json:"values"`
	}
	if err := json.Unmarshal(raw, &matrix); err != nil {
		return nil, fmt.Errorf("decoding Prometheus's answer to %s: %w", query, err)
	}
	out := []Point{}
	if len(matrix) > 0 {
		for _, v := range matrix[0].Values {
			if p, ok := v.point(); ok {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// queryByNamespace is an instant query's value per namespace label.
func (s *Server) queryByNamespace(ctx context.Context, query string) (map[string]float64, error) {
	raw, err := s.prometheusGet(ctx, "/api/v1/query", url.Values{"query": {query}})
	if err != nil {
		return nil, err
	}
	var vector []struct {
		Metric map[string]string `json:"metric"`
		Value  promSample        `json:"value"`
	}
	if err := json.Unmarshal(raw, &vector); err != nil {
		return nil, fmt.Errorf("decoding Prometheus's answer to %s: %w", query, err)
	}
	out := map[string]float64{}
	for _, v := range vector {
		ns := v.Metric["namespace"]
		if p, ok := v.Value.point(); ok && ns != "" {
			out[ns] = p[1]
		}
	}
	return out, nil
}
