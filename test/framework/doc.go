// Package framework starts real control planes for tests.
//
// Integration suites get etcd and kube-apiserver through controller-runtime's
// envtest (StartControlPlane); end-to-end suites get the whole dev cluster:
// controllers, scheduler, kwok nodes and Kueue (RunWithCluster). Both use the
// binaries that tools/devcluster builds from pinned Go modules, so a test never
// downloads anything, and both stop what they started when the package's tests
// end, failed or not.
package framework
