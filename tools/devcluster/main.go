// Command devcluster builds, starts, inspects and stops the local real
// cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
// kwok and Kueue, all built from pinned Go modules and bound to 127.0.0.1.
//
//	go run ./tools/devcluster up [--gpu-nodes 4] [--cpu-nodes 2] [--process-nodes 3] [--no-kueue]
//	go run ./tools/devcluster webhooks --url https://127.0.0.1:9443
//	go run ./tools/devcluster status | env | down | build | cache-dir
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/kubelet"
)

const usage = `usage: devcluster <command> [flags]

commands:
  build    build the control-plane binaries into the cache (first time: 20-30 min)
  up       start the local cluster (builds first if needed) and wait until it is ready
  status   show what runs where
  env      print shell exports (KUBECONFIG, KUBEBUILDER_ASSETS, PATH with kubectl)
  webhooks register the platform's MPIJob webhooks, pointed at a manager on --url
  free-port print a free TCP port on 127.0.0.1 (for a manager's webhook server)
  cache-dir print the cache folder ($MPIJOB_CACHE_DIR, else <repo>/.cache) as an absolute path
  down     stop every process of the cluster

flags (up):
`

func main() {
	// The process runtime's own commands (started by the cluster, not by
	// people): see tools/devcluster/kubelet.
	if len(os.Args) > 2 && os.Args[1] == "pod-init" {
		kubelet.RunInit(os.Args[2])
	}
	if len(os.Args) > 1 && os.Args[1] == "kubelet" {
		if err := runKubelet(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "devcluster kubelet:", err)
			os.Exit(1)
		}
		return
	}
	// API warnings (deprecations, pruned fields) reach the user.
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// kubeBuild maps --kube to the cluster package's name of that build.
func kubeBuild(flagValue string) (string, error) {
	switch flagValue {
	case "current":
		return cluster.KubeCurrent, nil
	case "oldest":
		return cluster.KubeOldest, nil
	}
	return "", usageError{fmt.Sprintf("--kube=%q: want current or oldest", flagValue)}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(args []string) error {
	fs := flag.NewFlagSet("devcluster", flag.ContinueOnError)
	gpuNodes := fs.Int("gpu-nodes", cluster.DefaultGPUNodes, "kwok GPU nodes (8 nvidia.com/gpu, 64 CPU, 512Gi each)")
	cpuNodes := fs.Int("cpu-nodes", cluster.DefaultCPUNodes, "kwok CPU nodes (32 CPU, 128Gi each)")
	processNodes := fs.Int("process-nodes", cluster.DefaultProcessNodes, "nodes whose pods run as real processes (needs root; 0 for none)")
	noKueue := fs.Bool("no-kueue", false, "do not start Kueue")
	crds := fs.String("crds", "", "comma-separated folders of CRD manifests to install before Kueue starts (default: config/crd/bases when it exists)")
	dir := fs.String("dir", "", "cluster folder (default <cache>/devcluster)")
	webhookURL := fs.String("url", "", "webhooks: base URL of the manager's webhook server, e.g. https://127.0.0.1:9443")
	kube := fs.String("kube", "current", "build/up: the Kubernetes to build or run: current (tools/cluster/kube) or oldest (tools/cluster/kube-oldest, the oldest minor the product supports)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if len(args) == 0 {
		fs.Usage()
		return usageError{"a command is required"}
	}
	cmd := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", fs.Args())}
	}
	repo, err := cluster.FindRepoRoot()
	if err != nil {
		return err
	}
	cache := cluster.DefaultCacheDir(repo)
	if *dir == "" {
		*dir = filepath.Join(cache, "devcluster")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch cmd {
	case "build":
		k, err := kubeBuild(*kube)
		if err != nil {
			return err
		}
		_, err = cluster.EnsureBinaries(ctx, cluster.BuildOptions{RepoRoot: repo, CacheDir: cache, Progress: os.Stdout, Kube: k})
		return err
	case "up":
		k, err := kubeBuild(*kube)
		if err != nil {
			return err
		}
		crdDirs := splitList(*crds)
		if *crds == "" {
			if st, err := os.Stat(filepath.Join(repo, "config", "crd", "bases")); err == nil && st.IsDir() {
				crdDirs = []string{filepath.Join(repo, "config", "crd", "bases")}
			}
		}
		if st, err := cluster.LoadState(*dir); err == nil {
			if up, _ := healthy(ctx, st); up {
				fmt.Printf("cluster already up (%s); run `make cluster-down` first to restart it\n", st.APIServer)
				return printEnvHint(*dir)
			}
			// A half-dead cluster: clean it away before starting anew.
			if _, err := cluster.StopDir(*dir); err != nil {
				return err
			}
		}
		_, err = cluster.Start(ctx, cluster.Options{
			Dir: *dir, RepoRoot: repo, CacheDir: cache,
			GPUNodes: *gpuNodes, CPUNodes: *cpuNodes, ProcessNodes: *processNodes, WithoutKueue: *noKueue,
			CRDDirs: crdDirs, Detach: true, Progress: os.Stdout, Kube: k,
		})
		if err != nil {
			return err
		}
		return printEnvHint(*dir)
	case "down":
		stopped, err := cluster.StopDir(*dir)
		if err != nil {
			return err
		}
		if stopped {
			fmt.Println("cluster stopped")
		} else {
			fmt.Println("no cluster was running")
		}
		return nil
	case "status":
		return status(ctx, *dir)
	case "cache-dir":
		// For scripts and make: every path under the cache follows the
		// one setting (cluster.DefaultCacheDir).
		abs, err := filepath.Abs(cache)
		if err != nil {
			return err
		}
		fmt.Println(abs)
		return nil
	case "free-port":
		ports, err := cluster.FreePorts(1)
		if err != nil {
			return err
		}
		fmt.Println(ports[0])
		return nil
	case "webhooks":
		if *webhookURL == "" {
			return usageError{"webhooks needs --url"}
		}
		st, err := cluster.LoadState(*dir)
		if err != nil {
			return fmt.Errorf("no cluster state in %s: run `make cluster-up` first", *dir)
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", st.Kubeconfig)
		if err != nil {
			return err
		}
		if err := cluster.InstallLocalWebhooks(ctx, cfg, repo, *webhookURL); err != nil {
			return err
		}
		fmt.Printf("webhook configurations %s and %s point at %s\n", cluster.MutatingWebhookConfiguration, cluster.ValidatingWebhookConfiguration, *webhookURL)
		return nil
	case "env":
		st, err := cluster.LoadState(*dir)
		if err != nil {
			return fmt.Errorf("no cluster state in %s: run `make cluster-up` first", *dir)
		}
		fmt.Printf("export KUBECONFIG=%s\n", st.Kubeconfig)
		fmt.Printf("export KUBEBUILDER_ASSETS=%s\n", st.Assets)
		fmt.Printf("export PATH=%s:$PATH\n", filepath.Dir(st.Kubectl))
		return nil
	default:
		fs.Usage()
		return usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
}

// runKubelet runs the process runtime for the nodes named by --nodes.
func runKubelet(args []string) error {
	fs := flag.NewFlagSet("kubelet", flag.ContinueOnError)
	var o kubelet.Options
	nodes := fs.String("nodes", "", "comma-separated node names")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig of the runtime's identity")
	fs.StringVar(&o.Dir, "dir", "", "state folder (pods, volumes, logs)")
	fs.StringVar(&o.CacheDir, "cache", "", "cache folder holding the built runtime profiles")
	fs.IntVar(&o.Port, "port", 0, "kubelet API port on 127.0.0.1")
	fs.StringVar(&o.CertFile, "tls-cert-file", "", "serving certificate")
	fs.StringVar(&o.KeyFile, "tls-private-key-file", "", "serving key")
	fs.StringVar(&o.CPU, "cpu", "4", "CPU capacity of each node")
	fs.StringVar(&o.Memory, "memory", "8Gi", "memory capacity of each node")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Nodes = splitList(*nodes)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	o.Self = self
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return kubelet.Run(ctx, o)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func printEnvHint(dir string) error {
	st, err := cluster.LoadState(dir)
	if err != nil {
		return err
	}
	fmt.Printf("\nUse it:\n  export KUBECONFIG=%s\n  %s get nodes\nor: eval \"$(make -s cluster-env)\"\n", st.Kubeconfig, st.Kubectl)
	return nil
}

// healthy reports whether every recorded process runs and the apiserver answers.
func healthy(ctx context.Context, st *cluster.State) (bool, string) {
	for _, p := range st.Processes {
		if !p.Alive() {
			return false, p.Name + " is not running"
		}
	}
	cs, err := clientset(st)
	if err != nil {
		return false, err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		return false, "apiserver not ready: " + err.Error()
	}
	return true, ""
}

func clientset(st *cluster.State) (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", st.Kubeconfig)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

func status(ctx context.Context, dir string) error {
	st, err := cluster.LoadState(dir)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Println("no cluster: run `make cluster-up`")
		return nil
	}
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tPID\tSTATE\tLISTENING\tLOG")
	for _, p := range st.Processes {
		state, listening := "stopped", "-"
		if p.Alive() {
			state = "running"
			if ports, err := p.Listening(); err == nil && len(ports) > 0 {
				addrs := make([]string, len(ports))
				for i, port := range ports {
					addrs[i] = fmt.Sprintf("127.0.0.1:%d", port)
				}
				listening = strings.Join(addrs, " ")
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", p.Name, p.PID, state, listening, p.Log)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Printf("\napiserver:  %s\nkubeconfig: %s\nversions:   %v\nstarted:    %s\n", st.APIServer, st.Kubeconfig, st.Versions, st.Started.Format(time.RFC3339))
	if st.ProcessNodes > 0 {
		netns, pods, cgroups := cluster.RuntimeStatus(dir)
		fmt.Printf("runtime:    %d process nodes; %d network namespaces (%s); %d pods running as processes; %d container memory cgroups\n",
			st.ProcessNodes, len(netns), strings.Join(netns, " "), len(pods), cgroups)
	}
	ok, why := healthy(ctx, st)
	if !ok {
		fmt.Printf("health:     NOT READY (%s)\n", why)
		return nil
	}
	cs, err := clientset(st)
	if err != nil {
		return err
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	fmt.Printf("health:     ready; %d/%d nodes Ready\n", cluster.CountReadyNodes(nodes.Items), len(nodes.Items))
	return nil
}
