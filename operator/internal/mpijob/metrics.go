package mpijob

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
)

// /metrics is served to clients the API server authenticates and
// authorizes (operator/cmd/manager, --metrics-secure).
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Upstream's metric names are kept so that existing dashboards work; ours
// add what upstream lacks: time to running and failures by reason.
var (
	metricJobsCreated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mpi_operator_jobs_created_total", Help: "MPIJobs created.",
	}, []string{"namespace"})
	metricJobsSuccessful = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mpi_operator_jobs_successful_total", Help: "MPIJobs that succeeded.",
	}, []string{"namespace"})
	metricJobsFailed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mpi_operator_jobs_failed_total", Help: "MPIJobs that failed, by diagnosed reason.",
	}, []string{"namespace", "reason"})
	metricCreateToRunning = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "mpijob_create_to_running_seconds",
		Help:    "Seconds from an MPIJob's creation (or resume) to its Running condition.",
		Buckets: prometheus.ExponentialBuckets(0.5, 2, 14),
	})
	metricStartupStage = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "mpijob_startup_stage_seconds",
		Help: "Seconds from an MPIJob's creation (or resume) to each stage of its start, as the controller sees it: " +
			"first_reconcile, workers_created, workers_bound (every worker on a node), workers_running, running_condition.",
		Buckets: prometheus.ExponentialBuckets(0.25, 2, 15),
	}, []string{"stage"})
)

// The stages of a job's start, in order (metricStartupStage's label).
const (
	stageFirstReconcile   = "first_reconcile"
	stageWorkersCreated   = "workers_created"
	stageWorkersBound     = "workers_bound"
	stageWorkersRunning   = "workers_running"
	stageRunningCondition = "running_condition"
)

// observeStage records a stage of the job's start once per start (creation
// or resume).
func (r *Reconciler) observeStage(s *state, stage string) {
	if !r.expect.firstStage(s.key, stage) {
		return
	}
	start := s.job.CreationTimestamp.Time
	if st := s.job.Status.StartTime; st != nil && st.After(start) {
		start = st.Time
	}
	metricStartupStage.WithLabelValues(stage).Observe(s.now.Sub(start).Seconds())
}

func init() {
	metrics.Registry.MustRegister(metricJobsCreated, metricJobsSuccessful, metricJobsFailed, metricCreateToRunning, metricStartupStage)
}

func observeTimeToRunning(job *kubeflow.MPIJob, now time.Time) {
	start := job.CreationTimestamp.Time
	if job.Status.StartTime != nil && job.Status.StartTime.After(start) {
		start = job.Status.StartTime.Time
	}
	metricCreateToRunning.Observe(now.Sub(start).Seconds())
}

// Upstream's info and leader gauges.
var (
	metricJobInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mpi_operator_job_info", Help: "Information about MPIJobs: 1 per launcher.",
	}, []string{"launcher", "namespace"})
	metricIsLeader = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mpi_operator_is_leader", Help: "1 when this replica is the leader.",
	})
)

func init() {
	metrics.Registry.MustRegister(metricJobInfo, metricIsLeader)
}

// forgetJobMetrics drops the series of a deleted job, so that the number of
// series follows live jobs, not every job ever seen.
func forgetJobMetrics(namespace, job string) {
	metricJobInfo.DeleteLabelValues(job+launcherSuffix, namespace)
}

// SetLeader records whether this replica leads.
func SetLeader(leading bool) {
	if leading {
		metricIsLeader.Set(1)
	} else {
		metricIsLeader.Set(0)
	}
}

// phaseCollector reports MPIJobs by phase from the informer cache at scrape
// time, so the gauge is always exact and costs nothing between scrapes.
type phaseCollector struct {
	list func(ctx context.Context) ([]kubeflow.MPIJob, error)
	desc *prometheus.Desc
}

// NewPhaseCollector returns the mpijob_jobs{namespace,phase} collector.
func NewPhaseCollector(r client.Reader) prometheus.Collector {
	return &phaseCollector{
		list: func(ctx context.Context) ([]kubeflow.MPIJob, error) {
			l := &kubeflow.MPIJobList{}
			err := r.List(ctx, l)
			return l.Items, err
		},
		desc: prometheus.NewDesc("mpijob_jobs", "MPIJobs by namespace and phase (Succeeded, Failed, Queued, Suspended, Restarting, Running, Created or Pending, as kubectl odh mpijob get says).", []string{"namespace", "phase"}, nil),
	}
}

func (c *phaseCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *phaseCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	jobs, err := c.list(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	counts := map[[2]string]int{}
	for i := range jobs {
		counts[[2]string{jobs[i].Namespace, string(mpijob.PhaseOf(&jobs[i]))}]++
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
}
