package v2beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of MPIJob.
const GroupName = "kubeflow.org"

var (
	// SchemeGroupVersion is kubeflow.org/v2beta1.
	SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v2beta1"}
	// SchemeGroupVersionKind is the MPIJob kind.
	SchemeGroupVersionKind = SchemeGroupVersion.WithKind("MPIJob")

	schemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme registers MPIJob and MPIJobList.
	AddToScheme = schemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion, &MPIJob{}, &MPIJobList{})
	metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
	return nil
}
