package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	mpijobwebhook "github.com/mpijob-platform/mpijob-platform/operator/internal/webhook"
	"github.com/mpijob-platform/mpijob-platform/operator/pkg/webhookcert"
)

// webhookFlags configure the admission webhooks and their certificates.
type webhookFlags struct {
	bindAddress, certDir, certSecret, certNames string
	mutatingConfig, validatingConfig            string
	policy                                      mpijobwebhook.Policy
}

func (w *webhookFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&w.bindAddress, "webhook-bind-address", "", "HOST:PORT where the MPIJob admission webhooks listen over TLS; empty disables them")
	fs.StringVar(&w.certDir, "webhook-cert-dir", filepath.Join(os.TempDir(), "mpijob-webhook-certs"), "folder with tls.crt and tls.key; reloaded when they change")
	fs.StringVar(&w.certSecret, "webhook-cert-secret", "", "NAMESPACE/NAME of the Secret where the manager keeps a self-managed CA and serving certificate; empty means the files in --webhook-cert-dir are managed by someone else (OpenShift service-ca, cert-manager)")
	fs.StringVar(&w.certNames, "webhook-cert-names", "", "comma-separated DNS names and IP addresses of the self-managed serving certificate (e.g. mpijob-webhook.mpijob-system.svc)")
	fs.StringVar(&w.mutatingConfig, "mutating-webhook-configuration", "mpijob-platform-mutating", "MutatingWebhookConfiguration whose caBundle the self-managed CA keeps in sync")
	fs.StringVar(&w.validatingConfig, "validating-webhook-configuration", "mpijob-platform-validating", "ValidatingWebhookConfiguration whose caBundle the self-managed CA keeps in sync")
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
