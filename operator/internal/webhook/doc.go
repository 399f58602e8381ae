// Package webhook holds the platform's MPIJob admission webhooks.
//
// The mutating webhook applies upstream mpi-operator's defaults, the
// platform's Istio sidecar opt-out, and a default Kueue queue for jobs that
// name none. The validating webhook runs the same validation function as
// the controller (so a webhook outage never lets an invalid job run: the
// controller still refuses it), the platform's pod-template policy, checks
// that the named LocalQueue exists, and pre-checks quota: a job that can
// never fit in its namespace's ResourceQuotas or its ClusterQueue (nominal
// quota plus what it may borrow) is rejected with the numbers, and one
// that fits only once others finish is admitted with a warning.
package webhook
