// Package cluster builds and runs the project's local real Kubernetes cluster.
//
// Our machines have no Docker engine and cannot download release binaries, so
// the control plane is compiled from Go modules pinned in tools/cluster/*
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl,
// kwok and Kueue), cached by version, and started as plain processes that
// listen on 127.0.0.1 only. kwok simulates GPU and CPU nodes; pods on them
// reach Running and, when annotated, finish with a chosen exit code.
//
// The same code serves three callers: `go run ./tools/devcluster` (make
// cluster-up/down/status, make demo), the e2e test framework (one cluster per
// test package) and integration suites (etcd + kube-apiserver through
// envtest's KUBEBUILDER_ASSETS).
package cluster
