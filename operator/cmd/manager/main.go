// Command manager is the platform's one binary. --role selects what it runs:
// mpijob-controller reconciles kubeflow.org/v2beta1 MPIJobs and, with
// --webhook-bind-address, serves their admission webhooks; platform
// reconciles the MPIJobPlatform and installs every component; all runs both
// in one process (the local dev cluster); console serves the web console
// (console/server) with the callers' own tokens.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	consoleserver "github.com/mpijob-platform/mpijob-platform/console/server"
	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/mpijob"
	mpijobwebhook "github.com/mpijob-platform/mpijob-platform/operator/internal/webhook"
	"github.com/mpijob-platform/mpijob-platform/operator/pkg/metricsauth"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}

func run() error {
	var hooks webhookFlags
	var (
		role, metricsAddr, probeAddr, configFile string
		metricsCertDir                           string
		leaderElect, metricsSecure               bool
		qps                                      float64
		burst                                    int
	)
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
	flag.BoolVar(&metricsSecure, "metrics-secure", true, "serve /metrics over HTTPS to clients the API server authenticates (TokenReview) and authorizes for GET /metrics (SubjectAccessReview; the shipped ClusterRole mpijob-platform-metrics-reader grants it); false: plain HTTP to anyone who reaches the address")
	flag.StringVar(&metricsCertDir, "metrics-cert-dir", "", "folder with tls.crt and tls.key for /metrics over HTTPS, reloaded when they change; empty: a self-signed certificate made at start")
	flag.StringVar(&probeAddr, "health-probe-bind-address", "127.0.0.1:8081", "address of /healthz and /readyz")
	flag.BoolVar(&leaderElect, "leader-elect", false, "elect a leader among replicas")
	flag.Float64Var(&qps, "kube-api-qps", 500, "API requests per second")
	flag.IntVar(&burst, "kube-api-burst", 1000, "API request burst")
	flag.StringVar(&configFile, "config", "", "mpijob-controller: the controller's ControllerConfiguration file (config.mpijob.io/v1alpha1, docs/reference/controller-configuration.md); the defaults when empty")
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
	cc, err := controllerConfig(configFile)
	if err != nil {
		return err
	}
	// The controller applies the webhooks' pod policy too, so a job that
	// reaches it without them fails instead of getting pods.
	cfg, policy, err := settings(cc, platformNS)
	if err != nil {
		return err
	}
	hooks.policy = policy

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
	restCfg.UserAgent = userAgent(role)
	webhookServer, err := hooks.server()
	if err != nil {
		return err
	}
	rot, err := ensureCertificates(restCfg, scheme, &hooks)
	if err != nil {
		return err
	}
	mgrOpts := ctrl.Options{
		WebhookServer:          webhookServer,
		Scheme:                 scheme,
		Metrics:                metricsOptions(metricsAddr, metricsCertDir, metricsSecure),
		HealthProbeBindAddress: probeAddr,
		Cache:                  mpijob.CacheOptions(),
	}
	if leaderElect {
		lock, fence, err := leaderElection(restCfg, role, platformNS)
		if err != nil {
			return err
		}
		if err := registerFenceMetric(fence); err != nil {
			return err
		}
		d, rd, rp := leaseDuration, renewDeadline, retryPeriod
		mgrOpts.LeaderElection, mgrOpts.LeaderElectionResourceLockInterface = true, lock
		mgrOpts.LeaseDuration, mgrOpts.RenewDeadline, mgrOpts.RetryPeriod = &d, &rd, &rp
		// A replica that stops on purpose (rolling update, drain) hands
		// the Lease over at once instead of after a lease duration.
		mgrOpts.LeaderElectionReleaseOnCancel = true
	}
	mgr, err := ctrl.NewManager(restCfg, mgrOpts)
	if err != nil {
		return err
	}
	if runController {
		if err := checkMPIJobCRD(restCfg, scheme); err != nil {
			return err
		}
		if err := setupController(mgr, cfg, int(cc.Workers)); err != nil {
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

// metricsOptions serves /metrics. Secure, every scrape is a TokenReview
// and a SubjectAccessReview away from its answer (cached for a minute by
// the filter): an anonymous scrape gets 401, one without GET /metrics 403.
// The series name every tenant's jobs, which no pod in the cluster should
// read by merely reaching the port.
func metricsOptions(addr, certDir string, secure bool) metricsserver.Options {
	o := metricsserver.Options{BindAddress: addr}
	if secure {
		o.SecureServing, o.CertDir = true, certDir
		o.FilterProvider = metricsauth.Filter
	}
	return o
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
