// Package console is the platform's console component. The web console
// does not exist yet, so the toggle is Removed by default and Managed
// reports that it is unavailable.
package console

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/component"
)

// Component is console.
type Component struct{}

var _ component.Component = Component{}

func (Component) Name() string { return "Console" }
func (Component) Key() string  { return "console" }

func (Component) State(spec *platformv1.MPIJobPlatformSpec) string {
	return string(spec.Console.ManagementState)
}

func (Component) Kinds() []schema.GroupVersionKind { return nil }

func (Component) Desired(component.Inputs) ([]client.Object, error) { return nil, nil }

// Ready is never true in this version.
func (Component) Ready(context.Context, client.Reader, component.Inputs) (bool, string, error) {
	return false, "the web console is not available in this version: set spec.console.managementState to Removed", nil
}
