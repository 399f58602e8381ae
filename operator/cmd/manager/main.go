// Command manager is the platform's one binary. --role selects what it runs:
// mpijob-controller reconciles kubeflow.org/v2beta1 MPIJobs and, with
// --webhook-bind-address, serves their admission webhooks; platform
// reconciles the MPIJobPlatform and installs every component; all runs both
// in one process (the local dev cluster); console serves the web console
// (console/server) with the callers' own tokens.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	consoleserver "github.com/mpijob-platform/mpijob-platform/console/server"
	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/mpijob"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform"
	mpijobwebhook "github.com/mpijob-platform/mpijob-platform/operator/internal/webhook"
	"github.com/mpijob-platform/mpijob-platform/operator/pkg/crdcheck"
	"github.com/mpijob-platform/mpijob-platform/operator/pkg/webhookcert"
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

// webhookFlags configure the admission webhooks and their certificates.
type webhookFlags struct {
	bindAddress, certDir, certSecret, certNames string
	mutatingConfig, validatingConfig            string
	policy                                      mpijobwebhook.Policy
}

func (w *webhookFlags) bind(fs *flag.FlagSet) {
	w.policy = mpijobwebhook.DefaultPolicy()
	fs.StringVar(&w.bindAddress, "webhook-bind-address", "", "HOST:PORT where the MPIJob admission webhooks listen over TLS; empty disables them")
	fs.StringVar(&w.certDir, "webhook-cert-dir", filepath.Join(os.TempDir(), "mpijob-webhook-certs"), "folder with tls.crt and tls.key; reloaded when they change")
	fs.StringVar(&w.certSecret, "webhook-cert-secret", "", "NAMESPACE/NAME of the Secret where the manager keeps a self-managed CA and serving certificate; empty means the files in --webhook-cert-dir are managed by someone else (OpenShift service-ca, cert-manager)")
	fs.StringVar(&w.certNames, "webhook-cert-names", "", "comma-separated DNS names and IP addresses of the self-managed serving certificate (e.g. mpijob-webhook.mpijob-system.svc)")
	fs.StringVar(&w.mutatingConfig, "mutating-webhook-configuration", "mpijob-platform-mutating", "MutatingWebhookConfiguration whose caBundle the self-managed CA keeps in sync")
	fs.StringVar(&w.validatingConfig, "validating-webhook-configuration", "mpijob-platform-validating", "ValidatingWebhookConfiguration whose caBundle the self-managed CA keeps in sync")
	fs.BoolVar(&w.policy.EnforceIstioSidecarOptOut, "enforce-istio-sidecar-opt-out", w.policy.EnforceIstioSidecarOptOut, "add sidecar.istio.io/inject=false to MPIJob pod templates and reject templates that ask for the sidecar")
	fs.BoolVar(&w.policy.AllowPrivileged, "allow-privileged-pods", w.policy.AllowPrivileged, "admit MPIJobs with privileged containers, and what Pod Security baseline refuses (hostPath, hostPID, hostIPC, host ports, added capabilities, unconfined seccomp)")
	fs.BoolVar(&w.policy.AllowHostNetwork, "allow-host-network", w.policy.AllowHostNetwork, "admit MPIJobs whose pods use the host network")
	fs.Func("max-workers", fmt.Sprintf("the most workers admitted per MPIJob, up to %d (the API's own limit, also the default)", kubeflow.MaxWorkers), func(v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1 || n > kubeflow.MaxWorkers {
			return fmt.Errorf("want a number of workers from 1 to %d", kubeflow.MaxWorkers)
		}
		w.policy.MaxWorkers = int32(n)
		return nil
	})
}

