// Package v1alpha1 is the platform.mpijob.io/v1alpha1 API: the cluster-scoped
// MPIJobPlatform resource, one object named "default", whose per-component
// managementState installs and removes the platform's parts.
//
// +kubebuilder:object:generate=true
// +groupName=platform.mpijob.io
package v1alpha1
