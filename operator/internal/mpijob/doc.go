// Package mpijob reconciles kubeflow.org/v2beta1 MPIJobs.
//
// For each job it owns, with upstream mpi-operator's names, labels and
// environment so that images built for it run unchanged: the SSH Secret
// <job>-ssh, the ConfigMap <job>-config (hostfile, discover_hosts.sh), the
// headless Service <job>, worker Pods <job>-worker-<i> and the launcher
// batch/v1 Job <job>-launcher.
//
// Files by concern: controller.go (setup and the Reconcile skeleton),
// builders (ssh.go, hostfile.go, service.go, workers.go, launcher.go,
// jobdefaults.go, networkpolicy.go: pure functions without a client),
// status.go (conditions and replica counts), diagnosis.go (why a job failed
// and what to change), cleanup.go (cleanPodPolicy, TTL), metrics.go.
package mpijob
