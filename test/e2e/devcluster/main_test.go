// Package devcluster_test proves that the local cluster is a real one:
// controllers reconcile, the scheduler schedules, the garbage collector
// cascades, kwok nodes run and finish pods, and Kueue gates Jobs by quota.
package devcluster_test

import (
	"os"
	"testing"

	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

var env *framework.Env

func TestMain(m *testing.M) {
	os.Exit(framework.RunWithCluster(m, framework.ClusterOptions{}, &env))
}
