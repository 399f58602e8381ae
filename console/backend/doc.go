// Package backend is the web console's REST API (/api/v1). Every request
// acts with the caller's own identity: the bearer token in its
// Authorization header (put there by an authenticating proxy such as
// oauth-proxy or kube-rbac-proxy, or by the browser in local use) builds a
// per-request client, so Kubernetes RBAC decides what each user sees and
// does. The backend's own credentials are used for nothing a user asked
// for; a request without a token gets 401.
//
// Handlers are thin: the MPIJob is built and validated by
// pkg/mpijob/jobspec, its phase is pkg/mpijob's, it is summarised by
// pkg/mpijob/printers and its logs multiplexed by pkg/mpijob/logs, so the
// CLI, the console and the controller's metrics say the same things about
// a job.
package backend
