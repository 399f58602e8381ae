package mpijob

import (
	"strings"
	"testing"
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
