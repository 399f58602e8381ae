package main

import (
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/mpijob-platform/mpijob-platform/operator/pkg/leaderfence"
)

// The elector's timings (controller-runtime's defaults, written down
// because the fence depends on them): a standby takes over leaseDuration
// after the last renewal it saw, the leader gives up when it could not
// renew for renewDeadline, and the fence stops its writes at the same
// moment, well before a standby may start.
const (
	leaseDuration = 15 * time.Second
	renewDeadline = 10 * time.Second
	retryPeriod   = 2 * time.Second
)

// leaderElection returns the fenced Lease lock of this replica (Lease
// role.mpijob.io in namespace) and, through restCfg's WrapTransport, closes
// every write of the process once the Lease is older than the renew
// deadline. The lock itself uses an unfenced copy of the config.
func leaderElection(restCfg *rest.Config, role, namespace string) (resourcelock.Interface, *leaderfence.Fence, error) {
	host, err := os.Hostname()
	if err != nil {
		return nil, nil, err
	}
	id := host + "_" + uuid.NewString()
	if pod := os.Getenv("POD_NAME"); pod != "" {
		id = pod + "_" + uuid.NewString()
	}
	lockCfg := rest.CopyConfig(restCfg)
	lockCfg.UserAgent = restCfg.UserAgent + " leader-election"
	cs, err := kubernetes.NewForConfig(lockCfg)
	if err != nil {
		return nil, nil, err
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, namespace, role+".mpijob.io",
		cs.CoreV1(), cs.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: id})
	if err != nil {
		return nil, nil, fmt.Errorf("leader election lock: %w", err)
	}
	fence := leaderfence.New(renewDeadline)
	restCfg.Wrap(fence.Wrap)
	return fence.Lock(lock), fence, nil
}

// userAgent names the binary, its role and, in a pod, the pod: the API
// server's audit log then tells the replicas apart.
func userAgent(role string) string {
	ua := rest.DefaultKubernetesUserAgent() + " " + role
	if pod := os.Getenv("POD_NAME"); pod != "" {
		ua += " " + pod
	}
	return ua
}

// registerFenceMetric publishes how many writes the fence refused.
func registerFenceMetric(f *leaderfence.Fence) error {
	return metrics.Registry.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "mpijob_platform_leader_fence_refused_writes_total",
		Help: "API writes this replica refused because its leader Lease was older than the renew deadline (a frozen or partitioned former leader).",
	}, func() float64 { return float64(f.Refused()) }))
}
