package mpijob

import (
	"strings"
	"testing"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

func TestConfigValidateGangScheduler(t *testing.T) {
	for _, ok := range []string{GangSchedulerNone, GangSchedulerVolcano, GangSchedulerSchedulerPlugins} {
		cfg := DefaultConfig()
		cfg.GangScheduler = ok
		if err := cfg.Validate(); err != nil {
			t.Errorf("GangScheduler %q: %v", ok, err)
		}
	}
	// Upstream's "any other value is a scheduler-plugins scheduler name"
	// form, wrong case, and typos are refused with the allowed values.
	for _, bad := range []string{"scheduler-plugins-scheduler", "Volcano", "kueue", " volcano"} {
		cfg := DefaultConfig()
		cfg.GangScheduler = bad
		err := cfg.Validate()
		if err == nil {
			t.Errorf("GangScheduler %q accepted", bad)
			continue
		}
		for _, want := range []string{`"volcano"`, `"scheduler-plugins"`, "empty for no gang scheduling", "schedulerName"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("GangScheduler %q: error %q does not mention %s", bad, err, want)
			}
		}
	}
}

func TestConfigValidatePolicyMaxWorkers(t *testing.T) {
	for n, ok := range map[int32]bool{0: true, 1: true, kubeflow.MaxWorkers: true, -1: false, kubeflow.MaxWorkers + 1: false} {
		cfg := DefaultConfig()
		cfg.Policy.MaxWorkers = n
		if err := cfg.Validate(); (err == nil) != ok {
			t.Errorf("MaxWorkers %d: error %v, want accepted=%v", n, err, ok)
		}
	}
}
