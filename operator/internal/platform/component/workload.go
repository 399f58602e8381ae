package component

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// ImageOr is the image a component's spec names, else the operator's own.
func (in Inputs) ImageOr(image string) string {
	if image != "" {
		return image
	}
	return in.Image
}

// ResourcesOr is the spec's resources when set, else requests of cpu and
// memory and a memory limit.
func ResourcesOr(spec *corev1.ResourceRequirements, cpu, memory, memoryLimit string) corev1.ResourceRequirements {
	if spec != nil {
		return *spec
	}
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memoryLimit)},
	}
}

// RestrictedContainer is the container security context of the
// platform's workloads (Pod Security "restricted", OpenShift
// restricted-v2).
func RestrictedContainer() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

// RestrictedPod is the matching pod security context.
func RestrictedPod() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
}
