// Package mpijob reconciles kubeflow.org/v2beta1 MPIJobs.
//
// For each job it owns, with upstream mpi-operator's names, labels and
// environment so that images built for it run unchanged: the SSH Secret
// <job>-ssh, the ConfigMap <job>-config (hostfile, discover_hosts.sh), the
// headless Service <job>, worker Pods <job>-worker-<i> and the launcher
// batch/v1 Job <job>-launcher.
//
// Files by concern: controller.go (setup and the Reconcile skeleton),
// setup.go (cache and watches), builders (ssh.go, hostfile.go, names.go,
// workers.go, launcher.go, jobdefaults.go, networkpolicy.go, podgroup.go:
// pure functions without a client), lifecycle.go (conditions through a
// job's life, cleanPodPolicy, TTL), status.go (replica counts and writes),
// diagnosis.go (why a job failed and what to change, in the reasons of
// pkg/mpijob), expectations.go (writes the cache has not shown yet),
// coalesce.go (optional writes held back), memory.go (what was already
// seen or reported), events.go, metrics.go, config.go. Tests build jobs
// with pkg/mpijob/wrappers; lifecycle_test.go drives suspend/resume,
// cleanPodPolicy and TTL on a fake client.
package mpijob
