package main

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/mpijob-platform/mpijob-platform/operator/api/config/v1alpha1"
	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/mpijob"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/component"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/controller"
)

// TestPlatformConfigurationRunsTheController: what the platform renders
// into the controller's ConfigMap loads and turns into the settings it
// was made from.
func TestPlatformConfigurationRunsTheController(t *testing.T) {
	p := &platformv1.MPIJobPlatform{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	p.Spec.MPIJobController.Workers = 16 // what the CRD schema defaults
	p.Spec.MPIJobController.SSHKeyType = "rsa"
	p.Spec.MPIJobController.GangScheduling = "scheduler-plugins"
	p.Spec.JobDefaults.NCCLEnv = map[string]string{"NCCL_SOCKET_IFNAME": "eth0"}
	p.Spec.Webhooks.MaxWorkers = 64
	p.Spec.Webhooks.AllowHostNetwork = true
	data, err := controller.Configuration(component.Inputs{Platform: p, Namespace: "mpijob-system"}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c, err := configv1alpha1.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	cfg, policy, err := settings(c, "mpijob-system")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SSHKeyType != mpijob.SSHKeyRSA || cfg.GangScheduler != "scheduler-plugins" || cfg.NCCLEnv["NCCL_SOCKET_IFNAME"] != "eth0" || cfg.NCCLEnv["NCCL_DEBUG"] != "WARN" {
		t.Errorf("controller settings %+v", cfg)
	}
	if policy.MaxWorkers != 64 || !policy.AllowHostNetwork || !policy.EnforceIstioSidecarOptOut || policy.PlatformNamespace != "mpijob-system" {
		t.Errorf("webhook policy %+v", policy)
	}
	if cfg.Policy.MaxWorkers != 64 || cfg.Policy.PlatformNamespace != "mpijob-system" {
		t.Errorf("the controller's pod policy %+v differs from the webhooks'", cfg.Policy)
	}
}

func TestSettingsRefuseBrokenConfigurations(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*configv1alpha1.ControllerConfiguration)
		want   string
	}{
		"key type":    {func(c *configv1alpha1.ControllerConfiguration) { c.SSHKeyType = "dsa" }, "sshKeyType: unknown SSH key type"},
		"gang":        {func(c *configv1alpha1.ControllerConfiguration) { c.GangScheduling = "kube-batch" }, `gang scheduler "kube-batch" is not supported`},
		"max workers": {func(c *configv1alpha1.ControllerConfiguration) { c.PodPolicy.MaxWorkers = 5000 }, "max workers 5000"},
		"workers":     {func(c *configv1alpha1.ControllerConfiguration) { c.Workers = -1 }, "workers -1"},
		"nccl name": {func(c *configv1alpha1.ControllerConfiguration) {
			c.JobDefaults.NCCLEnv = map[string]string{"1BAD": "x"}
		}, `environment variable name "1BAD"`},
	} {
		t.Run(name, func(t *testing.T) {
			c := configv1alpha1.New()
			tc.mutate(c)
			c.Default()
			if _, _, err := settings(c, "ns"); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
