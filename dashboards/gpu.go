package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// GPUUID is the GPU utilisation dashboard.
const GPUUID = "mpijob-gpu"

// jobOfPod joins per-pod GPU series to MPIJobs through kube-state-metrics'
// pod labels (see docs/observability.md for the allowlist).
const jobOfPod = `max by (namespace, pod, label_training_kubeflow_org_job_name) (kube_pod_labels{namespace=~"$namespace",label_training_kubeflow_org_job_name!=""})`

// gpuUtil is DCGM's utilisation, or graphics-engine activity on MIG slices
// where DCGM_FI_DEV_GPU_UTIL is absent, in percent.
const gpuUtil = `(DCGM_FI_DEV_GPU_UTIL or (DCGM_FI_PROF_GR_ENGINE_ACTIVE * 100))`

// GPU: utilisation per job and per namespace, GPUs allocated per namespace.
func GPU() (dashboard.Dashboard, error) {
	return dashboard.NewDashboardBuilder("MPIJob GPUs").
		Uid(GPUUID).
		Tags([]string{"mpijob-platform"}).
		Refresh("30s").
		Time("now-6h", "now").
		Timezone(common.TimeZoneBrowser).
		WithVariable(datasourceVariable()).
		WithVariable(labelVariable("namespace", "Namespace", `kube_pod_labels{label_training_kubeflow_org_job_name!=""}`, "namespace")).
		WithVariable(labelVariable("mpijob", "MPIJob", `kube_pod_labels{namespace=~"$namespace",label_training_kubeflow_org_job_name!=""}`, "label_training_kubeflow_org_job_name")).
		WithRow(dashboard.NewRowBuilder("Utilisation")).
		WithPanel(timeseries.NewPanelBuilder().Datasource(datasource).
			Title("GPU utilisation per MPIJob").
			Description("Average over the job's GPUs; MIG slices report graphics-engine activity.").
			Unit("percent").Min(0).Max(100).Span(24).Height(9).
			WithTarget(query(`mpijob:gpu_utilization:avg{namespace=~"$namespace",label_training_kubeflow_org_job_name=~"$mpijob"}`, "{{namespace}}/{{label_training_kubeflow_org_job_name}}"))).
		WithPanel(timeseries.NewPanelBuilder().Datasource(datasource).
			Title("GPU utilisation per namespace").
			Unit("percent").Min(0).Max(100).Span(12).Height(8).
			WithTarget(query(`avg by (namespace) (`+gpuUtil+` * on (namespace, pod) group_left () `+jobOfPod+`)`, "{{namespace}}"))).
		WithPanel(timeseries.NewPanelBuilder().Datasource(datasource).
			Title("GPUs allocated to MPIJobs per namespace").
			Min(0).Span(12).Height(8).
			WithTarget(query(`namespace:mpijob_gpus_requested:sum{namespace=~"$namespace"}`, "{{namespace}}"))).
		Build()
}
