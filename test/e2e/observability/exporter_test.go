package observability_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// startExporter serves, from the pods and jobs of namespace ns as they are
// at scrape time, what kube-state-metrics (pod labels, phases, GPU
// requests) and the DCGM exporter (even workers report
// DCGM_FI_DEV_GPU_UTIL, odd ones are MIG slices with only
// DCGM_FI_PROF_GR_ENGINE_ACTIVE) would export for them. Throughput is not
// stood in for: the training example reports its own.
func startExporter(t *testing.T, ns string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lines, err := exposition(r.Context(), ns)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, strings.Join(lines, "\n")+"\n")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func exposition(ctx context.Context, ns string) ([]string, error) {
	pods := &corev1.PodList{}
	if err := env.Client.List(ctx, pods, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var out []string
	add := func(name string, value float64, labels ...string) {
		var kv []string
		for i := 0; i+1 < len(labels); i += 2 {
			kv = append(kv, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
		}
		out = append(out, fmt.Sprintf("%s{%s} %g", name, strings.Join(kv, ","), value))
	}
	for _, p := range pods.Items {
		job := p.Labels[kubeflow.JobNameLabel]
		add("kube_pod_labels", 1, "namespace", ns, "pod", p.Name, "label_training_kubeflow_org_job_name", job)
		for _, phase := range []corev1.PodPhase{corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown} {
			add("kube_pod_status_phase", boolValue(p.Status.Phase == phase), "namespace", ns, "pod", p.Name, "phase", string(phase))
		}
		for _, c := range p.Spec.Containers {
			if gpus, ok := c.Resources.Limits[cluster.GPUResource]; ok {
				add("kube_pod_container_resource_requests", float64(gpus.Value()), "namespace", ns, "pod", p.Name, "container", c.Name, "resource", "nvidia_com_gpu", "unit", "integer")
			}
		}
		if p.Labels[kubeflow.JobRoleLabel] != "worker" || p.Status.Phase != corev1.PodRunning {
			continue
		}
		if idx, _ := strconv.Atoi(p.Labels[kubeflow.ReplicaIndexLabel]); idx%2 == 0 {
			add("DCGM_FI_DEV_GPU_UTIL", 85, "namespace", ns, "pod", p.Name, "container", "mpi", "gpu", "0")
		} else {
			add("DCGM_FI_PROF_GR_ENGINE_ACTIVE", 0.9, "namespace", ns, "pod", p.Name, "container", "mpi", "gpu", "0", "GPU_I_ID", "1")
		}
	}
	sort.Strings(out)
	return out, nil
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
