package cmd

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
)

// kubeLogSource is logs.Source over the Kubernetes API.
type kubeLogSource struct {
	cl       client.Client
	kube     kubernetes.Interface
	ns, job  string
	launcher bool   // the launcher
	worker   int    // worker index, when >= 0 and !launcher and !all
	all      bool   // every pod
	since    int64  // seconds, 0 for all
	tail     *int64 // last lines of each log; nil for all
}

func (s *kubeLogSource) Pods(ctx context.Context) ([]corev1.Pod, error) {
	var list corev1.PodList
	if err := s.cl.List(ctx, &list, client.InNamespace(s.ns), client.MatchingLabels{kubeflow.JobNameLabel: s.job}); err != nil {
		return nil, fmt.Errorf("listing the pods of mpijob %s: %w", s.job, err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		role := p.Labels[kubeflow.JobRoleLabel]
		switch {
		case s.all:
		case s.launcher:
			if role != kubeflow.RoleLauncher {
				continue
			}
		default:
			if role != kubeflow.RoleWorker || p.Labels[kubeflow.ReplicaIndexLabel] != strconv.Itoa(s.worker) {
				continue
			}
		}
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := out[i].Labels[kubeflow.JobRoleLabel], out[j].Labels[kubeflow.JobRoleLabel]
		if ri != rj {
			return ri == kubeflow.RoleLauncher
		}
		ii, _ := strconv.Atoi(out[i].Labels[kubeflow.ReplicaIndexLabel])
		ij, _ := strconv.Atoi(out[j].Labels[kubeflow.ReplicaIndexLabel])
		if ii != ij {
			return ii < ij
		}
		return out[i].CreationTimestamp.Before(&out[j].CreationTimestamp)
	})
	return out, nil
}

// logOptions are the log request's options for a pod.
func (s *kubeLogSource) logOptions(pod *corev1.Pod, follow bool) *corev1.PodLogOptions {
	opts := &corev1.PodLogOptions{Follow: follow, TailLines: s.tail}
	if len(pod.Spec.Containers) > 0 {
		opts.Container = pod.Spec.Containers[0].Name
	}
	if s.since > 0 {
		opts.SinceSeconds = &s.since
	}
	return opts
}

func (s *kubeLogSource) Stream(ctx context.Context, pod *corev1.Pod, follow bool) (io.ReadCloser, error) {
	opts := s.logOptions(pod, follow)
	rc, err := s.kube.CoreV1().Pods(s.ns).GetLogs(pod.Name, opts).Stream(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the log: %w", err)
	}
	return rc, nil
}

func (s *kubeLogSource) Finished(ctx context.Context) (bool, error) {
	var job kubeflow.MPIJob
	if err := s.cl.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: s.job}, &job); err != nil {
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, fmt.Errorf("reading mpijob %s: %w", s.job, err)
	}
	return mpijob.PhaseOf(&job).Finished(), nil
}
