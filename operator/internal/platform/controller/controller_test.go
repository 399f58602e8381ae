package controller

import (
	"strings"
	"testing"
)

func TestRedundancyMessage(t *testing.T) {
	for _, c := range []struct {
		want, ready int32
		says        string
	}{
		{2, 2, ""},
		{3, 2, ""},
		{1, 1, "replicas is 1"},
		{2, 1, "1 of 2 replicas ready"},
	} {
		got := redundancy(c.want, c.ready)
		if c.says == "" && got != "" || !strings.Contains(got, c.says) {
			t.Errorf("redundancy(%d, %d) = %q, want it to say %q", c.want, c.ready, got, c.says)
		}
	}
}
