// Package webhookcert keeps the TLS serving certificate of the operator's
// admission webhooks valid without any outside help.
//
// # Lifecycle
//
// On its first pass the Rotator generates a private certificate authority
// (CA) and a serving certificate signed by it for the configured DNS names
// and IP addresses. Both, with their keys, live in one Secret of type
// kubernetes.io/tls:
//
//	tls.crt, tls.key  the serving certificate and its key
//	ca.crt            the CA bundle: the current CA first, then older CAs
//	                  that have not expired yet
//	ca.key            the current CA's key
//
// The Secret is the single source of truth. A restarted manager, or a second
// replica, reads it and reuses what it finds, so nothing is regenerated just
// because a process started. Concurrent replicas settle races through the
// API server: creating an existing Secret fails with AlreadyExists and an
// update with a stale resourceVersion fails with Conflict; the loser re-reads
// the Secret and adopts the winner's certificates.
//
// Every replica then writes tls.crt, tls.key and ca.crt into the webhook
// server's certificate directory (each file is replaced atomically, and only
// when its content changed), where controller-runtime's certwatcher picks
// them up, and sets the caBundle of every webhook in the named
// MutatingWebhookConfigurations and ValidatingWebhookConfigurations to the
// Secret's ca.crt, so the API server trusts the served certificate.
//
// # Rotation
//
// Each pass (Start runs one every Options.CheckInterval) checks the
// certificates against Options.Now:
//
//   - the serving certificate is replaced once two thirds of its lifetime
//     have passed, when it was not signed by the current CA, when its names
//     no longer cover the wanted DNS names and IPs, or when it cannot be
//     parsed;
//   - the CA is replaced once two thirds of its lifetime have passed (or when
//     it or its key cannot be parsed), which also replaces the serving
//     certificate.
//
// Rotating at two thirds leaves a third of the lifetime (four months for the
// default one-year serving certificate) to notice and fix a failing
// rotation before anything expires.
//
// When the CA changes, the old CA stays in ca.crt, behind the new one, until
// it expires. Clients that still hold the old bundle keep trusting the old
// serving certificate, and clients with the new bundle trust both, so no
// client meets an unknown CA during the switch. For the same reason a pass
// updates the webhook configurations' caBundle before it writes the new
// serving certificate to disk.
//
// A pass with nothing to do only reads: it makes no API writes and touches
// no files.
//
// # Wiring
//
// The manager calls EnsureOnce before it starts the webhook server, so the
// files exist when the server loads them, and then adds the Rotator as a
// runnable. The Rotator does not need leader election: every replica serves
// webhooks and needs its own copy of the files.
//
// Clusters that already run a certificate service can leave this package
// out: OpenShift's service-ca operator and cert-manager (with its CA
// injector) both issue serving certificates into a Secret and inject the
// caBundle. The manager then serves from that externally managed certificate
// directory instead of running a Rotator.
package webhookcert
