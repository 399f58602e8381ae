package lifecycle_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// TestProcessRuntimeLeavesNothing: `make cluster-down` removes every network
// namespace, memory cgroup, pod folder and pod process the process runtime
// made, after a clean run and after the runtime itself was killed with
// SIGKILL.
func TestProcessRuntimeLeavesNothing(t *testing.T) {
	repo, err := cluster.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	opts := cluster.Options{
		Dir: dir, RepoRoot: repo, CacheDir: cluster.DefaultCacheDir(repo),
		GPUNodes: 0, CPUNodes: 1, ProcessNodes: 1, WithoutKueue: true, Detach: true, Progress: os.Stderr,
	}
	t.Cleanup(func() { _, _ = cluster.StopDir(dir) })
	for _, kill := range []bool{false, true} {
		c, err := cluster.Start(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		marker := fmt.Sprintf("4242.%d", time.Now().UnixNano()%1000)
		runSleeper(t, c, marker)
		netns, pods, cgroups := cluster.RuntimeStatus(dir)
		if len(netns) != 2 || len(pods) != 1 || cgroups != 1 {
			t.Fatalf("runtime holds namespaces %v, pods %v and %d cgroups; want the bridge's and the pod's, one pod, one cgroup", netns, pods, cgroups)
		}
		if n := processesWith(marker); n == 0 {
			t.Fatalf("the pod's process (sleep %s) is not running", marker)
		}
		// The runtime serves its kubelet API on loopback only; pod addresses
		// exist only in the pods' namespaces.
		sockets, err := cluster.ListeningSockets()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range c.State.Processes {
			if p.Name != "process-runtime" {
				continue
			}
			ports, err := p.Listening()
			if err != nil || len(ports) == 0 {
				t.Fatalf("the process runtime listens on %v (%v)", ports, err)
			}
			for _, port := range ports {
				if addr := sockets[port]; addr != "0100007F" {
					t.Errorf("the process runtime listens on port %d at %s, want 127.0.0.1 (0100007F)", port, addr)
				}
			}
		}
		if kill {
			for _, p := range c.State.Processes {
				if p.Name == "process-runtime" {
					_ = syscall.Kill(p.PID, syscall.SIGKILL)
				}
			}
		}
		if _, err := cluster.StopDir(dir); err != nil {
			t.Fatalf("down (runtime killed first: %v): %v", kill, err)
		}
		netns, pods, cgroups = cluster.RuntimeStatus(dir)
		if len(netns) != 0 || len(pods) != 0 || cgroups != 0 {
			t.Errorf("after down (runtime killed first: %v): namespaces %v, pod folders %v, %d cgroups left", kill, netns, pods, cgroups)
		}
		if n := processesWith(marker); n != 0 {
			t.Errorf("after down (runtime killed first: %v): %d pod processes left", kill, n)
		}
	}
}

// runSleeper runs a pod on the process node that sleeps with the marker as
// its argument, and waits until it runs.
func runSleeper(t *testing.T, c *cluster.Cluster, marker string) {
	t.Helper()
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "real", Annotations: cluster.RealNamespaceAnnotations()}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := cs.CoreV1().Pods("real").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "sleeper"},
			Spec: corev1.PodSpec{
				AutomountServiceAccountToken: new(bool),
				Containers:                   []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", marker}}},
			},
		}, metav1.CreateOptions{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("creating the pod: %v", err) // the namespace's default ServiceAccount may lag
		}
		time.Sleep(200 * time.Millisecond)
	}
	for {
		p, err := cs.CoreV1().Pods("real").Get(ctx, "sleeper", metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pod does not run: %v %+v", err, p.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// processesWith counts processes whose command line holds s.
func processesWith(s string) int {
	n := 0
	entries, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, e := range entries {
		data, err := os.ReadFile(e)
		if err == nil && bytes.Contains(data, []byte(s)) && !strings.HasSuffix(e, fmt.Sprintf("/%d/cmdline", os.Getpid())) {
			n++
		}
	}
	return n
}
