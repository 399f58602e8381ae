package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// QuotaUID is the cluster quota dashboard.
const QuotaUID = "mpijob-quota"

// Quota: Kueue ClusterQueue usage against nominal quota, and pending work.
func Quota() (dashboard.Dashboard, error) {
	return dashboard.NewDashboardBuilder("MPIJob cluster quota").
		Uid(QuotaUID).
		Tags([]string{"mpijob-platform"}).
		Refresh("1m").
		Time("now-24h", "now").
		Timezone(common.TimeZoneBrowser).
		WithVariable(datasourceVariable()).
		WithVariable(labelVariable("cluster_queue", "ClusterQueue", "kueue_cluster_queue_nominal_quota", "cluster_queue")).
		WithPanel(timeseries.NewPanelBuilder().Datasource(datasource).
			Title("GPU quota used per ClusterQueue").
			Description("Reserved by admitted workloads, as a share of the nominal quota (above 100% means borrowing).").
			Unit("percentunit").Min(0).Span(24).Height(9).
			WithTarget(query(`sum by (cluster_queue) (kueue_cluster_queue_resource_reservation{cluster_queue=~"$cluster_queue",resource="nvidia.com/gpu"}) / sum by (cluster_queue) (kueue_cluster_queue_nominal_quota{cluster_queue=~"$cluster_queue",resource="nvidia.com/gpu"})`, "{{cluster_queue}}"))).
		WithPanel(timeseries.NewPanelBuilder().Datasource(datasource).
			Title("GPUs reserved and nominal quota").
			Min(0).Span(12).Height(8).
			WithTarget(query(`sum by (cluster_queue) (kueue_cluster_queue_resource_reservation{cluster_queue=~"$cluster_queue",resource="nvidia.com/gpu"})`, "{{cluster_queue}} reserved")).
			WithTarget(query(`sum by (cluster_queue) (kueue_cluster_queue_nominal_quota{cluster_queue=~"$cluster_queue",resource="nvidia.com/gpu"})`, "{{cluster_queue}} nominal"))).
		WithPanel(timeseries.NewPanelBuilder().Datasource(datasource).
			Title("Pending and admitted workloads").
			Min(0).Span(12).Height(8).
			WithTarget(query(`sum by (cluster_queue) (kueue_pending_workloads{cluster_queue=~"$cluster_queue"})`, "{{cluster_queue}} pending")).
			WithTarget(query(`sum by (cluster_queue) (kueue_admitted_active_workloads{cluster_queue=~"$cluster_queue"})`, "{{cluster_queue}} admitted"))).
		Build()
}
