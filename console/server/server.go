// Package server runs the console: the REST API of console/backend and the
// front end on one HTTP(S) listener until its context ends. The console
// command and the manager's --role=console share it, so the one image of
// the platform carries the console.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"

	"github.com/mpijob-platform/mpijob-platform/console/backend"
	"github.com/mpijob-platform/mpijob-platform/console/frontend"
)

// Options are the console's settings (flags).
type Options struct {
	BindAddress, StaticDir                string
	PrometheusURL, GrafanaURL             string
	DevTokenFile, TLSCertFile, TLSKeyFile string
	// CookieSecretFile, when set, makes Run write a random session cookie
	// secret there and return (the init container that prepares
	// oauth-proxy in the console's pod).
	CookieSecretFile string
	Version          string
	// JobIndex keeps every MPIJob's list row in memory, fed by one watch
	// with the console's own identity, when that identity may list and
	// watch MPIJobs in every namespace (backend.JobIndex).
	JobIndex bool
}

// Bind registers the options as flags named prefix+name (the console
// command uses no prefix, the manager "console-").
func (o *Options) Bind(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&o.BindAddress, prefix+"bind-address", "127.0.0.1:8080", "address to serve the console on; in a cluster the authenticating proxy in the same pod forwards to it")
	fs.StringVar(&o.StaticDir, prefix+"static-dir", "", "serve the console's front end from this directory (e.g. console/frontend/web/dist) instead of the embedded one")
	fs.StringVar(&o.PrometheusURL, prefix+"prometheus-url", "", "Prometheus URL (http or https, e.g. http://prometheus-k8s.monitoring:9090) the console queries for the Metrics tab's charts and the admin view's GPU utilisation (optional)")
	fs.StringVar(&o.GrafanaURL, prefix+"grafana-url", "", "Grafana URL the console's Metrics tab links to (optional)")
	fs.StringVar(&o.DevTokenFile, prefix+"dev-token-file", "", "local use only: a file with a bearer token used for console requests that bring none; refused unless the bind address is a loopback address")
	fs.StringVar(&o.TLSCertFile, prefix+"tls-cert-file", "", "serve the console over HTTPS with this certificate (and the key file)")
	fs.StringVar(&o.TLSKeyFile, prefix+"tls-key-file", "", "key of the console's TLS certificate")
	fs.StringVar(&o.CookieSecretFile, prefix+"write-cookie-secret", "", "write a random session cookie secret for oauth-proxy to this file and exit")
	fs.BoolVar(&o.JobIndex, prefix+"job-index", true, "serve the job list from an index of every MPIJob's row, fed by one watch with the console's own ServiceAccount (which needs list and watch of mpijobs in every namespace; without them lists are read with each caller's token)")
}

// WriteCookieSecret writes 32 random hex characters (a valid AES key for
// oauth-proxy's session cookies) to path.
func WriteCookieSecret(path string) error {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(hex.EncodeToString(b)), 0o444) // the volume is the pod's own; oauth-proxy may run as another user
}

// devToken reads the dev token file, which only a loopback listener may
// use: anyone reaching the port acts with that token.
func (o Options) devToken() (string, error) {
	if o.DevTokenFile == "" {
		return "", nil
	}
	host, _, err := net.SplitHostPort(o.BindAddress)
	if err != nil {
		return "", fmt.Errorf("bind address %q: %w", o.BindAddress, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("a dev token file needs a loopback bind address (127.0.0.1:PORT), not %q: anyone reaching the port would act with the token", o.BindAddress)
	}
	data, err := os.ReadFile(o.DevTokenFile)
	if err != nil {
		return "", err
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", fmt.Errorf("dev token file %s is empty", o.DevTokenFile)
	}
	return token, nil
}

// checkPrometheusURL refuses a Prometheus URL the console could not query,
// at start rather than on every Metrics tab.
func checkPrometheusURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("prometheus URL %q: want http(s)://HOST[:PORT][/PATH], e.g. http://prometheus-k8s.monitoring:9090", s)
	}
	return nil
}

// Handler returns the console's HTTP handler for the apiserver of cfg
// (only its address and CA are used; every request brings its caller's
// token), with /healthz for probes. jobs, when not nil, is the index the
// job list is served from (Run starts it with cfg's own identity).
func (o Options) Handler(cfg *rest.Config, log logr.Logger, jobs *backend.JobIndex) (http.Handler, error) {
	token, err := o.devToken()
	if err != nil {
		return nil, err
	}
	if err := checkPrometheusURL(o.PrometheusURL); err != nil {
		return nil, err
	}
	static := frontend.Embedded()
	if o.StaticDir != "" {
		if _, err := os.Stat(o.StaticDir + "/index.html"); err != nil {
			return nil, fmt.Errorf("static dir: %w (build the front end with `npm run build` in console/frontend)", err)
		}
		static = frontend.Dir(o.StaticDir)
	} else if !frontend.Built() {
		log.Info("this binary has no built front end; serving a placeholder page (build console/frontend first, or use a static dir)")
	}
	srv := backend.New(backend.Options{
		Clients:       backend.NewClientFactory(cfg),
		DevToken:      token,
		Static:        frontend.Handler(static),
		PrometheusURL: o.PrometheusURL,
		GrafanaURL:    o.GrafanaURL,
		Version:       o.Version,
		Jobs:          jobs,
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.Handle("/", srv.Handler())
	return mux, nil
}

// Run serves the console until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, cfg *rest.Config, o Options, log logr.Logger) error {
	if o.CookieSecretFile != "" {
		return WriteCookieSecret(o.CookieSecretFile)
	}
	var jobs *backend.JobIndex
	if o.JobIndex {
		jobs = backend.StartJobIndex(ctx, cfg, log)
	}
	h, err := o.Handler(cfg, log, jobs)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Addr:              o.BindAddress,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ln, err := net.Listen("tcp", o.BindAddress)
	if err != nil {
		return err
	}
	scheme := "http"
	if o.TLSCertFile != "" {
		scheme = "https"
	}
	log.Info("serving the MPIJob console", "url", scheme+"://"+ln.Addr().String(), "apiserver", cfg.Host, "version", o.Version)
	errc := make(chan error, 1)
	go func() {
		if o.TLSCertFile != "" {
			errc <- hs.ServeTLS(ln, o.TLSCertFile, o.TLSKeyFile)
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
