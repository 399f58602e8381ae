// Package rbac is the platform's rbac component: the
// mpijob-platform-user, -viewer and -admin ClusterRoles from
// config/rbac/user-roles (user and viewer aggregate into edit and view).
package rbac

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mpijob-platform/mpijob-platform/config"
	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/component"
)

// Component is rbac.
type Component struct{}

var _ component.Component = Component{}

func (Component) Name() string { return "RBAC" }
func (Component) Key() string  { return "rbac" }

func (Component) State(spec *platformv1.MPIJobPlatformSpec) string {
	return string(spec.RBAC.ManagementState)
}

func (Component) Kinds() []schema.GroupVersionKind {
	return []schema.GroupVersionKind{rbacv1.SchemeGroupVersion.WithKind("ClusterRole")}
}

// Desired returns the three roles as shipped in config/.
func (Component) Desired(component.Inputs) ([]client.Object, error) {
	roles, err := config.UserRoles()
	if err != nil {
		return nil, err
	}
	objs := make([]client.Object, len(roles))
	for i := range roles {
		objs[i] = &roles[i]
	}
	return objs, nil
}

// Ready once applied: roles need nothing else.
func (Component) Ready(context.Context, client.Reader, component.Inputs) (bool, string, error) {
	return true, "user, viewer and admin ClusterRoles installed", nil
}
