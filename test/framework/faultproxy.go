package framework

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Fault is what a FaultProxy does to the requests it forwards. Each
// request draws once from the proxy's seeded source: with probability
// Reset its connection is cut, else with ServerError it gets a 503, else
// with TooMany a 429 (Retry-After: 1); every request is delayed by
// Latency first. Watches are only delayed, never failed, so that the
// faults hit the requests a controller retries.
type Fault struct {
	Latency                     time.Duration
	Reset, ServerError, TooMany float64
}

// FaultProxy is a TLS-terminating reverse proxy on 127.0.0.1 in front of
// the cluster's API server, for a client whose network the test owns. It
// forwards the client's own credentials (a bearer token), so the API
// server sees the same identity as without it.
type FaultProxy struct {
	URL    string
	caPEM  []byte
	server *http.Server

	mu    sync.Mutex
	fault Fault
	rng   *mrand.Rand

	requests, injected atomic.Int64
}

// NewFaultProxy starts a proxy to env's API server whose faults draw from
// a source seeded with seed (the same seed, the same faults).
func NewFaultProxy(env *Env, seed uint64) (*FaultProxy, error) {
	target, err := url.Parse(env.Config.Host)
	if err != nil {
		return nil, err
	}
	upstream, err := rest.TransportFor(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CAData: env.Config.CAData}})
	if err != nil {
		return nil, err
	}
	cert, caPEM, err := loopbackCertificate()
	if err != nil {
		return nil, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, err
	}
	p := &FaultProxy{URL: "https://" + ln.Addr().String(), caPEM: caPEM, rng: mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.Host = target.Host },
		Transport:     upstream,
		FlushInterval: -1,                         // watches stream
		ErrorLog:      log.New(io.Discard, "", 0), // cut and canceled requests are the point
	}
	p.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		f, draw := p.draw()
		if f.Latency > 0 {
			time.Sleep(f.Latency)
		}
		if r.URL.Query().Get("watch") != "true" {
			switch {
			case draw < f.Reset:
				p.injected.Add(1)
				panic(http.ErrAbortHandler) // the connection is cut without a response
			case draw < f.Reset+f.ServerError:
				p.injected.Add(1)
				status(w, http.StatusServiceUnavailable, "ServiceUnavailable", "injected by the test's fault proxy")
				return
			case draw < f.Reset+f.ServerError+f.TooMany:
				p.injected.Add(1)
				w.Header().Set("Retry-After", "1")
				status(w, http.StatusTooManyRequests, "TooManyRequests", "injected by the test's fault proxy")
				return
			}
		}
		rp.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.server.Serve(ln) }()
	return p, nil
}

func status(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":%q,"reason":%q,"code":%d}`, msg, reason, code)
}

func (p *FaultProxy) draw() (Fault, float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fault, p.rng.Float64()
}

// SetFault changes what the proxy does from now on; Fault{} forwards
// everything untouched.
func (p *FaultProxy) SetFault(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
}

// Requests is how many requests reached the proxy; Injected how many of
// them it failed.
func (p *FaultProxy) Requests() int64 { return p.requests.Load() }

// Injected is how many requests the proxy failed on purpose.
func (p *FaultProxy) Injected() int64 { return p.injected.Load() }

// Close stops the proxy and cuts its connections.
func (p *FaultProxy) Close() { _ = p.server.Close() }

// Kubeconfig writes a copy of the kubeconfig at path whose server is the
// proxy (trusting the proxy's certificate) and returns its path.
func (p *FaultProxy) Kubeconfig(path string) (string, error) {
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return "", err
	}
	for _, c := range cfg.Clusters {
		c.Server, c.CertificateAuthorityData, c.CertificateAuthority = p.URL, p.caPEM, ""
	}
	out := strings.TrimSuffix(path, filepath.Ext(path)) + "-via-proxy.kubeconfig"
	return out, clientcmd.WriteToFile(*cfg, out)
}

// loopbackCertificate makes a self-signed serving certificate for
// 127.0.0.1, and its PEM for the client to trust.
func loopbackCertificate() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "fault-proxy"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	return cert, certPEM, err
}
