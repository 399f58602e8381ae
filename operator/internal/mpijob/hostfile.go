package mpijob

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// hostFQDN is the stable DNS name of a pod in the job's headless Service.
func hostFQDN(job *kubeflow.MPIJob, pod, clusterDomain string) string {
	name := fmt.Sprintf("%s.%s.%s.svc", pod, serviceName(job), job.Namespace)
	if clusterDomain != "" {
		name += "." + clusterDomain
	}
	return name
}

// hostfile lists every rank host with its slots in the syntax of the job's
// MPI implementation: "host slots=N" for Open MPI, "host:N" for Intel MPI
// and MPICH. The launcher comes first when it is a worker too.
func hostfile(job *kubeflow.MPIJob, clusterDomain string) string {
	slots := ptr.Deref(job.Spec.SlotsPerWorker, 1)
	var hosts []string
	if job.LauncherIsWorker() {
		hosts = append(hosts, launcherName(job))
	}
	for i := 0; i < int(job.Workers()); i++ {
		hosts = append(hosts, workerName(job, i))
	}
	var b strings.Builder
	for _, h := range hosts {
		fqdn := hostFQDN(job, h, clusterDomain)
		switch job.Spec.MPIImplementation {
		case kubeflow.MPIImplementationIntel, kubeflow.MPIImplementationMPICH:
			fmt.Fprintf(&b, "%s:%d\n", fqdn, slots)
		default:
			fmt.Fprintf(&b, "%s slots=%d\n", fqdn, slots)
		}
	}
	return b.String()
}

// discoverHosts is a script for elastic launchers (Horovod's
// --host-discovery-script) that prints the hosts currently running, sorted.
func discoverHosts(job *kubeflow.MPIJob, workers []corev1.Pod, clusterDomain string) string {
	var running []string
	for i := range workers {
		if workers[i].Status.Phase == corev1.PodRunning && workers[i].DeletionTimestamp == nil {
			running = append(running, workers[i].Name)
		}
	}
	sort.Strings(running)
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	if job.LauncherIsWorker() {
		fmt.Fprintf(&b, "echo %s\n", hostFQDN(job, launcherName(job), clusterDomain))
	}
	for _, name := range running {
		fmt.Fprintf(&b, "echo %s\n", hostFQDN(job, name, clusterDomain))
	}
	return b.String()
}

// desiredConfigMap is the <job>-config ConfigMap mounted at /etc/mpi. It
// is built only for a job that passed validation, whose limits bound it:
// kubeflow.MaxWorkers lines of at most MaxNameLength-based host names keep
// it under half of the 1 MiB a ConfigMap may hold with a cluster domain of
// up to 63 characters, and under 1 MiB with any (limits_test.go).
func desiredConfigMap(job *kubeflow.MPIJob, workers []corev1.Pod, clusterDomain string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: childMeta(job, configMapName(job), appLabels(job)),
		Data: map[string]string{
			hostfileName:            hostfile(job, clusterDomain),
			discoverHostsScriptName: discoverHosts(job, workers, clusterDomain),
		},
	}
}

// desiredService is the headless Service that gives every pod of the job a
// DNS name (<pod>.<job>.<ns>.svc).
func desiredService(job *kubeflow.MPIJob) *corev1.Service {
	// The launcher is selected too: Intel MPI and MPICH workers call back
	// to the launcher by its hostname.
	selector := map[string]string{
		kubeflow.OperatorNameLabel: kubeflow.OperatorName,
		kubeflow.JobNameLabel:      job.Name,
	}
	return &corev1.Service{
		ObjectMeta: childMeta(job, serviceName(job), appLabels(job)),
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  selector,
			// Hostnames resolve as soon as pods have addresses, not when
			// they turn Ready: a launcher never starts mpirun against names
			// that do not resolve yet (mpi-operator#386), and a launcher that
			// is also a worker never waits on its own readiness.
			PublishNotReadyAddresses: true,
		},
	}
}
