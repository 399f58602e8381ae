// Command manager is the platform's one binary. --role selects what it runs:
// mpijob-controller reconciles kubeflow.org/v2beta1 MPIJobs.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/mpijob"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}

type envFlag map[string]string

func (e envFlag) String() string { return fmt.Sprint(map[string]string(e)) }

func (e envFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", v)
	}
	e[name] = value
	return nil
}

func run() error {
	cfg := mpijob.DefaultConfig()
	var (
		role, metricsAddr, probeAddr, sshKeyType string
		leaderElect                              bool
		qps                                      float64
		burst, workers                           int
	)
	nccl := envFlag(cfg.NCCLEnv)
	flag.StringVar(&role, "role", "mpijob-controller", "what to run: mpijob-controller")
	flag.StringVar(&metricsAddr, "metrics-bind-address", "127.0.0.1:8080", "address of /metrics; 0 disables it")
	flag.StringVar(&probeAddr, "health-probe-bind-address", "127.0.0.1:8081", "address of /healthz and /readyz")
	flag.BoolVar(&leaderElect, "leader-elect", false, "elect a leader among replicas")
	flag.Float64Var(&qps, "kube-api-qps", 500, "API requests per second")
	flag.IntVar(&burst, "kube-api-burst", 1000, "API request burst")
	flag.IntVar(&workers, "workers", 16, "MPIJobs reconciled in parallel")
	flag.StringVar(&sshKeyType, "ssh-key-type", string(mpijob.SSHKeyECDSA), "SSH key pairs: ecdsa (P-521), rsa (4096 bits, for FIPS-constrained clusters) or ed25519")
	flag.StringVar(&cfg.ClusterDomain, "cluster-domain", "", "cluster domain appended to hostfile names (e.g. cluster.local)")
	flag.BoolVar(&cfg.IstioSidecarOptOut, "istio-sidecar-opt-out", cfg.IstioSidecarOptOut, "annotate pods with sidecar.istio.io/inject=false unless their template decides")
	flag.Var(nccl, "nccl-env", "NAME=VALUE set on MPI containers that do not set NAME (repeatable)")
	flag.BoolVar(&cfg.SpreadWorkers, "spread-workers", cfg.SpreadWorkers, "prefer spreading a job's workers across nodes")
	flag.BoolVar(&cfg.NetworkPolicy, "network-policy", cfg.NetworkPolicy, "create a NetworkPolicy per job that admits only the job's pods to its workers")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))

	if role != "mpijob-controller" {
		return fmt.Errorf("unknown --role %q: this build runs mpijob-controller", role)
	}
	t, err := mpijob.ParseSSHKeyType(sshKeyType)
	if err != nil {
		return err
	}
	cfg.SSHKeyType, cfg.NCCLEnv = t, nccl
	if err := cfg.Validate(); err != nil {
		return err
	}

	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), kubeflow.AddToScheme(scheme)); err != nil {
		return err
	}
	restCfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	restCfg.QPS, restCfg.Burst = float32(qps), burst
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: probeAddr,
		LeaderElection:         leaderElect,
		LeaderElectionID:       "mpijob-controller.mpijob.io",
		Cache:                  mpijob.CacheOptions(),
	})
	if err != nil {
		return err
	}
	r := &mpijob.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder(mpijob.ControllerName),
		Config: cfg, Workers: workers,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	if err := errors.Join(mgr.AddHealthzCheck("healthz", healthz.Ping), mgr.AddReadyzCheck("readyz", healthz.Ping)); err != nil {
		return err
	}
	if err := metrics.Registry.Register(mpijob.NewPhaseCollector(mgr.GetClient())); err != nil {
		return err
	}
	go func() {
		<-mgr.Elected()
		mpijob.SetLeader(true)
	}()
	return mgr.Start(ctrl.SetupSignalHandler())
}
