// Package webhookcert_test runs the webhook certificate rotator against a
// real kube-apiserver and etcd, and serves TLS with what it writes.
package webhookcert_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mpijob-platform/mpijob-platform/operator/pkg/webhookcert"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

var env *framework.Env

func TestMain(m *testing.M) {
	os.Exit(framework.RunWithControlPlane(m, &env))
}

const secretName = "mpijob-webhook-cert"

// writeCounter counts the requests that are not reads (anything but GET,
// HEAD and OPTIONS) that a client sends to the API server.
type writeCounter struct {
	mu     sync.Mutex
	writes []string
}

func (w *writeCounter) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	got := w.writes
	w.writes = nil
	return got
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// countingClient returns a client for the test control plane whose writes
// are recorded by the returned counter.
func countingClient(t *testing.T) (client.Client, *writeCounter) {
	t.Helper()
	counter := &writeCounter{}
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			switch r.Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
			default:
				counter.mu.Lock()
				counter.writes = append(counter.writes, r.Method+" "+r.URL.Path)
				counter.mu.Unlock()
			}
			return rt.RoundTrip(r)
		})
	})
	c, err := client.New(cfg, client.Options{Scheme: framework.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c, counter
}

// createWebhookConfigurations creates a mutating and a validating
// configuration whose webhooks never intercept anything: they match a
// made-up API group, point at a closed port and ignore failures.
func createWebhookConfigurations(t *testing.T) (mutating, validating string) {
	t.Helper()
	ctx := context.Background()
	suffix := rand.String(5)
	ignore := admissionregistrationv1.Ignore
	none := admissionregistrationv1.SideEffectClassNone
	url := "https://127.0.0.1:1/x"
	rules := []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule: admissionregistrationv1.Rule{
			APIGroups: []string{"webhookcert.mpijob.test"}, APIVersions: []string{"v1"}, Resources: []string{"widgets"},
		},
	}}
	m := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "webhookcert-test-mutating-" + suffix},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "mutate.webhookcert.mpijob.test",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url},
			Rules:                   rules,
			SideEffects:             &none,
			FailurePolicy:           &ignore,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "webhookcert-test-validating-" + suffix},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			{
				Name:                    "validate.webhookcert.mpijob.test",
				ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url},
				Rules:                   rules,
				SideEffects:             &none,
				FailurePolicy:           &ignore,
				AdmissionReviewVersions: []string{"v1"},
			},
			{
				Name:                    "validate-again.webhookcert.mpijob.test",
				ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url},
				Rules:                   rules,
				SideEffects:             &none,
				FailurePolicy:           &ignore,
				AdmissionReviewVersions: []string{"v1"},
			},
		},
	}
	for _, obj := range []client.Object{m, v} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatalf("creating %s: %v", obj.GetName(), err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), obj) })
	}
	return m.Name, v.Name
}

// caBundles returns the caBundle of every webhook in the two configurations
// and the configurations' resourceVersions.
func caBundles(t *testing.T, mutating, validating string) (bundles [][]byte, versions []string) {
	t.Helper()
	ctx := context.Background()
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: mutating}, m); err != nil {
		t.Fatal(err)
	}
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: validating}, v); err != nil {
		t.Fatal(err)
	}
	for _, w := range m.Webhooks {
		bundles = append(bundles, w.ClientConfig.CABundle)
	}
	for _, w := range v.Webhooks {
		bundles = append(bundles, w.ClientConfig.CABundle)
	}
	return bundles, []string{m.ResourceVersion, v.ResourceVersion}
}

func getSecret(t *testing.T, namespace string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: secretName}, s); err != nil {
		t.Fatalf("reading the Secret: %v", err)
	}
	return s
}

func parseCerts(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	return certs
}

// assertFilesMatch checks that dir holds the Secret's tls.crt, tls.key and
// ca.crt.
func assertFilesMatch(t *testing.T, dir string, s *corev1.Secret) {
	t.Helper()
	for _, name := range []string{webhookcert.TLSCertKey, webhookcert.TLSKeyKey, webhookcert.CACertKey} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("reading %s: %v", name, err)
		}
		if !bytes.Equal(got, s.Data[name]) {
			t.Errorf("%s in %s differs from the Secret", name, dir)
		}
	}
}

