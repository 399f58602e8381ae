package observability_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/mpijob-platform/mpijob-platform/console/backend"
	consoleserver "github.com/mpijob-platform/mpijob-platform/console/server"
	"github.com/mpijob-platform/mpijob-platform/dashboards"
	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// Every panel of every shipped dashboard returns data from a real
// Prometheus that scrapes our controller, real Kueue and the stand-in
// exporters while MPIJobs run, succeed and fail; the shipped rules evaluate
// without error, record what the dashboards read, and the failure alert
// fires.
func TestDashboardsAndRulesOnARealPrometheus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	ns := env.CreateNamespace(t, "obs")

	// A Kueue queue, so that Kueue admits the jobs and exports its queue
	// and quota metrics for them.
	cq := env.CreateGPUQueue(t, ns, "team", 8)

	exporter := startExporter(t, ns)
	kueueMetrics := env.Cluster.State.KueueMetricsURL()
	if kueueMetrics == "" {
		t.Fatal("the dev cluster reports no Kueue metrics endpoint")
	}
	// The training example, for real: one worker alone gives the baseline,
	// then two workers train while Prometheus scrapes rank 0's reporter.
	realNs := env.CreateRealNamespace(t, "obs-train")
	baseline := trainAlone(t, ctx, realNs)
	startTraining(t, ctx, realNs, "train", 2, "--seconds", "900", "--baseline", strconv.FormatFloat(baseline, 'f', 0, 64))
	caFile := filepath.Join(env.Cluster.Dir, "pki", "ca.crt")
	prom := startPrometheus(t,
		// As the shipped ServiceMonitor scrapes it: HTTPS, the scraping
		// ServiceAccount's token, the shipped metrics-reader ClusterRole.
		target{job: "mpijob-controller", url: manager.MetricsURL, token: metricsReaderToken(t, ctx), insecure: true,
			labels: map[string]string{"service": "mpijob-controller-metrics"}},
		target{job: "kueue", url: kueueMetrics, token: scraperToken(t, ctx, ns), caFile: caFile},
		target{job: "stand-ins", url: exporter.URL + "/metrics", honorLabels: true},
		// Rank 0 runs on worker 0; its pod address is reachable from the
		// host through the process runtime's pod proxy.
		target{job: "training", url: env.Cluster.State.PodProxyURL(realNs, "train-worker-0", 9464, "metrics"), caFile: caFile,
			labels: map[string]string{"namespace": realNs, "pod": "train-worker-0"}},
	)
	framework.Eventually(t, time.Minute, "Prometheus scrapes every target", func(ctx context.Context) (bool, string, error) {
		up, err := prom.query(ctx, "up")
		if err != nil {
			return false, err.Error(), nil
		}
		var down []string
		for _, s := range up {
			if s.value() != 1 {
				down = append(down, s.Metric["job"])
			}
		}
		return len(up) == 4 && len(down) == 0, fmt.Sprintf("%d targets, down: %v", len(up), down), nil
	})

	// Three jobs through the queue: one succeeds, one keeps running (GPU and
	// throughput series), one fails (a diagnosed failure). The first goes
	// alone: Kueue's per-queue histograms appear at their first
	// observation, and a rate needs a later one to see an increase.
	jobs := map[string]kubeflow.JobConditionType{"pi": kubeflow.JobSucceeded, "train": kubeflow.JobRunning, "crash": kubeflow.JobFailed}
	submit := func(name string) {
		job := framework.SmallMPIJob(ns, name)
		job.Labels = map[string]string{"kueue.x-k8s.io/queue-name": "team"}
		launcher := &job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template
		switch name {
		case "train":
			launcher.Annotations[cluster.FinishAfterAnnotation] = "1h"
		case "crash":
			launcher.Annotations[cluster.ExitCodeAnnotation] = "1"
		}
		if err := env.Client.Create(ctx, job); err != nil {
			t.Fatal(err)
		}
	}
	submit("pi")
	framework.Eventually(t, 2*time.Minute, "Prometheus has Kueue's first admission", func(ctx context.Context) (bool, string, error) {
		res, err := prom.query(ctx, fmt.Sprintf(`kueue_admission_wait_time_seconds_count{cluster_queue=%q}`, cq))
		if err != nil {
			return false, "", err
		}
		return len(res) == 1, fmt.Sprintf("%d series", len(res)), nil
	})
	submit("train")
	submit("crash")
	for name, cond := range jobs {
		framework.Eventually(t, 3*time.Minute, name+" reaches "+string(cond), func(ctx context.Context) (bool, string, error) {
			job := &kubeflow.MPIJob{}
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, job); err != nil {
				return false, "", err
			}
			for _, c := range job.Status.Conditions {
				if c.Type == cond && c.Status == corev1.ConditionTrue {
					return true, "", nil
				}
			}
			return false, fmt.Sprintf("conditions %v", job.Status.Conditions), nil
		})
	}

	// Every panel query of every dashboard returns at least one number.
	uids, files, err := dashboards.Files()
	if err != nil {
		t.Fatal(err)
	}
	panels := 0
	for _, uid := range uids {
		for title, exprs := range panelQueries(t, files[uid]) {
			panels++
			for _, expr := range exprs {
				framework.Eventually(t, time.Minute, fmt.Sprintf("%s / %q returns data: %s", uid, title, expr), func(ctx context.Context) (bool, string, error) {
					res, err := prom.query(ctx, expr)
					if err != nil {
						return false, "", err // a query Prometheus rejects is a defect, not a wait
					}
					for _, s := range res {
						if !math.IsNaN(s.value()) {
							return true, "", nil
						}
					}
					return false, fmt.Sprintf("%d series, none with a number", len(res)), nil
				})
			}
		}
	}
	if panels == 0 {
		t.Fatal("no dashboard panels found")
	}
	// And every dashboard variable offers values.
	variables := 0
	for _, uid := range uids {
		for name, expr := range variableQueries(t, files[uid]) {
			variables++
			framework.Eventually(t, time.Minute, fmt.Sprintf("%s / variable %s offers values: %s", uid, name, expr), func(ctx context.Context) (bool, string, error) {
				res, err := prom.query(ctx, expr)
				if err != nil {
					return false, "", err
				}
				return len(res) > 0, fmt.Sprintf("%d values", len(res)), nil
			})
		}
	}
	if variables == 0 {
		t.Fatal("no dashboard variables found")
	}

	// The recording rules compute what the dashboards show for this
	// namespace's jobs.
	want := map[string]float64{
		fmt.Sprintf(`mpijob:gpu_utilization:avg{namespace=%q,label_training_kubeflow_org_job_name="train"}`, ns): (85 + 90) / 2.0, // DCGM on worker 0, MIG engine activity on worker 1
		fmt.Sprintf(`namespace:mpijob_gpus_requested:sum{namespace=%q}`, ns):                                     heldGPUs(t, ctx, ns),
		// What the real run reported, as the rules see it: two workers
		// against the one-worker baseline it was given.
		fmt.Sprintf(`mpijob_training_workers{namespace=%q,mpijob="train"}`, realNs):                     2,
		fmt.Sprintf(`mpijob_training_baseline_samples_per_second{namespace=%q,mpijob="train"}`, realNs): math.Round(baseline),
		// The efficiency rule divides the job's throughput by workers times
		// baseline (both rules of one group are evaluated at one instant).
		fmt.Sprintf(`mpijob:scaling_efficiency:ratio{namespace=%[1]q,mpijob="train"} * 2 * %[2]g / mpijob:training_samples_per_second:sum{namespace=%[1]q,mpijob="train"}`,
			realNs, math.Round(baseline)): 1,
		fmt.Sprintf(`namespace_phase:mpijob_jobs:sum{namespace=%q,phase="Running"}`, ns): 1,
	}
	for expr, value := range want {
		framework.Eventually(t, time.Minute, expr, func(ctx context.Context) (bool, string, error) {
			res, err := prom.query(ctx, expr)
			if err != nil {
				return false, "", err
			}
			if len(res) != 1 || math.Abs(res[0].value()-value) > 1e-9 {
				return false, fmt.Sprintf("got %v, want one series = %g", res, value), nil
			}
			return true, "", nil
		})
	}

	// The console's Metrics tab reads the same series from this Prometheus,
	// as a member of the job's namespace.
	consoleMetrics(t, ctx, ns, realNs, prom)
	efficiency, err := prom.query(ctx, fmt.Sprintf(`mpijob:scaling_efficiency:ratio{namespace=%q,mpijob="train"}`, realNs))
	if err != nil || len(efficiency) != 1 || !(efficiency[0].value() > 0) {
		t.Errorf("scaling efficiency of the real run: %v, %v", efficiency, err)
	} else {
		t.Logf("the training example: one worker %.0f samples/s; two workers at a scaling efficiency of %.2f (2 shared cores)", baseline, efficiency[0].value())
	}

	// Every rule evaluates without error.
	var rulesData struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Name      string `json:"name"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := prom.get(ctx, "/api/v1/rules", nil, &rulesData); err != nil {
		t.Fatal(err)
	}
	var ruleNames []string
	for _, g := range rulesData.Groups {
		for _, r := range g.Rules {
			ruleNames = append(ruleNames, r.Name)
			if r.Health != "ok" {
				t.Errorf("rule %s/%s: health %q: %s", g.Name, r.Name, r.Health, r.LastError)
			}
		}
	}
	if len(ruleNames) < 12 {
		t.Errorf("Prometheus loaded %d rules: %v", len(ruleNames), ruleNames)
	}

	// The failed job fires MPIJobFailed for its namespace and diagnosed
	// reason; the controller is up, so MPIJobControllerDown stays silent.
	framework.Eventually(t, time.Minute, "MPIJobFailed fires for "+ns, func(ctx context.Context) (bool, string, error) {
		var data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		}
		if err := prom.get(ctx, "/api/v1/alerts", nil, &data); err != nil {
			return false, "", err
		}
		var seen []string
		fired := false
		for _, a := range data.Alerts {
			seen = append(seen, a.Labels["alertname"]+"/"+a.State)
			if a.Labels["alertname"] == "MPIJobControllerDown" {
				return false, "", fmt.Errorf("MPIJobControllerDown is %s while the controller is scraped", a.State)
			}
			if a.Labels["alertname"] == "MPIJobFailed" && a.Labels["namespace"] == ns && a.State == "firing" && a.Labels["reason"] != "" {
				fired = true
			}
		}
		sort.Strings(seen)
		return fired, "alerts: " + strings.Join(seen, ", "), nil
	})
}

// heldGPUs counts the GPUs of the namespace's Pending and Running pods (with
// the default cleanPodPolicy None, a finished job's workers keep theirs).
func heldGPUs(t *testing.T, ctx context.Context, ns string) float64 {
	t.Helper()
	pods := &corev1.PodList{}
	if err := env.Client.List(ctx, pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodPending && p.Status.Phase != corev1.PodRunning {
			continue
		}
		for _, c := range p.Spec.Containers {
			n += float64(c.Resources.Limits.Name(cluster.GPUResource, resource.DecimalSI).Value())
		}
	}
	if n == 0 {
		t.Fatal("no pod of the test holds a GPU")
	}
	return n
}

// consoleMetrics serves the web console's API against the test's
// Prometheus and requires the running job's Metrics series to carry what
// the recording rules compute, asked with a namespace member's token.
func consoleMetrics(t *testing.T, ctx context.Context, ns, realNs string, prom *prometheus) {
	t.Helper()
	token, realToken := memberToken(t, ctx, ns), memberToken(t, ctx, realNs)
	h, err := consoleserver.Options{PrometheusURL: prom.url}.Handler(env.Config, logr.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	last := func(points []backend.Point) float64 {
		if len(points) == 0 {
			return math.NaN()
		}
		return points[len(points)-1][1]
	}
	get := func(ctx context.Context, ns, token string) (*backend.JobMetrics, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/namespaces/"+ns+"/mpijobs/train/metrics", nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var m backend.JobMetrics
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET metrics: HTTP %d", resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			return nil, fmt.Errorf("decoding the metrics: %w", err)
		}
		if !m.Prometheus || m.Series == nil {
			return nil, fmt.Errorf("no Prometheus series: %+v", m)
		}
		return &m, nil
	}
	framework.Eventually(t, time.Minute, "the console's GPU metrics of the simulated job train", func(ctx context.Context) (bool, string, error) {
		m, err := get(ctx, ns, token)
		if err != nil {
			return false, "", err
		}
		gpu := last(m.Series.GPUUtilization)
		return gpu == (85+90)/2.0, fmt.Sprintf("last GPU %v", gpu), nil
	})
	framework.Eventually(t, time.Minute, "the console's throughput of the real job train", func(ctx context.Context) (bool, string, error) {
		m, err := get(ctx, realNs, realToken)
		if err != nil {
			return false, "", err
		}
		rate, eff := last(m.Series.SamplesPerSecond), last(m.Series.ScalingEfficiency)
		return rate > 0 && eff > 0, fmt.Sprintf("samples/s %v, efficiency %v", rate, eff), nil
	})
}

// memberToken is a token of a ServiceAccount that may read the namespace's
// MPIJobs, as a team member does.
func memberToken(t *testing.T, ctx context.Context, ns string) string {
	t.Helper()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mpijob-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{kubeflow.GroupName}, Resources: []string{"mpijobs"}, Verbs: []string{"get", "list"}}},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "member-mpijob-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "member"}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	return env.ServiceAccountToken(t, ns, "member")
}

// trainingJob is docs/examples/mpi-training/mpijob.yaml with n workers and
// the given arguments to train.py.
func trainingJob(t *testing.T, ns, name string, workers int32, args ...string) *kubeflow.MPIJob {
	t.Helper()
	repo, err := cluster.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(repo, "docs", "examples", "mpi-training", "mpijob.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	job := &kubeflow.MPIJob{}
	if err := yaml.UnmarshalStrict(data, job); err != nil {
		t.Fatalf("the example does not decode: %v", err)
	}
	job.Name, job.Namespace = name, ns
	job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Replicas = &workers
	c := &job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Spec.Containers[0]
	c.Command = append([]string{"mpirun", "-n", strconv.Itoa(int(workers)), "python3", "/opt/mpi-training/train.py"}, args...)
	return job
}

func startTraining(t *testing.T, ctx context.Context, ns, name string, workers int32, args ...string) {
	t.Helper()
	if err := env.Client.Create(ctx, trainingJob(t, ns, name, workers, args...)); err != nil {
		t.Fatal(err)
	}
}

var doneLine = regexp.MustCompile(`done: \d+ steps on 1 ranks, (\d+) samples/s`)

// trainAlone runs the example on one worker to completion and returns the
// throughput it reports in its last line.
func trainAlone(t *testing.T, ctx context.Context, ns string) float64 {
	t.Helper()
	startTraining(t, ctx, ns, "train-alone", 1, "--seconds", "8")
	framework.Eventually(t, 3*time.Minute, "train-alone Succeeded", func(ctx context.Context) (bool, string, error) {
		job := &kubeflow.MPIJob{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "train-alone"}, job); err != nil {
			return false, "", err
		}
		for _, c := range job.Status.Conditions {
			if c.Type == kubeflow.JobFailed && c.Status == corev1.ConditionTrue {
				return false, "", fmt.Errorf("train-alone failed: %s", c.Message)
			}
			if c.Type == kubeflow.JobSucceeded && c.Status == corev1.ConditionTrue {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("conditions %v", job.Status.Conditions), nil
	})
	pods := &corev1.PodList{}
	if err := env.Client.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{kubeflow.JobNameLabel: "train-alone", kubeflow.JobRoleLabel: kubeflow.RoleLauncher}); err != nil || len(pods.Items) == 0 {
		t.Fatalf("the launcher of train-alone: %v (%d pods)", err, len(pods.Items))
	}
	log, err := env.Clientset.CoreV1().Pods(ns).GetLogs(pods.Items[0].Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := doneLine.FindSubmatch(log)
	if m == nil {
		t.Fatalf("train-alone's log has no final throughput:\n%s", log)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	if v <= 0 {
		t.Fatalf("train-alone reported %v samples/s", v)
	}
	return v
}

func metricsReaderToken(t *testing.T, ctx context.Context) string {
	t.Helper()
	token, err := env.MetricsReaderToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return token
}
