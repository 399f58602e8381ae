package webhookcert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	t0        = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	testNames = []string{"mpijob-webhook.mpijob-system.svc", "mpijob-webhook.mpijob-system.svc.cluster.local"}
	testIPs   = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	year      = 365 * 24 * time.Hour
)

func mustCA(t *testing.T, now time.Time, validity time.Duration) *keyPair {
	t.Helper()
	ca, err := newCA(now, validity)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustServing(t *testing.T, ca *keyPair, names []string, ips []net.IP, now time.Time, validity time.Duration) *keyPair {
	t.Helper()
	kp, err := newServingCert(ca, names, ips, now, validity)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func mustParseCerts(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	certs, err := parseCertificates(data)
	if err != nil {
		t.Fatalf("parsing certificates: %v", err)
	}
	return certs
}

// verifyServing verifies the first certificate in certPEM as a TLS server
// certificate for host against the CAs in bundlePEM, at now.
func verifyServing(t *testing.T, bundlePEM, certPEM []byte, host string, now time.Time) error {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundlePEM) {
		t.Fatal("bundle holds no certificate")
	}
	certs := mustParseCerts(t, certPEM)
	_, err := certs[0].Verify(x509.VerifyOptions{
		DNSName:     host,
		Roots:       pool,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

func TestServingCertVerifiesForEveryNameAndIP(t *testing.T) {
	ca := mustCA(t, t0, DefaultCAValidity)
	serving := mustServing(t, ca, testNames, testIPs, t0, DefaultCertValidity)

	hosts := append([]string(nil), testNames...)
	for _, ip := range testIPs {
		hosts = append(hosts, ip.String())
	}
	for _, host := range hosts {
		if err := verifyServing(t, ca.certPEM, serving.certPEM, host, t0); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if err := verifyServing(t, ca.certPEM, serving.certPEM, "other.mpijob-system.svc", t0); err == nil {
		t.Error("the certificate verified for a name it was not issued for")
	}
	other := mustCA(t, t0, DefaultCAValidity)
	if err := verifyServing(t, other.certPEM, serving.certPEM, testNames[0], t0); err == nil {
		t.Error("the certificate verified against an unrelated CA")
	}
	if err := verifyServing(t, ca.certPEM, serving.certPEM, testNames[0], t0.Add(DefaultCertValidity+time.Minute)); err == nil {
		t.Error("the certificate verified after its validity")
	}

	// The PEM forms are what a TLS server loads.
	if _, err := tls.X509KeyPair(serving.certPEM, serving.keyPEM); err != nil {
		t.Errorf("serving key pair does not load: %v", err)
	}
	if _, err := tls.X509KeyPair(ca.certPEM, ca.keyPEM); err != nil {
		t.Errorf("CA key pair does not load: %v", err)
	}
	if !ca.cert.IsCA || serving.cert.IsCA {
		t.Errorf("IsCA: CA %v, serving %v; want true, false", ca.cert.IsCA, serving.cert.IsCA)
	}
}

func TestServingCertNeverOutlivesItsCA(t *testing.T) {
	ca := mustCA(t, t0, year)
	serving := mustServing(t, ca, testNames, nil, t0.Add(300*24*time.Hour), year)
	if !serving.cert.NotAfter.Equal(ca.cert.NotAfter) {
		t.Errorf("serving certificate expires %s, want the CA's expiry %s", serving.cert.NotAfter, ca.cert.NotAfter)
	}
}

func TestServingCertNeedsANameOrIP(t *testing.T) {
	ca := mustCA(t, t0, year)
	if _, err := newServingCert(ca, nil, nil, t0, year); err == nil {
		t.Error("newServingCert without names: want an error")
	}
}

func TestServingCertForIPsOnly(t *testing.T) {
	ca := mustCA(t, t0, year)
	serving := mustServing(t, ca, nil, testIPs[:1], t0, year/2)
	if err := verifyServing(t, ca.certPEM, serving.certPEM, "127.0.0.1", t0); err != nil {
		t.Error(err)
	}
}

func TestNeedsRotation(t *testing.T) {
	ca := mustCA(t, t0, DefaultCAValidity)
	serving := mustServing(t, ca, testNames, testIPs, t0, DefaultCertValidity)
	otherCA := mustCA(t, t0, DefaultCAValidity)
	fromOtherCA := mustServing(t, otherCA, testNames, testIPs, t0, DefaultCertValidity)
	// 70% of the lifetime, measured as the rotation does, from NotBefore.
	at := func(c *x509.Certificate, fraction float64) time.Time {
		return c.NotBefore.Add(time.Duration(fraction * float64(c.NotAfter.Sub(c.NotBefore))))
	}

	servingCases := []struct {
		name   string
		cert   *x509.Certificate
		names  []string
		ips    []net.IP
		now    time.Time
		rotate bool
		reason string
	}{
		{name: "fresh", cert: serving.cert, names: testNames, ips: testIPs, now: t0},
		{name: "60% elapsed", cert: serving.cert, names: testNames, ips: testIPs, now: at(serving.cert, 0.6)},
		{name: "70% elapsed", cert: serving.cert, names: testNames, ips: testIPs, now: at(serving.cert, 0.7), rotate: true, reason: "2/3 of its lifetime"},
		{name: "expired", cert: serving.cert, names: testNames, ips: testIPs, now: serving.cert.NotAfter.Add(time.Hour), rotate: true, reason: "2/3 of its lifetime"},
		{name: "fewer names wanted", cert: serving.cert, names: testNames[:1], now: t0},
		{name: "new DNS name", cert: serving.cert, names: []string{testNames[0], "mpijob-webhook.other.svc"}, now: t0, rotate: true, reason: "mpijob-webhook.other.svc"},
		{name: "new IP", cert: serving.cert, names: testNames, ips: []net.IP{net.ParseIP("10.0.0.7")}, now: t0, rotate: true, reason: "10.0.0.7"},
		{name: "signed by another CA", cert: fromOtherCA.cert, names: testNames, ips: testIPs, now: t0, rotate: true, reason: "not signed by the current CA"},
	}
	for _, tc := range servingCases {
		t.Run("serving/"+tc.name, func(t *testing.T) {
			rotate, reason := servingNeedsRotation(tc.cert, ca.cert, tc.names, tc.ips, tc.now)
			if rotate != tc.rotate || !strings.Contains(reason, tc.reason) {
				t.Errorf("servingNeedsRotation = %v, %q; want %v and a reason containing %q", rotate, reason, tc.rotate, tc.reason)
			}
		})
	}

	caCases := []struct {
		name   string
		now    time.Time
		rotate bool
	}{
		{name: "fresh", now: t0},
		{name: "half way", now: at(ca.cert, 0.5)},
		{name: "near expiry (70%)", now: at(ca.cert, 0.7), rotate: true},
		{name: "expired", now: ca.cert.NotAfter.Add(time.Hour), rotate: true},
	}
	for _, tc := range caCases {
		t.Run("ca/"+tc.name, func(t *testing.T) {
			rotate, reason := caNeedsRotation(ca.cert, tc.now)
			if rotate != tc.rotate || (rotate && !strings.Contains(reason, "2/3 of its lifetime")) {
				t.Errorf("caNeedsRotation = %v, %q; want %v", rotate, reason, tc.rotate)
			}
		})
	}
	if rotate, _ := caNeedsRotation(serving.cert, t0); !rotate {
		t.Error("a leaf certificate used as CA: want rotation")
	}
}

func TestParseCertificatesKeepsTheGoodParts(t *testing.T) {
	a := mustCA(t, t0, year)
	b := mustCA(t, t0, year)
	data := slices.Concat(a.certPEM, []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"),
		a.keyPEM, b.certPEM, []byte("trailing garbage"))
	certs, err := parseCertificates(data)
	if err == nil {
		t.Error("want an error for the garbage")
	}
	if len(certs) != 2 || !certs[0].Equal(a.cert) || !certs[1].Equal(b.cert) {
		t.Errorf("got %d certificates, want the two good ones in order", len(certs))
	}
	if certs, err := parseCertificates(nil); err != nil || len(certs) != 0 {
		t.Errorf("parseCertificates(nil) = %d certificates, %v; want none, no error", len(certs), err)
	}
}

func TestParsePrivateKey(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"SEC 1":   pem.EncodeToMemory(&pem.Block{Type: pemECKey, Bytes: sec1}),
		"PKCS #8": pem.EncodeToMemory(&pem.Block{Type: pemPKCS8Key, Bytes: pkcs8}),
	} {
		got, err := parsePrivateKey(data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !key.PublicKey.Equal(got.Public()) {
			t.Errorf("%s: parsed a different key", name)
		}
	}
	for name, data := range map[string][]byte{
		"empty":           nil,
		"not PEM":         []byte("garbage"),
		"a certificate":   mustCA(t, t0, year).certPEM,
		"corrupt PKCS #8": pem.EncodeToMemory(&pem.Block{Type: pemPKCS8Key, Bytes: []byte("nope")}),
	} {
		if _, err := parsePrivateKey(data); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestParseKeyPairRejectsAMismatchedKey(t *testing.T) {
	a := mustCA(t, t0, year)
	b := mustCA(t, t0, year)
	if _, err := parseKeyPair(a.certPEM, b.keyPEM); err == nil {
		t.Error("want an error for a key that belongs to another certificate")
	}
	kp, err := parseKeyPair(a.certPEM, a.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !kp.cert.Equal(a.cert) || !bytes.Equal(kp.keyPEM, a.keyPEM) {
		t.Error("parseKeyPair did not return the stored pair")
	}
}

func testParams(now time.Time) certParams {
	return certParams{dnsNames: testNames, ips: testIPs, caValidity: DefaultCAValidity, certValidity: DefaultCertValidity, now: now}
}

func TestPlanCertificatesKeepsGoodDataByteForByte(t *testing.T) {
	first, reasons, err := planCertificates(nil, testParams(t0))
	if err != nil {
		t.Fatal(err)
	}
	if len(reasons) != 2 {
		t.Errorf("reasons for a first plan = %q, want a new CA and a new serving certificate", reasons)
	}
	for _, k := range []string{TLSCertKey, TLSKeyKey, CACertKey, CAKeyKey} {
		if len(first[k]) == 0 {
			t.Errorf("%s is empty", k)
		}
	}
	if err := verifyServing(t, first[CACertKey], first[TLSCertKey], testNames[1], t0); err != nil {
		t.Error(err)
	}

	again, reasons, err := planCertificates(first, testParams(t0.Add(30*24*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if len(reasons) != 0 || !containsData(first, again) || len(again) != len(first) {
		t.Errorf("a second plan a month later changed something: %q", reasons)
	}
}