// serveTLS serves HTTPS on 127.0.0.1 with the certificate getCert returns
// and answers every request with "ok". It returns the port.
func serveTLS(t *testing.T, getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: getCert, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }),
		ReadHeaderTimeout: 10 * time.Second,
		// Refused handshakes are expected here; keep them out of the output.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// get sends an HTTPS request for https://host:port/ to 127.0.0.1:port,
// trusting only the CAs in bundle and verifying as of now. It returns the
// server's leaf certificate.
func get(host, port string, bundle []byte, now time.Time) (*x509.Certificate, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundle) {
		return nil, errors.New("the bundle holds no certificate")
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	c := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			// Every name resolves to the test server, as the Service
			// name resolves to the webhook Pod in a cluster.
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
			},
			TLSClientConfig:   &tls.Config{RootCAs: pool, Time: func() time.Time { return now }, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
		},
	}
	resp, err := c.Get("https://" + net.JoinHostPort(host, port) + "/")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		return nil, fmt.Errorf("got %s %q, want 200 ok", resp.Status, body)
	}
	return resp.TLS.PeerCertificates[0], nil
}

func TestRotatorAgainstARealAPIServer(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "webhookcert")
	mutating, validating := createWebhookConfigurations(t)
	service := "mpijob-webhook." + ns + ".svc"
	dnsNames := []string{service, service + ".cluster.local"}
	opts := webhookcert.Options{
		SecretNamespace:                 ns,
		SecretName:                      secretName,
		CertDir:                         filepath.Join(t.TempDir(), "replica-a"),
		DNSNames:                        dnsNames,
		IPAddresses:                     []net.IP{net.ParseIP("127.0.0.1")},
		MutatingWebhookConfigurations:   []string{mutating},
		ValidatingWebhookConfigurations: []string{validating},
	}
	c, writes := countingClient(t)

	// First start: everything is created.
	first, err := webhookcert.New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.EnsureOnce(ctx); err != nil {
		t.Fatalf("first EnsureOnce: %v", err)
	}
	wantWrites := []string{
		"POST /api/v1/namespaces/" + ns + "/secrets",
		"PATCH /apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/" + mutating,
		"PATCH /apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/" + validating,
	}
	if got := writes.take(); strings.Join(got, "\n") != strings.Join(wantWrites, "\n") {
		t.Errorf("first pass writes = %q, want %q", got, wantWrites)
	}
	secret := getSecret(t, ns)
	if secret.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret type = %s, want %s", secret.Type, corev1.SecretTypeTLS)
	}
	if secret.Labels[webhookcert.LabelManagedBy] != "mpijob-platform" || secret.Labels[webhookcert.LabelComponent] != "webhook-cert" {
		t.Errorf("Secret labels = %v", secret.Labels)
	}
	bundle := secret.Data[webhookcert.CACertKey]
	originalCAs := parseCerts(t, bundle)
	if len(originalCAs) != 1 {
		t.Fatalf("bundle holds %d CAs, want 1", len(originalCAs))
	}
	assertFilesMatch(t, opts.CertDir, secret)
	bundles, configVersions := caBundles(t, mutating, validating)
	if len(bundles) != 3 {
		t.Fatalf("got %d webhooks, want 3", len(bundles))
	}
	for i, b := range bundles {
		if !bytes.Equal(b, bundle) {
			t.Errorf("caBundle of webhook %d differs from the Secret's ca.crt", i)
		}
	}

	// A TLS server loading the written files, as the webhook server does
	// through certwatcher, is trusted by a client that trusts only the
	// caBundle, under every name and IP of the certificate.
	watcher, err := certwatcher.New(filepath.Join(opts.CertDir, webhookcert.TLSCertKey), filepath.Join(opts.CertDir, webhookcert.TLSKeyKey))
	if err != nil {
		t.Fatalf("loading the written files: %v", err)
	}
	watcher = watcher.WithWatchInterval(100 * time.Millisecond)
	watchCtx, stopWatching := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		_ = watcher.Start(watchCtx)
	}()
	t.Cleanup(func() { stopWatching(); <-watchDone })
	reloading := serveTLS(t, watcher.GetCertificate)

	// A second server keeps the original certificate, as a replica that
	// has not picked up a rotation yet would.
	original, err := tls.LoadX509KeyPair(filepath.Join(opts.CertDir, webhookcert.TLSCertKey), filepath.Join(opts.CertDir, webhookcert.TLSKeyKey))
	if err != nil {
		t.Fatal(err)
	}
	static := serveTLS(t, func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &original, nil })

	now := time.Now()
	for _, host := range append([]string{"127.0.0.1"}, dnsNames...) {
		if _, err := get(host, reloading, bundle, now); err != nil {
			t.Errorf("connecting as %s: %v", host, err)
		}
	}
	var hostErr x509.HostnameError
	if _, err := get("other."+ns+".svc", reloading, bundle, now); !errors.As(err, &hostErr) {
		t.Errorf("connecting under a name the certificate lacks: err = %v, want a hostname error", err)
	}
	var unknown x509.UnknownAuthorityError
	if _, err := get(service, reloading, foreignCA(t), now); !errors.As(err, &unknown) {
		t.Errorf("connecting while trusting another CA: err = %v, want an unknown authority error", err)
	}

	// Restart, or a second replica: the same certificates are reused and
	// nothing is written to the API server.
	replicaOpts := opts
	replicaOpts.CertDir = filepath.Join(t.TempDir(), "replica-b")
	second, err := webhookcert.New(c, replicaOpts)
	if err != nil {
		t.Fatal(err)
	}
	if err := second.EnsureOnce(ctx); err != nil {
		t.Fatalf("second replica's EnsureOnce: %v", err)
	}
	if err := first.EnsureOnce(ctx); err != nil {
		t.Fatalf("first replica's second EnsureOnce: %v", err)
	}
	if got := writes.take(); len(got) != 0 {
		t.Errorf("idle passes wrote %q, want no writes", got)
	}
	reread := getSecret(t, ns)
	if reread.ResourceVersion != secret.ResourceVersion {
		t.Errorf("Secret resourceVersion %s -> %s, want it unchanged", secret.ResourceVersion, reread.ResourceVersion)
	}
	assertFilesMatch(t, replicaOpts.CertDir, secret)
	if _, versions := caBundles(t, mutating, validating); strings.Join(versions, ",") != strings.Join(configVersions, ",") {
		t.Errorf("webhook configuration resourceVersions %v -> %v, want them unchanged", configVersions, versions)
	}

	// Seven years on, past two thirds of the CA's ten: the CA rotates, the
	// old CA stays in the bundle, and the serving certificate comes from
	// the new CA.
	future := time.Now().Add(7 * 365 * 24 * time.Hour)
	rotatingOpts := opts
	rotatingOpts.Now = func() time.Time { return future }
	rotating, err := webhookcert.New(c, rotatingOpts)
	if err != nil {
		t.Fatal(err)
	}
	if err := rotating.EnsureOnce(ctx); err != nil {
		t.Fatalf("rotating EnsureOnce: %v", err)
	}
	rotated := getSecret(t, ns)
	newBundle := rotated.Data[webhookcert.CACertKey]
	cas := parseCerts(t, newBundle)
	if len(cas) != 2 {
		t.Fatalf("bundle after CA rotation holds %d CAs, want 2", len(cas))
	}
	if cas[0].Equal(originalCAs[0]) || !cas[1].Equal(originalCAs[0]) {
		t.Error("want the new CA first and the original CA second")
	}
	assertFilesMatch(t, opts.CertDir, rotated)
	bundles, _ = caBundles(t, mutating, validating)
	for i, b := range bundles {
		if !bytes.Equal(b, newBundle) {
			t.Errorf("caBundle of webhook %d is not the rotated bundle", i)
		}
	}

	// Clients with the new bundle still trust a replica serving the
	// original certificate...
	if _, err := get(service, static, newBundle, time.Now()); err != nil {
		t.Errorf("original certificate against the new bundle: %v", err)
	}
	// ...and the reloading server picks up the new certificate, which
	// they trust too (at the future time it was issued for).
	framework.Eventually(t, 30*time.Second, "the server to serve the rotated certificate", func(context.Context) (bool, string, error) {
		leaf, err := get(service, reloading, newBundle, future.Add(time.Minute))
		if err != nil {
			return false, err.Error(), nil
		}
		if err := leaf.CheckSignatureFrom(cas[0]); err != nil {
			return false, "served certificate is not from the new CA yet", nil
		}
		return true, "", nil
	})
}

// foreignCA returns a PEM bundle holding one CA unrelated to the rotator.
func foreignCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "foreign-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(cryptorand.Reader, template, template, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
