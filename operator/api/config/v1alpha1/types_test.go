package v1alpha1

import (
	"maps"
	"strings"
	"testing"
)

func TestLoadDefaultsAndMergesNCCL(t *testing.T) {
	c, err := Load([]byte(`apiVersion: config.mpijob.io/v1alpha1
kind: ControllerConfiguration
networkPolicy: true
jobDefaults:
  ncclEnv: {NCCL_IB_DISABLE: "1"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.NetworkPolicy || c.Workers != 16 || c.SSHKeyType != "ecdsa" || !*c.JobDefaults.IstioSidecarOptOut || !*c.Webhooks.EnforceIstioSidecarOptOut {
		t.Errorf("defaults: %+v", c)
	}
	if want := map[string]string{"NCCL_DEBUG": "WARN", "NCCL_IB_DISABLE": "1"}; !maps.Equal(c.JobDefaults.NCCLEnv, want) {
		t.Errorf("NCCL env %v, want %v", c.JobDefaults.NCCLEnv, want)
	}
}

func TestLoadRefuses(t *testing.T) {
	for name, tc := range map[string]struct{ data, want string }{
		"unknown field": {"apiVersion: config.mpijob.io/v1alpha1\nkind: ControllerConfiguration\nnetworkPolicies: true\n", "unknown field"},
		"wrong kind":    {"apiVersion: config.mpijob.io/v1alpha1\nkind: Configuration\n", "want apiVersion config.mpijob.io/v1alpha1 and kind ControllerConfiguration"},
		"no type":       {"workers: 2\n", "want apiVersion"},
		"not YAML":      {"workers: [", "reading the controller configuration"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Load([]byte(tc.data)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestMarshalLoadsBack(t *testing.T) {
	c := New()
	c.GangScheduling = "volcano"
	c.PodPolicy.MaxWorkers = 64
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.GangScheduling != "volcano" || back.PodPolicy.MaxWorkers != 64 {
		t.Errorf("loaded back %+v from\n%s", back, data)
	}
}