// server returns the webhook server, or nil when webhooks are off.
func (w *webhookFlags) server() (webhook.Server, error) {
	if w.bindAddress == "" {
		return nil, nil
	}
	host, port, err := net.SplitHostPort(w.bindAddress)
	if err != nil {
		return nil, fmt.Errorf("--webhook-bind-address %q: want HOST:PORT: %w", w.bindAddress, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("--webhook-bind-address %q: bad port: %w", w.bindAddress, err)
	}
	return webhook.NewServer(webhook.Options{Host: host, Port: p, CertDir: w.certDir}), nil
}

// rotator returns the self-managed certificate rotator, or nil when the
// certificates come from elsewhere.
func (w *webhookFlags) rotator(c client.Client) (*webhookcert.Rotator, error) {
	ns, name, ok := strings.Cut(w.certSecret, "/")
	if !ok || ns == "" || name == "" {
		return nil, fmt.Errorf("--webhook-cert-secret %q: want NAMESPACE/NAME", w.certSecret)
	}
	o := webhookcert.Options{SecretNamespace: ns, SecretName: name, CertDir: w.certDir}
	for _, n := range strings.Split(w.certNames, ",") {
		switch n = strings.TrimSpace(n); {
		case n == "":
		case net.ParseIP(n) != nil:
			o.IPAddresses = append(o.IPAddresses, net.ParseIP(n))
		default:
			o.DNSNames = append(o.DNSNames, n)
		}
	}
	if w.mutatingConfig != "" {
		o.MutatingWebhookConfigurations = []string{w.mutatingConfig}
	}
	if w.validatingConfig != "" {
		o.ValidatingWebhookConfigurations = []string{w.validatingConfig}
	}
	return webhookcert.New(c, o)
}

func run() error {
	cfg := mpijob.DefaultConfig()
	var hooks webhookFlags
	var (
		role, metricsAddr, probeAddr, sshKeyType string
		leaderElect                              bool
		qps                                      float64
		burst, workers                           int
	)
	nccl := envFlag(cfg.NCCLEnv)
	var platformNS, image, localWebhookURL string
	var waitTimeout time.Duration
	var console consoleserver.Options
	console.Bind(flag.CommandLine, "console-")
	flag.StringVar(&role, "role", "mpijob-controller", "what to run: mpijob-controller, platform, all, console (the web console, --console-* flags), or wait-ready (exit 0 once the MPIJobPlatform is Ready, 1 after --wait-timeout)")
	flag.DurationVar(&waitTimeout, "wait-timeout", 5*time.Minute, "wait-ready: how long to wait")
	flag.StringVar(&platformNS, "namespace", envOr("POD_NAMESPACE", "mpijob-system"), "platform: namespace of the controller Deployment and other namespaced components")
	flag.StringVar(&image, "manager-image", os.Getenv("MANAGER_IMAGE"), "platform: image of the controller Deployment when the MPIJobPlatform names none; default: the image of the operator's own pod (POD_NAME, POD_NAMESPACE)")
	flag.StringVar(&localWebhookURL, "local-webhook-url", "", "platform: point webhook configurations at this https://127.0.0.1:PORT URL instead of the webhook Service (dev cluster); with --role=all it defaults to the local webhook server")
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
	flag.StringVar(&cfg.GangScheduler, "gang-scheduling", cfg.GangScheduler, "gang-schedule each job through a PodGroup: scheduler-plugins (coscheduling; pods get the scheduling.x-k8s.io/pod-group label and schedulerName scheduler-plugins unless their template names a scheduler) or volcano (pods get the scheduling.k8s.io/group-name annotation and schedulerName volcano unless their template names one); empty for none. Without the PodGroup CRD, jobs run ungrouped with a GangSchedulingUnavailable warning")
	hooks.bind(flag.CommandLine)
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))

	switch role {
	case "wait-ready":
		return waitReady(waitTimeout)
	case "console":
		return runConsole(console)
	}
	runController, runPlatform := role == "mpijob-controller" || role == "all", role == "platform" || role == "all"
	if !runController && !runPlatform {
		return fmt.Errorf("unknown --role %q: use mpijob-controller, platform, all, console or wait-ready", role)
	}
	if !runController {
		hooks.bindAddress = "" // the webhooks are served by the MPIJob controller
	}
	if role == "all" && localWebhookURL == "" && hooks.bindAddress != "" {
		localWebhookURL = "https://" + hooks.bindAddress
	}
	t, err := mpijob.ParseSSHKeyType(sshKeyType)
	if err != nil {
		return err
	}
	cfg.SSHKeyType, cfg.NCCLEnv = t, nccl
	// The controller applies the webhooks' pod policy too (same flags), so
	// a job that reaches it without them fails instead of getting pods.
	cfg.Policy = hooks.policy.PodPolicy()
	cfg.Policy.PlatformNamespace = platformNS
	if err := cfg.Validate(); err != nil {
		return err
	}

	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), kubeflow.AddToScheme(scheme), kueue.AddToScheme(scheme),
		platformv1.AddToScheme(scheme), apiextensionsv1.AddToScheme(scheme)); err != nil {
		return err
	}
	restCfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	restCfg.QPS, restCfg.Burst = float32(qps), burst
	webhookServer, err := hooks.server()
	if err != nil {
		return err
	}
	rot, err := ensureCertificates(restCfg, scheme, &hooks)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		WebhookServer:          webhookServer,
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: probeAddr,
		LeaderElection:         leaderElect,
		LeaderElectionID:       role + ".mpijob.io",
		Cache:                  mpijob.CacheOptions(),
	})
	if err != nil {
		return err
	}
	if runController {
		if err := checkMPIJobCRD(restCfg, scheme); err != nil {
			return err
		}
		if err := setupController(mgr, cfg, workers); err != nil {
			return err
		}
	}
	if runPlatform {
		if image == "" {
			if image, err = ownImage(mgr.GetAPIReader()); err != nil {
				return err
			}
		}
		if err := setupPlatform(mgr, platformNS, image, localWebhookURL); err != nil {
			return err
		}
	}
	ready := healthz.Ping
	if webhookServer != nil {
		hooks.policy.PlatformNamespace = platformNS
		if err := (&mpijobwebhook.MPIJobWebhook{Reader: mgr.GetClient(), Policy: hooks.policy, Authorizer: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
			return err
		}
		if rot != nil {
			if err := mgr.Add(rot); err != nil {
				return err
			}
		}
		ready = webhookServer.StartedChecker()
	}
	if err := errors.Join(mgr.AddHealthzCheck("healthz", healthz.Ping), mgr.AddReadyzCheck("readyz", ready)); err != nil {
		return err
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}

// runConsole serves the web console. It needs only the apiserver's address
// and CA from the in-cluster config (or --kubeconfig): every request acts
// with its caller's token, never the pod's.
func runConsole(o consoleserver.Options) error {
	if o.CookieSecretFile != "" { // the pod's init container for oauth-proxy
		return consoleserver.WriteCookieSecret(o.CookieSecretFile)
	}
	restCfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		o.Version = bi.Main.Version
	}
	return consoleserver.Run(ctrl.SetupSignalHandler(), restCfg, o, slog.New(slog.NewTextHandler(os.Stderr, nil)))
}

