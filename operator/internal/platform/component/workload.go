package component

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
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

// DeploymentReady says whether Deployment ns/name has rolled out and is
// Available, with a message saying how far it is.
func DeploymentReady(ctx context.Context, c client.Reader, ns, name string) (bool, string, error) {
	d := &appsv1.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		return false, "", client.IgnoreNotFound(err)
	}
	want := ptr.Deref(d.Spec.Replicas, 1)
	// Rolled out as `kubectl rollout status` means it: every replica
	// updated, no old one left, every updated one available. Until then
	// old and new pods serve side by side (an upgrade half done), and the
	// platform is not Ready.
	st := d.Status
	if st.ObservedGeneration < d.Generation || st.UpdatedReplicas < want || st.Replicas > st.UpdatedReplicas {
		return false, fmt.Sprintf("Deployment %s/%s is rolling out (%d of %d updated, %d old left)",
			d.Namespace, d.Name, st.UpdatedReplicas, want, max(st.Replicas-st.UpdatedReplicas, 0)), nil
	}
	for _, cond := range d.Status.Conditions {
		if cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue && st.AvailableReplicas >= st.UpdatedReplicas {
			return true, fmt.Sprintf("Deployment %s/%s is Available (%d/%d ready)", d.Namespace, d.Name, d.Status.ReadyReplicas, want), nil
		}
	}
	return false, fmt.Sprintf("Deployment %s/%s is not Available yet (%d/%d ready)", d.Namespace, d.Name, d.Status.ReadyReplicas, want), nil
}
