package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// The floor is what the cluster itself can do: no MPIJob controller, and
// per job the objects a controller would make (the workers, the launcher
// Job, the ConfigMap, the SSH Secret and the headless Service) created by
// the bench at once, all of a job's objects together. Its Succeeded is the
// launcher Job's completion.

// floorUserAgent marks the bench's own writes in the audit log.
const floorUserAgent = "mpijob-bench-floor/"

// createFloorJob creates one job's children in parallel.
func createFloorJob(ctx context.Context, cl client.Client, name string, o options) error {
	job := benchJob(name, o)
	labels := func(role string) map[string]string {
		return map[string]string{kubeflow.OperatorNameLabel: kubeflow.OperatorName, kubeflow.JobNameLabel: name, kubeflow.JobRoleLabel: role}
	}
	objs := []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: benchNamespace, Name: name + "-ssh"}, Type: corev1.SecretTypeSSHAuth,
			Data: map[string][]byte{corev1.SSHAuthPrivateKey: []byte("bench"), "ssh-publickey": []byte("bench")}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: benchNamespace, Name: name + "-config"},
			Data: map[string]string{"hostfile": hostfile(name, o.Workers)}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: benchNamespace, Name: name}, Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{kubeflow.JobNameLabel: name}, PublishNotReadyAddresses: true,
		}},
	}
	worker := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template
	for i := 0; i < o.Workers; i++ {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: benchNamespace, Name: fmt.Sprintf("%s-worker-%d", name, i), Labels: labels(kubeflow.RoleWorker)},
			Spec: *worker.Spec.DeepCopy()}
		p.Labels[kubeflow.ReplicaIndexLabel] = strconv.Itoa(i)
		p.Spec.Hostname, p.Spec.Subdomain = p.Name, name
		objs = append(objs, p)
	}
	launcher := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template
	tmpl := *launcher.DeepCopy()
	tmpl.Labels = labels(kubeflow.RoleLauncher)
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	tmpl.Spec.Hostname, tmpl.Spec.Subdomain = name+"-launcher", name
	objs = append(objs, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: benchNamespace, Name: name + "-launcher", Labels: labels(kubeflow.RoleLauncher)},
		Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](6), Template: tmpl}})

	return forEach(len(objs), len(objs), func(i int) error {
		if err := cl.Create(ctx, objs[i]); err != nil {
			return fmt.Errorf("creating %T %s: %w", objs[i], objs[i].GetName(), err)
		}
		return nil
	})
}

func hostfile(name string, workers int) string {
	var s string
	for i := 0; i < workers; i++ {
		s += fmt.Sprintf("%s-worker-%d.%s.%s.svc slots=1\n", name, i, name, benchNamespace)
	}
	return s
}

// launcherJobDone says when the floor's job is over: its launcher Job
// completed.
func launcherJobDone(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// createHistory creates o.History MPIJobs that finished long ago (their
// status says Succeeded), before the controller starts: what a cluster
// without TTLs keeps.
func createHistory(ctx context.Context, cl client.Client, o options) error {
	if o.History == 0 {
		return nil
	}
	start := time.Now()
	done := metav1.NewTime(start.Add(-time.Hour))
	err := forEach(o.History, 16, func(i int) error {
		job := benchJob(fmt.Sprintf("old-%05d", i), o)
		if err := cl.Create(ctx, job); err != nil {
			return fmt.Errorf("creating finished job %s: %w", job.Name, err)
		}
		job.Status.StartTime, job.Status.CompletionTime = &done, &done
		for _, t := range []kubeflow.JobConditionType{kubeflow.JobCreated, kubeflow.JobSucceeded} {
			job.Status.Conditions = append(job.Status.Conditions, kubeflow.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: "Bench", LastTransitionTime: done, LastUpdateTime: done})
		}
		if err := cl.Status().Update(ctx, job); err != nil {
			return fmt.Errorf("finishing job %s: %w", job.Name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: %d finished MPIJobs created in %s\n", o.History, time.Since(start).Round(time.Second))
	return nil
}

// rssSampler reads the controller's RSS once a second.
type rssSampler struct {
	stopped     chan struct{}
	done        chan struct{}
	first, most float64
}

func sampleRSS(ctrl *controllerProc) *rssSampler {
	s := &rssSampler{stopped: make(chan struct{}), done: make(chan struct{})}
	if ctrl.cmd == nil {
		close(s.done)
		return s
	}
	pid := ctrl.cmd.Process.Pid
	s.first = currentRSSMiB(pid)
	s.most = s.first
	go func() {
		defer close(s.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-s.stopped:
				return
			case <-tick.C:
				s.most = max(s.most, currentRSSMiB(pid))
			}
		}
	}()
	return s
}

// stop ends the sampling: the RSS at start and the most sampled.
func (s *rssSampler) stop() (first, most float64) {
	select {
	case <-s.done:
	default:
		close(s.stopped)
		<-s.done
	}
	return s.first, s.most
}

func currentRSSMiB(pid int) float64 { return procStatusMiB(pid, "VmRSS") }
