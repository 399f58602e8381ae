// Package backend is the web console's REST API (/api/v1). Every request
// acts with the caller's own identity: the bearer token in its
// Authorization header (put there by an authenticating proxy such as
// oauth-proxy or kube-rbac-proxy, or by the browser in local use) builds a
// per-request client, so Kubernetes RBAC decides what each user sees and
// does. The backend's own credentials are used for nothing a user asked
// for; a request without a token gets 401.
//
// Handlers are thin: the MPIJob is built by cli/pkg/builder, summarised by
// cli/pkg/printers and its logs multiplexed by cli/pkg/logs, so the CLI
// and the console say the same things about a job.
package backend
