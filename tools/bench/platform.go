package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// benchPlatform measures the platform operator on a fresh dev cluster with
// Kueue: the time from creating the MPIJobPlatform to every managed
// component Ready, and the API writes it makes over idle seconds after.
func benchPlatform(ctx context.Context, idle time.Duration) error {
	w, err := newWorkspace("platform")
	if err != nil {
		return err
	}
	defer w.done()
	dir := w.dir
	fmt.Printf("bench: platform operator, MPIJobPlatform create to Ready, then %s idle (fresh cluster with Kueue)...\n", idle)
	c, err := w.kueueCluster(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Stop() }()
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), platformv1.AddToScheme(scheme)); err != nil {
		return err
	}
	cl, err := client.New(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	for _, ns := range []string{"mpijob-system", "team-a"} {
		if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	ports, err := cluster.FreePorts(2)
	if err != nil {
		return err
	}
	bin, err := w.buildManager(ctx)
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(dir, "manager.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[1])
	mgr := exec.Command(bin, "--role=all", "--namespace=mpijob-system", "--kubeconfig="+c.Kubeconfig,
		"--metrics-bind-address=127.0.0.1:"+strconv.Itoa(ports[1]), "--metrics-secure=false", "--health-probe-bind-address=0",
		"--webhook-bind-address=127.0.0.1:"+strconv.Itoa(ports[0]), "--webhook-cert-dir="+filepath.Join(dir, "certs"),
		"--webhook-cert-secret=mpijob-system/mpijob-webhook-cert", "--webhook-cert-names=127.0.0.1")
	mgr.Stdout, mgr.Stderr = logFile, logFile
	mgr.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := mgr.Start(); err != nil {
		return err
	}
	defer func() { _ = mgr.Process.Kill(); _ = mgr.Wait() }()
	time.Sleep(2 * time.Second) // the manager's caches start

	p := &platformv1.MPIJobPlatform{ObjectMeta: metav1.ObjectMeta{Name: platformv1.DefaultName}, Spec: platformv1.MPIJobPlatformSpec{
		Kueue: platformv1.KueueSpec{
			ManagementState: platformv1.Managed,
			ResourceFlavors: []platformv1.ResourceFlavor{{Name: "h100", NodeLabels: map[string]string{"nvidia.com/gpu.product": cluster.GPUProduct}}},
			ClusterQueues: []platformv1.ClusterQueue{{Name: "team-a", Flavors: []platformv1.FlavorQuotas{{Name: "h100", Resources: []platformv1.ResourceQuota{
				{Name: cluster.GPUResource, NominalQuota: resource.MustParse("8")},
			}}}}},
			LocalQueues: []platformv1.LocalQueue{{Name: "default", ClusterQueue: "team-a", Namespaces: []string{"team-a"}}},
		},
		Monitoring: platformv1.ComponentSpec{ManagementState: platformv1.Removed},
	}}
	begin := time.Now()
	if err := cl.Create(ctx, p); err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got := &platformv1.MPIJobPlatform{}
		if err := cl.Get(ctx, client.ObjectKeyFromObject(p), got); err != nil {
			return err
		}
		if meta.IsStatusConditionTrue(got.Status.Conditions, platformv1.ConditionReady) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("MPIJobPlatform not Ready after 2 minutes: %+v; see %s", got.Status.Conditions, logFile.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
	ready := time.Since(begin)
	time.Sleep(2 * time.Second) // let the last status write land
	before, err := framework.APIWrites(metricsURL)
	if err != nil {
		return err
	}
	time.Sleep(idle)
	after, err := framework.APIWrites(metricsURL)
	if err != nil {
		return err
	}
	fmt.Printf("platform: MPIJobPlatform create to Ready %.2f s (target < 10 s); API writes while idle for %s: %d (target 0)\n", ready.Seconds(), idle, after-before)
	return nil
}
