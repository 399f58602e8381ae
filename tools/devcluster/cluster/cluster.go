package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Default node counts of the dev cluster.
const (
	DefaultGPUNodes = 4
	DefaultCPUNodes = 2
)

// Options configure a cluster.
type Options struct {
	// Dir holds the cluster's certificates, etcd data, logs, kubeconfig and
	// state file. It is wiped on start.
	Dir string
	// RepoRoot holds tools/cluster/* (the pinned tool modules).
	RepoRoot string
	// CacheDir holds built binaries under bin/.
	CacheDir string
	// GPUNodes and CPUNodes are the kwok nodes to create; see nodes.go.
	GPUNodes int
	CPUNodes int
	// ProcessNodes are nodes whose pods run as real processes (see
	// tools/devcluster/kubelet); they need root. Zero starts no runtime.
	ProcessNodes int
	// WithoutKueue skips Kueue (its CRDs, manager and webhooks).
	WithoutKueue bool
	// CRDDirs are folders of CRD manifests applied before Kueue starts, so
	// that Kueue's integrations (kubeflow.org/mpijob) find their APIs at once.
	CRDDirs []string
	// APIServerArgs are extra kube-apiserver flags (benchmarks add audit
	// logging and an advertise address for a loopback-only namespace).
	APIServerArgs []string
	// Detach lets the processes outlive the caller (make cluster-up). When
	// false they are killed if the caller dies (tests).
	Detach bool
	// Progress receives human-readable progress; nil is quiet.
	Progress io.Writer
	// Kube picks the Kubernetes build: KubeCurrent (default) or KubeOldest.
	Kube string
}

// State is persisted in Dir/state.json so that `status` and `down` can find a
// detached cluster.
type State struct {
	APIServer    string            `json:"apiServer"`
	Kubeconfig   string            `json:"kubeconfig"`
	Kubectl      string            `json:"kubectl"`
	Assets       string            `json:"kubebuilderAssets"`
	GPUNodes     int               `json:"gpuNodes"`
	CPUNodes     int               `json:"cpuNodes"`
	ProcessNodes int               `json:"processNodes,omitempty"`
	Kueue        bool              `json:"kueue"`
	Started      time.Time         `json:"started"`
	Versions     map[string]string `json:"versions"`
	Processes    []*ProcessState   `json:"processes"`
}

// Cluster is a running local cluster.
type Cluster struct {
	Dir        string
	Kubeconfig string
	Config     *rest.Config
	Binaries   *Binaries
	State      *State
}

const stateFile = "state.json"

// Start builds what is missing, starts the cluster and waits until it is
// ready: nodes Ready, the default service account present, and Kueue
// answering its webhooks. On failure everything it started is stopped.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	if opts.Dir == "" || opts.RepoRoot == "" || opts.CacheDir == "" {
		return nil, errors.New("cluster: Dir, RepoRoot and CacheDir are required")
	}
	if opts.GPUNodes < 0 || opts.CPUNodes < 0 || opts.ProcessNodes < 0 {
		return nil, fmt.Errorf("cluster: node counts must not be negative (gpu %d, cpu %d, process %d)", opts.GPUNodes, opts.CPUNodes, opts.ProcessNodes)
	}
	if st, err := LoadState(opts.Dir); err == nil && st.anyAlive() {
		return nil, fmt.Errorf("a cluster already runs from %s (api %s); stop it first", opts.Dir, st.APIServer)
	}
	bins, err := EnsureBinaries(ctx, BuildOptions{RepoRoot: opts.RepoRoot, CacheDir: opts.CacheDir, Progress: progress, Kube: opts.Kube})
	if err != nil {
		return nil, err
	}
	if err := resetDir(opts.Dir); err != nil {
		return nil, err
	}
	begin := time.Now()
	c = &Cluster{Dir: opts.Dir, Binaries: bins, State: &State{
		GPUNodes: opts.GPUNodes, CPUNodes: opts.CPUNodes, ProcessNodes: opts.ProcessNodes, Kueue: !opts.WithoutKueue,
		Kubectl: bins.Kubectl, Assets: bins.Assets, Versions: bins.Versions, Started: begin,
	}}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()
	r := &runner{opts: opts, bins: bins, c: c, progress: progress}
	if err := r.run(ctx); err != nil {
		return c, err
	}
	fmt.Fprintf(progress, "cluster ready in %s: Kubernetes %s, %d GPU + %d CPU kwok nodes, %d process nodes, kubeconfig %s\n",
		time.Since(begin).Round(100*time.Millisecond), bins.KubeVersion, opts.GPUNodes, opts.CPUNodes, opts.ProcessNodes, c.Kubeconfig)
	return c, nil
}

// Stop stops every process of the cluster, newest first, and forgets them.
func (c *Cluster) Stop() error {
	if c == nil || c.State == nil {
		return nil
	}
	err := stopProcesses(c.State.Processes)
	if c.State.ProcessNodes > 0 {
		err = errors.Join(err, cleanupRuntime(c.Dir))
	}
	c.State.Processes = nil
	_ = os.Remove(filepath.Join(c.Dir, stateFile))
	_ = os.RemoveAll(filepath.Join(c.Dir, "etcd-data"))
	return err
}

// StopDir stops the cluster recorded in dir's state file, if any.
func StopDir(dir string) (stopped bool, err error) {
	st, err := LoadState(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	c := &Cluster{Dir: dir, State: st}
	return st.anyAlive(), c.Stop()
}

func stopProcesses(procs []*ProcessState) error {
	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		if err := procs[i].stop(10 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// LoadState reads dir's state file.
func LoadState(dir string) (*State, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	st := &State{}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %w", filepath.Join(dir, stateFile), err)
	}
	return st, nil
}

// KueueMetricsURL is Kueue's metrics endpoint, or "" when the cluster runs
// without Kueue. It serves HTTPS with the cluster's serving certificate and
// authenticates callers by bearer token (TokenReview), so a scraper needs a
// service account token allowed to get the /metrics non-resource URL.
func (s *State) KueueMetricsURL() string {
	for _, p := range s.Processes {
		if p.Name != "kueue" {
			continue
		}
		// Its ports are the "kueue-*" names of portNames, in order.
		i := 0
		for _, name := range portNames {
			if !strings.HasPrefix(name, "kueue") {
				continue
			}
			if name == "kueue-metrics" && i < len(p.Ports) {
				return "https://" + hostPort(p.Ports[i]) + "/metrics"
			}
			i++
		}
	}
	return ""
}

func (s *State) anyAlive() bool {
	for _, p := range s.Processes {
		if p.Alive() {
			return true
		}
	}
	return false
}

func (c *Cluster) saveState() error {
	data, err := json.MarshalIndent(c.State, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(c.Dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(c.Dir, stateFile))
}

// resetDir empties the cluster folder but keeps the folder itself.
func resetDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// writeKubeconfig writes a kubeconfig for one identity.
func writeKubeconfig(path, server string, caPEM []byte, certFile, keyFile, user string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["devcluster"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificate: certFile, ClientKey: keyFile}
	cfg.Contexts["devcluster"] = &clientcmdapi.Context{Cluster: "devcluster", AuthInfo: user}
	cfg.CurrentContext = "devcluster"
	return clientcmd.WriteToFile(*cfg, path)
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error on Linux
	return hex.EncodeToString(b)
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
