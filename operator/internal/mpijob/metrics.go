package mpijob

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

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
)

func init() {
	metrics.Registry.MustRegister(metricJobsCreated, metricJobsSuccessful, metricJobsFailed, metricCreateToRunning)
}

func observeTimeToRunning(job *kubeflow.MPIJob, now time.Time) {
	start := job.CreationTimestamp.Time
	if job.Status.StartTime != nil && job.Status.StartTime.After(start) {
		start = job.Status.StartTime.Time
	}
	metricCreateToRunning.Observe(now.Sub(start).Seconds())
}
