package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/kubelet"
)

// ProcessNodeNamePrefix names the nodes whose pods run as real processes.
const ProcessNodeNamePrefix = "process-node-"

// DefaultProcessNodes is how many process nodes `make cluster-up` starts.
const DefaultProcessNodes = 3

// Namespace annotations that send every pod of a namespace to process nodes,
// through the API server's PodNodeSelector and PodTolerationRestriction
// admission plugins; see RealNamespaceAnnotations.
const (
	nodeSelectorAnnotation       = "scheduler.alpha.kubernetes.io/node-selector"
	defaultTolerationsAnnotation = "scheduler.alpha.kubernetes.io/defaultTolerations"
)

// RealNamespaceAnnotations are the annotations of a namespace whose pods
// must really run: its pods get the process nodes' selector and toleration
// at admission, so upstream manifests run unchanged.
func RealNamespaceAnnotations() map[string]string {
	return map[string]string{
		nodeSelectorAnnotation: kubelet.RuntimeLabel + "=" + kubelet.RuntimeProcess,
		defaultTolerationsAnnotation: `[{"key":"` + kubelet.RuntimeLabel + `","operator":"Equal","value":"` +
			kubelet.RuntimeProcess + `","effect":"NoSchedule"}]`,
	}
}

// ProcessNodeNames are the names of n process nodes.
func ProcessNodeNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = ProcessNodeNamePrefix + strconv.Itoa(i)
	}
	return names
}

// runtimeDir is where the process runtime of the cluster in dir keeps pods.
func runtimeDir(dir string) string { return filepath.Join(dir, "runtime") }

// startProcessRuntime builds the devcluster binary and the runtime profiles,
// then starts the process kubelet for the process nodes.
func (r *runner) startProcessRuntime(ctx context.Context) error {
	n := r.opts.ProcessNodes
	if n == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%d process nodes need root (the runtime makes network, mount and PID namespaces); run as root or ask for none", n)
	}
	for _, prog := range []string{"ip", "unshare"} {
		if _, err := exec.LookPath(prog); err != nil {
			return fmt.Errorf("the process runtime needs %s: run hack/test-deps.sh", prog)
		}
	}
	bin := filepath.Join(r.opts.Dir, "devcluster")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./tools/devcluster")
	build.Dir = r.opts.RepoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-trimpath -buildvcs=false")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the process runtime: %w\n%s", err, out)
	}
	// Clusters started side by side (parallel test packages) wait for one
	// build of the profiles instead of building the same folders at once.
	unlock, err := lockFile(filepath.Join(r.opts.CacheDir, "profiles.lock"))
	if err != nil {
		return err
	}
	err = kubelet.EnsureProfiles(ctx, r.opts.RepoRoot, r.opts.CacheDir, r.progress)
	unlock()
	if err != nil {
		return err
	}
	nodes := ProcessNodeNames(n)
	p, err := r.start("process-runtime", bin, "kubelet",
		"--kubeconfig="+r.files["kwok.kubeconfig"],
		"--nodes="+strings.Join(nodes, ","),
		"--dir="+runtimeDir(r.opts.Dir),
		"--cache="+r.opts.CacheDir,
		"--port="+strconv.Itoa(r.ports["process-runtime"]),
		"--tls-cert-file="+r.files["process-runtime.crt"],
		"--tls-private-key-file="+r.files["process-runtime.key"])
	if err != nil {
		return err
	}
	insecure := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // local health endpoint with a self-signed serving cert
	return waitHTTP(ctx, p, "https://"+hostPort(r.ports["process-runtime"])+"/healthz", insecure, 60*time.Second)
}

// PodProxyURL is the URL at which the process runtime proxies an HTTP
// request to port of a pod on a process node (see kubelet's podProxy); its
// certificate is signed by the cluster's CA. "" when no runtime runs.
func (s *State) PodProxyURL(namespace, pod string, port int, path string) string {
	for _, p := range s.Processes {
		if p.Name == "process-runtime" && len(p.Ports) > 0 {
			return fmt.Sprintf("https://%s/podProxy/%s/%s/%d/%s", hostPort(p.Ports[0]), namespace, pod, port, strings.TrimPrefix(path, "/"))
		}
	}
	return ""
}

// RuntimeStatus lists the network namespaces the process runtime of the
// cluster in dir holds, the pods it runs (from its state folder) and counts
// its containers' memory cgroups.
func RuntimeStatus(dir string) (netns []string, pods []string, cgroups int) {
	netns = kubelet.Networks(runtimeDir(dir))
	entries, _ := os.ReadDir(filepath.Join(runtimeDir(dir), "pods"))
	for _, e := range entries {
		pods = append(pods, e.Name())
	}
	return netns, pods, kubelet.Cgroups(runtimeDir(dir))
}

// cleanupRuntime removes what a killed runtime may have left: its network
// namespaces (pod processes die with the runtime through their parent-death
// signal) and its pod folders.
func cleanupRuntime(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := kubelet.RemoveNetworks(ctx, runtimeDir(dir))
	_, cgErr := kubelet.RemoveCgroups(runtimeDir(dir))
	_ = os.RemoveAll(filepath.Join(runtimeDir(dir), "pods"))
	return errors.Join(err, cgErr)
}
