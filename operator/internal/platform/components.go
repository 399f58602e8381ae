package platform

import (
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/component"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/console"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/controller"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/kueue"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/monitoring"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/networkpolicy"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/rbac"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/webhooks"
)

// Components in the order they are reconciled and reported: the
// controller first (the webhooks are served by it), then what jobs use.
func Components() []component.Component {
	return []component.Component{
		controller.Component{},
		webhooks.Component{},
		kueue.Component{},
		rbac.Component{},
		networkpolicy.Component{},
		monitoring.Component{},
		console.Component{},
	}
}
