// Package platform reconciles the MPIJobPlatform named default. Each
// component (one sub-package each) renders its desired objects with pure
// code; the reconciler server-side applies those that differ from the
// cluster with one field owner, deletes by label what a component no
// longer wants (all of it when the component is Removed), and reports each
// component's readiness as <Component>Ready, summarised by Ready and
// Degraded. Nothing is written when nothing changed. Components whose CRDs
// are missing (Kueue, prometheus-operator, cert-manager) are degraded with
// a reason naming what to install and recover when the CRD appears.
package platform

// What the platform creates and deletes; controller-gen merges the markers
// of the platform's packages into the operator's role. The ClusterRoles
// that grant more than the operator uses itself (the controller's and the
// users') ship with the operator instead of being created by it, so it
// holds no escalate: it binds the controller's ClusterRole by name, and
// creates the controller's namespaced Role only with rules it holds itself
// in its namespace (tools/packaging).
//
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=serviceaccounts;services,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterrolebindings;roles;rolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles,verbs=bind,resourceNames=mpijob-platform-controller;mpijob-platform-console
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations;validatingwebhookconfigurations,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=kueue.x-k8s.io,resources=resourceflavors;clusterqueues;localqueues,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=servicemonitors;prometheusrules,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=cert-manager.io,resources=certificates,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=grafana.integreatly.org,resources=grafanadashboards,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
