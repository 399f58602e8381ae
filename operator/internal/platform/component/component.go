// Package component is the contract between the platform reconciler and
// each component: a component renders its desired objects from the
// MPIJobPlatform spec with pure code, and judges its own readiness from
// what the cluster reports.
package component

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
)

// Labels every object of the platform carries; Removed components are
// garbage-collected by them.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "mpijob-platform"
	PartOfLabel    = "app.kubernetes.io/part-of"
	PartOf         = "mpijob-platform"
	// ComponentLabel names the component that owns an object.
	ComponentLabel = "platform.mpijob.io/component"
)

// Inputs are what components render from besides the spec.
type Inputs struct {
	Platform *platformv1.MPIJobPlatform
	// Namespace is where the platform runs its workloads (the operator's).
	Namespace string
	// Image is the manager image the controller Deployment runs when the
	// spec names none.
	Image string
	// LocalWebhookURL, when set, points webhook configurations at a
	// manager on loopback (dev cluster) instead of the webhook Service.
	LocalWebhookURL string
	// Namespaces are all namespaces, for components that select them.
	Namespaces []corev1.Namespace
}

// Component is one toggle of MPIJobPlatform.
type Component interface {
	// Name is the condition prefix: <Name>Ready.
	Name() string
	// Key is the value of ComponentLabel on the component's objects.
	Key() string
	// State is the component's managementState in the spec.
	State(spec *platformv1.MPIJobPlatformSpec) string
	// Kinds are every kind the component may create, for garbage
	// collection. Optional kinds (from CRDs that may be absent) are
	// reported by Optional.
	Kinds() []schema.GroupVersionKind
	// Desired renders the objects the component needs, without reading
	// the cluster.
	Desired(in Inputs) ([]client.Object, error)
	// Ready says whether the applied objects work; the message says what
	// is missing otherwise.
	Ready(ctx context.Context, c client.Reader, in Inputs) (bool, string, error)
}

// Optional marks kinds served by CRDs that may be absent, with what to
// install to get them.
type Optional interface {
	OptionalKinds() map[schema.GroupKind]string
}

// Labels returns the labels of a component's objects.
func Labels(key string) map[string]string {
	return map[string]string{ManagedByLabel: ManagedBy, PartOfLabel: PartOf, ComponentLabel: key}
}

// Soft marks optional kinds whose absence does not degrade the component:
// their objects are created only while the CRD exists.
type Soft interface {
	SoftKinds() map[schema.GroupKind]bool
}
