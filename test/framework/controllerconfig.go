package framework

import (
	"fmt"
	"os"

	configv1alpha1 "github.com/mpijob-platform/mpijob-platform/operator/api/config/v1alpha1"
)

// ControllerConfig writes a controller configuration file, as the platform
// renders it into the controller's ConfigMap, and returns the --config
// flag that loads it. mutate sets what the test needs on an empty
// configuration (the controller defaults the rest).
func ControllerConfig(mutate func(*configv1alpha1.ControllerConfiguration)) (string, error) {
	c := configv1alpha1.New()
	if mutate != nil {
		mutate(c)
	}
	data, err := c.Marshal()
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp("", "mpijob-controller-config-*.yaml")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return "", err
	}
	return fmt.Sprintf("--config=%s", f.Name()), nil
}

// NetworkPolicyConfig is the --config flag of a controller that creates a
// NetworkPolicy per job, as the platform runs it by default.
func NetworkPolicyConfig() (string, error) {
	return ControllerConfig(func(c *configv1alpha1.ControllerConfiguration) { c.NetworkPolicy = true })
}
