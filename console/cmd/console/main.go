// Command console serves the MPIJob platform's web console: the REST API
// of console/backend under /api/v1 and the React front end. Every request
// acts as its caller (Authorization: Bearer), so run it behind an
// authenticating proxy (oauth-proxy, kube-rbac-proxy) in a cluster; the
// kubeconfig only says where the apiserver is and which CA it has.
//
//	go run ./console/cmd/console --kubeconfig ~/.kube/config
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mpijob-platform/mpijob-platform/console/backend"
	"github.com/mpijob-platform/mpijob-platform/console/frontend"
)

// version is set by the build (-ldflags -X main.version=...).
var version = "dev"

type options struct {
	bindAddress, kubeconfig, staticDir    string
	prometheusURL, grafanaURL             string
	devTokenFile, tlsCertFile, tlsKeyFile string
}

func main() {
	var o options
	flag.StringVar(&o.bindAddress, "bind-address", "127.0.0.1:8080", "address to serve on; in a cluster the authenticating proxy in the same pod forwards to it")
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig naming the apiserver and its CA (its credentials are not used); default $KUBECONFIG, then in-cluster")
	flag.StringVar(&o.staticDir, "static-dir", "", "serve the front end from this directory (e.g. console/frontend/web/dist) instead of the embedded one")
	flag.StringVar(&o.prometheusURL, "prometheus-url", "", "Prometheus URL for job metrics (optional)")
	flag.StringVar(&o.grafanaURL, "grafana-url", "", "Grafana URL the Metrics tab links to (optional)")
	flag.StringVar(&o.devTokenFile, "dev-token-file", "", "local use only: a file with a bearer token used for requests that bring none; refused unless --bind-address is a loopback address")
	flag.StringVar(&o.tlsCertFile, "tls-cert-file", "", "serve HTTPS with this certificate (and --tls-key-file)")
	flag.StringVar(&o.tlsKeyFile, "tls-key-file", "", "key of --tls-cert-file")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" && os.Getenv("KUBECONFIG") == "" {
		if cfg, err := rest.InClusterConfig(); err == nil {
			return cfg, nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
}

// devToken reads --dev-token-file, which only a loopback listener may use:
// anyone who reaches the port acts with that token.
func devToken(o options) (string, error) {
	if o.devTokenFile == "" {
		return "", nil
	}
	host, _, err := net.SplitHostPort(o.bindAddress)
	if err != nil {
		return "", fmt.Errorf("--bind-address %q: %w", o.bindAddress, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("--dev-token-file needs a loopback --bind-address (127.0.0.1:PORT), not %q: anyone reaching the port would act with the token", o.bindAddress)
	}
	data, err := os.ReadFile(o.devTokenFile)
	if err != nil {
		return "", err
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", fmt.Errorf("--dev-token-file %s is empty", o.devTokenFile)
	}
	return token, nil
}

func run(o options) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		return fmt.Errorf("finding the apiserver (--kubeconfig): %w", err)
	}
	token, err := devToken(o)
	if err != nil {
		return err
	}
	var static fs.FS = frontend.Embedded()
	if o.staticDir != "" {
		if _, err := os.Stat(o.staticDir + "/index.html"); err != nil {
			return fmt.Errorf("--static-dir: %w (build the front end with `npm run build` in console/frontend)", err)
		}
		static = frontend.Dir(o.staticDir)
	} else if !frontend.Built() {
		log.Warn("this binary has no built front end; serving a placeholder page (build console/frontend first, or use --static-dir)")
	}
	srv := backend.New(backend.Options{
		Clients:       backend.NewClientFactory(cfg),
		DevToken:      token,
		Static:        frontend.Handler(static),
		PrometheusURL: o.prometheusURL,
		GrafanaURL:    o.grafanaURL,
		Version:       version,
	})
	hs := &http.Server{
		Addr:              o.bindAddress,
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ln, err := net.Listen("tcp", o.bindAddress)
	if err != nil {
		return err
	}
	scheme := "http"
	if o.tlsCertFile != "" {
		scheme = "https"
	}
	log.Info("serving the MPIJob console", "url", scheme+"://"+ln.Addr().String(), "apiserver", cfg.Host, "version", version)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() {
		if o.tlsCertFile != "" {
			errc <- hs.ServeTLS(ln, o.tlsCertFile, o.tlsKeyFile)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
