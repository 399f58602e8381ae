package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// OverviewUID is the MPIJob overview dashboard.
const OverviewUID = "mpijob-overview"

func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Datasource(datasource).Expr(expr).LegendFormat(legend)
}

// Overview: jobs by phase, create-to-running latency, failures by
// diagnosed reason, Kueue queue wait and pending workloads.
func Overview() (dashboard.Dashboard, error) {
	return dashboard.NewDashboardBuilder("MPIJob overview").
		Uid(OverviewUID).
		Tags([]string{"mpijob-platform"}).
		Refresh("30s").
		Time("now-6h", "now").
		Timezone(common.TimeZoneBrowser).
		WithVariable(datasourceVariable()).
		WithVariable(labelVariable("namespace", "Namespace", "mpijob_jobs", "namespace")).
		WithRow(dashboard.NewRowBuilder("Jobs")).
		WithPanel(stat.NewPanelBuilder().Datasource(datasource).
			Title("Running MPIJobs").
			Description("MPIJobs whose latest condition is Running, all namespaces.").
			Span(6).Height(6).
			WithTarget(query(`sum(mpijob_jobs{namespace=~"$namespace",phase="Running"})`, "running"))).
		WithPanel(timeseries.NewPanelBuilder().Datasource(datasource).
			Title("MPIJobs by phase").
			Span(18).Height(6).
			WithTarget(query(`sum by (phase) (mpijob_jobs{namespace=~"$namespace"})`, "{{phase}}"))).
		WithPanel(timeseries.NewPanelBuilder().Datasource(datasource).
			Title("Create to Running (p50, p99)").
			Description("From an MPIJob's creation to all its workers Running.").
			Unit("s").Min(0).Span(12).Height(8).
			WithTarget(query(`histogram_quantile(0.5, sum by (le) (rate(mpijob_create_to_running_seconds_bucket[$__rate_interval])))`, "p50")).
			WithTarget(query(`histogram_quantile(0.99, sum by (le) (rate(mpijob_create_to_running_seconds_bucket[$__rate_interval])))`, "p99"))).
		WithPanel(timeseries.NewPanelBuilder().Datasource(datasource).
			Title("Failures by diagnosed reason").
			Description("OOMKilled, ImagePullFailed, NCCLError, Evicted... as the controller diagnosed them.").
			Span(12).Height(8).Min(0).
			WithTarget(query(`sum by (reason) (increase(mpi_operator_jobs_failed_total{namespace=~"$namespace"}[$__rate_interval]))`, "{{reason}}"))).
		WithRow(dashboard.NewRowBuilder("Kueue")).
		WithPanel(timeseries.NewPanelBuilder().Datasource(datasource).
			Title("Pending workloads by ClusterQueue").
			Span(12).Height(8).Min(0).
			WithTarget(query(`sum by (cluster_queue) (kueue_pending_workloads)`, "{{cluster_queue}}"))).
		WithPanel(timeseries.NewPanelBuilder().Datasource(datasource).
			Title("Queue wait before admission (p90)").
			Unit("s").Min(0).Span(12).Height(8).
			WithTarget(query(`histogram_quantile(0.9, sum by (le, cluster_queue) (rate(kueue_admission_wait_time_seconds_bucket[$__rate_interval])))`, "{{cluster_queue}}"))).
		Build()
}
