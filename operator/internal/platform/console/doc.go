// Package console is the platform's console component: the web console
// Deployment (the manager image with --role=console), its ServiceAccount
// and Service, and optionally oauth-proxy in the same pod, an OpenShift
// Route and an Ingress.
//
// The console needs no RBAC of its own: it acts with each caller's bearer
// token (forwarded by the authenticating proxy), so Kubernetes RBAC decides
// what every user sees. Its ServiceAccount only names the OAuth client for
// oauth-proxy.
package console

// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=route.openshift.io,resources=routes,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=route.openshift.io,resources=routes/custom-host,verbs=create;update;patch