// ensureCertificates makes sure a self-managed serving certificate exists
// in the cert dir before the webhook server starts reading it, and returns
// the rotator that keeps it fresh afterwards (nil when certificates are
// managed elsewhere). The rotator reads the Secret directly, not through
// the manager's cache, which holds only MPIJob children.
func ensureCertificates(restCfg *rest.Config, scheme *runtime.Scheme, hooks *webhookFlags) (*webhookcert.Rotator, error) {
	if hooks.bindAddress == "" || hooks.certSecret == "" {
		return nil, nil
	}
	c, err := client.New(restCfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	rot, err := hooks.rotator(c)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rot.EnsureOnce(ctx); err != nil {
		return nil, fmt.Errorf("preparing the webhook serving certificate: %w", err)
	}
	return rot, nil
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// setupController adds the MPIJob controller and its metrics.
func setupController(mgr ctrl.Manager, cfg mpijob.Config, workers int) error {
	r := &mpijob.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder(mpijob.ControllerName),
		Config: cfg, Workers: workers,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	if err := metrics.Registry.Register(mpijob.NewPhaseCollector(mgr.GetClient())); err != nil {
		return err
	}
	go func() {
		<-mgr.Elected()
		mpijob.SetLeader(true)
	}()
	return nil
}

// setupPlatform adds the MPIJobPlatform reconciler with its own cache.
func setupPlatform(mgr ctrl.Manager, namespace, image, localWebhookURL string) error {
	c, err := platform.NewCache(mgr)
	if err != nil {
		return err
	}
	r := &platform.Reconciler{
		Client: mgr.GetClient(), Reader: c, Cache: c, Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		Recorder: mgr.GetEventRecorder("mpijob-platform"), Components: platform.Components(),
		Namespace: namespace, Image: image, LocalWebhookURL: localWebhookURL,
	}
	return r.SetupWithManager(mgr)
}

// waitReady polls the MPIJobPlatform named default until it is Ready (the
// Helm chart's test runs this), printing what is missing meanwhile.
func waitReady(timeout time.Duration) error {
	scheme := runtime.NewScheme()
	if err := platformv1.AddToScheme(scheme); err != nil {
		return err
	}
	restCfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	c, err := client.New(restCfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	last := ""
	for {
		p := &platformv1.MPIJobPlatform{}
		err := c.Get(ctx, client.ObjectKey{Name: platformv1.DefaultName}, p)
		state := ""
		switch {
		case err != nil:
			state = err.Error()
		default:
			cond := meta.FindStatusCondition(p.Status.Conditions, platformv1.ConditionReady)
			if cond != nil && cond.Status == metav1.ConditionTrue && p.Status.ObservedGeneration == p.Generation {
				fmt.Println("MPIJobPlatform default is Ready:", cond.Message)
				return nil
			}
			state = "not Ready yet"
			if cond != nil {
				state = cond.Reason + ": " + cond.Message
			}
		}
		if state != last {
			fmt.Println("MPIJobPlatform default:", state)
			last = state
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("MPIJobPlatform default not Ready after %s: %s", timeout, last)
		case <-time.After(2 * time.Second):
		}
	}
}

// fallbackImage runs the controller when the operator runs outside a pod
// (locally) and nothing names an image: the controller Deployment is then
// only a placeholder for the local process.
const fallbackImage = "mpijob-platform/mpijob-platform-operator:latest"

// ownImage is the image of the operator's own container, so the controller
// Deployment runs the same build without the image being named twice.
func ownImage(r client.Reader) (string, error) {
	name, ns := os.Getenv("POD_NAME"), os.Getenv("POD_NAMESPACE")
	if name == "" || ns == "" {
		return fallbackImage, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pod := &corev1.Pod{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pod); err != nil {
		return "", fmt.Errorf("reading the operator's own pod %s/%s for its image (or set --manager-image): %w", ns, name, err)
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == "manager" {
			return c.Image, nil
		}
	}
	return pod.Spec.Containers[0].Image, nil
}

// checkMPIJobCRD refuses to start the controller on a cluster whose
// mpijobs.kubeflow.org CRD does not serve v2beta1 (training-operator v1's
// MPIJob), with an explanation instead of a watch that never syncs.
func checkMPIJobCRD(restCfg *rest.Config, scheme *runtime.Scheme) error {
	c, err := client.New(restCfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return crdcheck.CheckMPIJobCRD(ctx, c)
}
