package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of MPIJobPlatform.
const GroupName = "platform.mpijob.io"

var (
	// SchemeGroupVersion is platform.mpijob.io/v1alpha1.
	SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}

	schemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme registers MPIJobPlatform and MPIJobPlatformList.
	AddToScheme = schemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion, &MPIJobPlatform{}, &MPIJobPlatformList{})
	metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
	return nil
}
