package framework

import (
	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// SmallMPIJob is a job for suites that need one to run to Succeeded: a
// launcher that kwok ends after 2 s with exit code 0, and two workers with
// one GPU each (1 CPU and 1Gi requested per pod).
func SmallMPIJob(ns, name string) *kubeflow.MPIJob {
	return wrappers.MakeMPIJob(name, ns).
		LauncherResources("1", "1Gi").WorkerResources("1", "1Gi", 1).
		LauncherAnnotation(cluster.FinishAfterAnnotation, "2s").Obj()
}
