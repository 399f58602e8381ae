package webhookcert

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// Keys of the Secret's data. The first three are also the names of the files
// written to the certificate directory; the CA key never leaves the Secret.
const (
	TLSCertKey = "tls.crt" // serving certificate
	TLSKeyKey  = "tls.key" // serving certificate's private key
	CACertKey  = "ca.crt"  // CA bundle: current CA first, then unexpired older CAs
	CAKeyKey   = "ca.key"  // current CA's private key
)

const (
	// backdate moves NotBefore into the past so that a certificate is
	// already valid for peers whose clock runs a little behind ours.
	backdate = time.Hour

	caCommonName = "mpijob-platform-webhook-ca"

	pemCertificate = "CERTIFICATE"
	pemPKCS8Key    = "PRIVATE KEY"
	pemECKey       = "EC PRIVATE KEY"
	pemPKCS1Key    = "RSA PRIVATE KEY"
)

// keyPair is a certificate with its private key, parsed and PEM-encoded.
type keyPair struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	keyPEM  []byte
}

// newCA generates a self-signed CA valid for validity from now.
func newCA(now time.Time, validity time.Duration) (*keyPair, error) {
	template := &x509.Certificate{
		// The time in the name tells CAs in a bundle apart for humans.
		Subject:               pkix.Name{CommonName: fmt.Sprintf("%s@%d", caCommonName, now.Unix())},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // signs leaf certificates only
	}
	return issue(template, nil)
}

// newServingCert generates a server certificate for dnsNames and ips, signed
// by ca and valid for validity from now, but never beyond the CA's expiry.
func newServingCert(ca *keyPair, dnsNames []string, ips []net.IP, now time.Time, validity time.Duration) (*keyPair, error) {
	if len(dnsNames) == 0 && len(ips) == 0 {
		return nil, errors.New("a serving certificate needs at least one DNS name or IP address")
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	var cn string
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	} else {
		cn = ips[0].String()
	}
	template := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		DNSNames:    append([]string(nil), dnsNames...),
		IPAddresses: append([]net.IP(nil), ips...),
		NotBefore:   now.Add(-backdate),
		NotAfter:    notAfter,
		// ECDSA keys sign; they do not encipher keys, so DigitalSignature
		// is the only key usage a TLS server certificate needs.
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	return issue(template, ca)
}

// issue generates a P-256 key and a certificate for it from template, signed
// by parent, or self-signed when parent is nil.
func issue(template *x509.Certificate, parent *keyPair) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	template.SerialNumber = serial
	parentCert, signer := template, crypto.Signer(key)
	if parent != nil {
		parentCert, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, parentCert, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("signing certificate %q: %w", template.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing the new certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding key: %w", err)
	}
	return &keyPair{
		cert:    cert,
		key:     key,
		certPEM: encodeCertificates(cert),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: pemPKCS8Key, Bytes: keyDER}),
	}, nil
}

// encodeCertificates PEM-encodes certs, one block after the other.
func encodeCertificates(certs ...*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		// Encoding into a bytes.Buffer only fails for invalid headers,
		// and these blocks have none.
		_ = pem.Encode(&buf, &pem.Block{Type: pemCertificate, Bytes: c.Raw})
	}
	return buf.Bytes()
}

// parseCertificates returns the certificates in PEM data. It skips what it
// cannot parse and reports it in err, so a caller can keep the good ones.
func parseCertificates(data []byte) (certs []*x509.Certificate, err error) {
	var errs []error
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			if len(bytes.TrimSpace(data)) > 0 {
				errs = append(errs, errors.New("data that is not PEM"))
			}
			break
		}
		if block.Type != pemCertificate {
			errs = append(errs, fmt.Errorf("unexpected PEM block %q", block.Type))
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		certs = append(certs, c)
	}
	return certs, errors.Join(errs...)
}

// parsePrivateKey parses the first PEM block of data as a private key in
// PKCS #8, SEC 1 (EC) or PKCS #1 (RSA) form.
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM-encoded private key")
	}
	var key any
	var err error
	switch block.Type {
	case pemPKCS8Key:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case pemECKey:
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case pemPKCS1Key:
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unexpected PEM block %q, want a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing private key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", key)
	}
	return signer, nil
}

// keyMatches tells whether key is the private half of cert's public key.
func keyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}

// parseKeyPair parses a certificate (the first in certPEM) and its key, and
// checks that they belong together.
func parseKeyPair(certPEM, keyPEM []byte) (*keyPair, error) {
	certs, err := parseCertificates(certPEM)
	if len(certs) == 0 {
		if err == nil {
			err = errors.New("no certificate")
		}
		return nil, err
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, err
	}
	if !keyMatches(certs[0], key) {
		return nil, errors.New("the private key does not match the certificate")
	}
	return &keyPair{cert: certs[0], key: key, certPEM: certPEM, keyPEM: keyPEM}, nil
}

// renewalTime is when two thirds of cert's lifetime have passed.
func renewalTime(cert *x509.Certificate) time.Time {
	lifetime := cert.NotAfter.Sub(cert.NotBefore)
	return cert.NotBefore.Add(lifetime / 3 * 2)
}

