package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// ScalingUID is the scaling efficiency dashboard.
const ScalingUID = "mpijob-scaling"

// Scaling: throughput and efficiency against the one-worker baseline
// (docs/observability.md#scaling-efficiency).
func Scaling() (dashboard.Dashboard, error) {
	return dashboard.NewDashboardBuilder("MPIJob scaling efficiency").
		Uid(ScalingUID).
		Tags([]string{"mpijob-platform"}).
		Refresh("30s").
		Time("now-6h", "now").
		Timezone(common.TimeZoneBrowser).
		WithVariable(datasourceVariable()).
		WithVariable(labelVariable("namespace", "Namespace", "mpijob:training_samples_per_second:sum", "namespace")).
		WithVariable(labelVariable("mpijob", "MPIJob", `mpijob:training_samples_per_second:sum{namespace=~"$namespace"}`, "mpijob")).
		WithPanel(timeseries.NewPanelBuilder().Datasource(datasource).
			Title("Scaling efficiency").
			Description("Throughput / (workers x one-worker baseline): 1 is linear scaling.").
			Unit("percentunit").Min(0).Span(12).Height(9).
			WithTarget(query(`mpijob:scaling_efficiency:ratio{namespace=~"$namespace",mpijob=~"$mpijob"}`, "{{namespace}}/{{mpijob}}"))).
		WithPanel(timeseries.NewPanelBuilder().Datasource(datasource).
			Title("Training throughput").
			Unit("short").Min(0).Span(12).Height(9).
			WithTarget(query(`mpijob:training_samples_per_second:sum{namespace=~"$namespace",mpijob=~"$mpijob"}`, "{{namespace}}/{{mpijob}} samples/s"))).
		Build()
}
