// Package console is the platform's console component: the web console
// Deployment (the manager image with --role=console), its ServiceAccount
// and Service, and optionally oauth-proxy in the same pod, an OpenShift
// Route and an Ingress.
//
// The console acts with each caller's bearer token (forwarded by the
// authenticating proxy), so Kubernetes RBAC decides what every user sees.
// Its ServiceAccount names the OAuth client for oauth-proxy and is bound to
// the shipped ClusterRole identity.ConsoleClusterRole (list and watch
// MPIJobs) for the job index the list page is served from, which shows a
// caller only the namespaces the API server says they may list.
package console

// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=route.openshift.io,resources=routes,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=route.openshift.io,resources=routes/custom-host,verbs=create;update;patch