// caNeedsRotation tells whether the CA ca should be replaced at now, and why.
func caNeedsRotation(ca *x509.Certificate, now time.Time) (bool, string) {
	if !ca.IsCA {
		return true, "the CA certificate is not a CA"
	}
	if renew := renewalTime(ca); !now.Before(renew) {
		return true, fmt.Sprintf("the CA reached 2/3 of its lifetime (renewal due %s, expiry %s)",
			renew.UTC().Format(time.RFC3339), ca.NotAfter.UTC().Format(time.RFC3339))
	}
	return false, ""
}

// servingNeedsRotation tells whether the serving certificate cert should be
// replaced at now, given the current CA and the names it must serve, and why.
func servingNeedsRotation(cert, ca *x509.Certificate, dnsNames []string, ips []net.IP, now time.Time) (bool, string) {
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return true, "the serving certificate was not signed by the current CA"
	}
	var missing []string
	for _, name := range dnsNames {
		if cert.VerifyHostname(name) != nil {
			missing = append(missing, name)
		}
	}
	for _, ip := range ips {
		if cert.VerifyHostname(ip.String()) != nil {
			missing = append(missing, ip.String())
		}
	}
	if len(missing) > 0 {
		return true, "the serving certificate does not cover " + strings.Join(missing, ", ")
	}
	if renew := renewalTime(cert); !now.Before(renew) {
		return true, fmt.Sprintf("the serving certificate reached 2/3 of its lifetime (renewal due %s, expiry %s)",
			renew.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return false, ""
}

// certParams is what the stored certificates must satisfy.
type certParams struct {
	dnsNames     []string
	ips          []net.IP
	caValidity   time.Duration
	certValidity time.Duration
	now          time.Time
}

// planCertificates returns the Secret data that should be stored, given the
// data stored now (nil or garbage alike). It keeps whatever is still good,
// byte for byte, and replaces the rest; reasons says what it replaced and why.
// The caller compares the result with what is stored to decide on a write.
func planCertificates(stored map[string][]byte, p certParams) (data map[string][]byte, reasons []string, err error) {
	bundle, bundleErr := parseCertificates(stored[CACertKey])
	if bundleErr != nil {
		reasons = append(reasons, fmt.Sprintf("dropping unparsable parts of %s: %v", CACertKey, bundleErr))
	}

	ca, caKeyPEM, why := currentCA(bundle, stored[CAKeyKey])
	if ca != nil {
		var rotate bool
		if rotate, why = caNeedsRotation(ca.cert, p.now); rotate {
			ca = nil
		}
	}
	if ca == nil {
		reasons = append(reasons, "new CA: "+why)
		if ca, err = newCA(p.now, p.caValidity); err != nil {
			return nil, reasons, fmt.Errorf("generating CA: %w", err)
		}
		caKeyPEM = ca.keyPEM
	}

	// The bundle: the current CA first, then every other CA that has not
	// expired, so clients holding an older bundle and servers still serving
	// a certificate from an older CA keep working through a CA rotation.
	trusted := []*x509.Certificate{ca.cert}
	for _, c := range bundle {
		switch {
		case !c.IsCA:
			reasons = append(reasons, fmt.Sprintf("dropping non-CA certificate %q from %s", c.Subject.CommonName, CACertKey))
		case !p.now.Before(c.NotAfter):
			reasons = append(reasons, fmt.Sprintf("dropping expired CA %q from %s", c.Subject.CommonName, CACertKey))
		case !containsCert(trusted, c):
			trusted = append(trusted, c)
		}
	}

	serving, err := parseKeyPair(stored[TLSCertKey], stored[TLSKeyKey])
	switch {
	case len(stored[TLSCertKey]) == 0:
		serving, why = nil, "no serving certificate stored"
	case err != nil:
		why = fmt.Sprintf("unusable serving certificate: %v", err)
	default:
		var rotate bool
		if rotate, why = servingNeedsRotation(serving.cert, ca.cert, p.dnsNames, p.ips, p.now); rotate {
			serving = nil
		}
	}
	if serving == nil {
		reasons = append(reasons, "new serving certificate: "+why)
		if serving, err = newServingCert(ca, p.dnsNames, p.ips, p.now, p.certValidity); err != nil {
			return nil, reasons, fmt.Errorf("generating serving certificate: %w", err)
		}
	}

	return map[string][]byte{
		TLSCertKey: serving.certPEM,
		TLSKeyKey:  serving.keyPEM,
		CACertKey:  encodeCertificates(trusted...),
		CAKeyKey:   caKeyPEM,
	}, reasons, nil
}

// currentCA finds the CA whose key is caKeyPEM: the first CA certificate in
// bundle with that public key. It returns the CA with the key's PEM as
// stored, or nil and the reason it found none.
func currentCA(bundle []*x509.Certificate, caKeyPEM []byte) (*keyPair, []byte, string) {
	if len(bundle) == 0 {
		return nil, nil, "no CA certificate stored"
	}
	key, err := parsePrivateKey(caKeyPEM)
	if err != nil {
		return nil, nil, fmt.Sprintf("unusable CA key: %v", err)
	}
	for _, c := range bundle {
		if c.IsCA && keyMatches(c, key) {
			return &keyPair{cert: c, key: key, certPEM: encodeCertificates(c), keyPEM: caKeyPEM}, caKeyPEM, ""
		}
	}
	return nil, nil, "no stored CA certificate matches the CA key"
}

func containsCert(certs []*x509.Certificate, c *x509.Certificate) bool {
	for _, have := range certs {
		if have.Equal(c) {
			return true
		}
	}
	return false
}
