package mpijob

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

func TestHostfile(t *testing.T) {
	cases := map[string]struct {
		mutate func(*kubeflow.MPIJob)
		domain string
		want   string
	}{
		"openmpi": {
			mutate: func(*kubeflow.MPIJob) {},
			want:   "pi-worker-0.pi.team-a.svc slots=1\npi-worker-1.pi.team-a.svc slots=1\n",
		},
		"intel with slots and domain": {
			mutate: func(j *kubeflow.MPIJob) {
				j.Spec.MPIImplementation = kubeflow.MPIImplementationIntel
				j.Spec.SlotsPerWorker = ptr.To[int32](4)
			},
			domain: "cluster.local",
			want:   "pi-worker-0.pi.team-a.svc.cluster.local:4\npi-worker-1.pi.team-a.svc.cluster.local:4\n",
		},
		"launcher as worker comes first": {
			mutate: func(j *kubeflow.MPIJob) {
				j.Spec.RunLauncherAsWorker = ptr.To(true)
				j.Spec.MPIImplementation = kubeflow.MPIImplementationMPICH
			},
			want: "pi-launcher.pi.team-a.svc:1\npi-worker-0.pi.team-a.svc:1\npi-worker-1.pi.team-a.svc:1\n",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, hostfile(testJob(tc.mutate), tc.domain)); diff != "" {
				t.Errorf("hostfile (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDiscoverHostsListsRunningWorkersSorted(t *testing.T) {
	job := testJob()
	pod := func(name string, phase corev1.PodPhase, deleting bool) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{Phase: phase}}
		if deleting {
			p.DeletionTimestamp = &metav1.Time{}
		}
		return p
	}
	got := discoverHosts(job, []corev1.Pod{
		pod("pi-worker-1", corev1.PodRunning, false),
		pod("pi-worker-0", corev1.PodRunning, false),
		pod("pi-worker-2", corev1.PodPending, false),
		pod("pi-worker-3", corev1.PodRunning, true),
	}, "")
	want := "#!/bin/sh\necho pi-worker-0.pi.team-a.svc\necho pi-worker-1.pi.team-a.svc\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("discover_hosts.sh (-want +got):\n%s", diff)
	}
}

// FuzzHostfile: any worker count, slots and implementation give one line per
// rank host, each naming a host of the job with its slots.
func FuzzHostfile(f *testing.F) {
	f.Add(int32(2), int32(1), "OpenMPI", false, "")
	f.Add(int32(64), int32(8), "Intel", true, "cluster.local")
	f.Add(int32(1), int32(3), "MPICH", false, "x")
	f.Fuzz(func(t *testing.T, workers, slots int32, impl string, launcherWorker bool, domain string) {
		if workers < 0 || workers > kubeflow.MaxWorkers || (Config{ClusterDomain: domain}).Validate() != nil {
			return // the manager refuses such a cluster domain at start
		}
		job := testJob(func(j *kubeflow.MPIJob) {
			j.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Replicas = ptr.To(workers)
			j.Spec.SlotsPerWorker = ptr.To(slots)
			j.Spec.MPIImplementation = kubeflow.MPIImplementation(impl)
			j.Spec.RunLauncherAsWorker = ptr.To(launcherWorker)
		})
		out := hostfile(job, domain)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if out == "" {
			lines = nil
		}
		want := int(workers)
		if launcherWorker {
			want++
		}
		if len(lines) != want {
			t.Fatalf("%d lines for %d hosts:\n%s", len(lines), want, out)
		}
		for _, l := range lines {
			if !strings.HasPrefix(l, "pi-") || !strings.Contains(l, ".pi.team-a.svc") {
				t.Fatalf("line %q does not name a host of the job", l)
			}
		}
	})
}
