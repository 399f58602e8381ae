// Package rbac is the platform's rbac component. The mpijob-platform-user,
// -viewer and -admin ClusterRoles (config/rbac/user-roles; user and viewer
// aggregate into edit and view) ship with the operator in the chart, the
// bundle and the kustomize bases: creating them from the operator would
// need escalate, since they grant what the operator itself never uses. The
// component checks that they are installed and reports it.
package rbac

import (
	"context"
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mpijob-platform/mpijob-platform/config"
	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/component"
)

// Reading the shipped roles to report whether they are installed.
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles,verbs=get;list;watch

// Component is rbac.
type Component struct{}

var _ component.Component = Component{}

func (Component) Name() string { return "RBAC" }
func (Component) Key() string  { return "rbac" }

func (Component) State(spec *platformv1.MPIJobPlatformSpec) string {
	return string(spec.RBAC.ManagementState)
}

// Kinds is empty: the component creates nothing.
func (Component) Kinds() []schema.GroupVersionKind { return nil }

// Desired is nothing: the roles ship with the operator.
func (Component) Desired(component.Inputs) ([]client.Object, error) { return nil, nil }

// Ready when every shipped user role exists.
func (Component) Ready(ctx context.Context, c client.Reader, _ component.Inputs) (bool, string, error) {
	roles, err := config.UserRoles()
	if err != nil {
		return false, "", err
	}
	var missing []string
	for _, r := range roles {
		err := c.Get(ctx, client.ObjectKey{Name: r.Name}, &rbacv1.ClusterRole{})
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, r.Name)
		case err != nil:
			return false, "", err
		}
	}
	if len(missing) > 0 {
		return false, fmt.Sprintf("ClusterRoles %s are missing: they ship with the operator (Helm chart, OLM bundle, config/default); reinstall or upgrade it", strings.Join(missing, ", ")), nil
	}
	return true, "user, viewer and admin ClusterRoles installed with the operator", nil
}
