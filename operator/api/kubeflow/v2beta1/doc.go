// Package v2beta1 is the kubeflow.org/v2beta1 MPIJob API, field-for-field
// compatible on the wire with Kubeflow's mpi-operator v0.8, so that existing
// MPIJob manifests and Kueue's kubeflow.org/mpijob integration work unchanged.
// Our additions are optional and marked as such.
//
// +kubebuilder:object:generate=true
// +groupName=kubeflow.org
package v2beta1
