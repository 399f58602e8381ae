package webhookcert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Defaults for the zero values of Options.
const (
	DefaultCAValidity    = 10 * 365 * 24 * time.Hour
	DefaultCertValidity  = 365 * 24 * time.Hour
	DefaultCheckInterval = time.Hour
)

// Labels put on the Secret.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelComponent = "app.kubernetes.io/component"
	ManagedByValue = "mpijob-platform"
	ComponentValue = "webhook-cert"
)

const (
	loggerName = "webhookcert"
	// firstRetryDelay is how soon Start retries a pass that failed or
	// found a webhook configuration missing; the delay doubles from there.
	firstRetryDelay = time.Second
)

// The controller's ClusterRole may patch only the platform's two webhook
// configurations; the certificate Secret is granted by a Role in the
// platform namespace (operator/pkg/identity), by name.
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations;validatingwebhookconfigurations,verbs=get;patch,resourceNames=mpijob-platform-mutating;mpijob-platform-validating

// Options configure a Rotator.
type Options struct {
	// SecretNamespace and SecretName name the Secret that stores the CA
	// and the serving certificate. Required.
	SecretNamespace, SecretName string
	// CertDir is the webhook server's certificate directory; tls.crt,
	// tls.key and ca.crt are written there. Required.
	CertDir string
	// DNSNames and IPAddresses are the names the serving certificate is
	// for, typically the webhook Service's DNS names
	// (<service>.<namespace>.svc). At least one name or address is required.
	DNSNames    []string
	IPAddresses []net.IP
	// MutatingWebhookConfigurations and ValidatingWebhookConfigurations name
	// the configurations whose webhooks get the CA bundle as caBundle.
	MutatingWebhookConfigurations   []string
	ValidatingWebhookConfigurations []string
	// CAValidity and CertValidity are the lifetimes of a new CA and of a
	// new serving certificate (default 10 years and 1 year). Each is
	// replaced once two thirds of its lifetime have passed.
	CAValidity   time.Duration
	CertValidity time.Duration
	// CheckInterval is how often Start checks the certificates (default
	// 1 hour). It must be shorter than a third of CertValidity.
	CheckInterval time.Duration
	// Now tells the time (default time.Now); tests move it forward.
	Now func() time.Time
}

// Default sets the zero fields that have a default.
func (o *Options) Default() {
	if o.CAValidity == 0 {
		o.CAValidity = DefaultCAValidity
	}
	if o.CertValidity == 0 {
		o.CertValidity = DefaultCertValidity
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = DefaultCheckInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate reports every problem with o, taking defaults into account.
func (o Options) Validate() error {
	o.Default() // o is a copy
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if o.SecretNamespace == "" {
		bad("SecretNamespace is required")
	} else if msgs := validation.IsDNS1123Label(o.SecretNamespace); len(msgs) > 0 {
		bad("SecretNamespace %q is not a valid namespace name: %v", o.SecretNamespace, msgs)
	}
	if o.SecretName == "" {
		bad("SecretName is required")
	} else if msgs := validation.IsDNS1123Subdomain(o.SecretName); len(msgs) > 0 {
		bad("SecretName %q is not a valid Secret name: %v", o.SecretName, msgs)
	}
	if o.CertDir == "" {
		bad("CertDir is required")
	}
	if len(o.DNSNames) == 0 && len(o.IPAddresses) == 0 {
		bad("at least one of DNSNames and IPAddresses is required")
	}
	for _, name := range o.DNSNames {
		if validation.IsDNS1123Subdomain(name) != nil && validation.IsWildcardDNS1123Subdomain(name) != nil {
			bad("DNSNames: %q is not a valid DNS name", name)
		}
	}
	for _, ip := range o.IPAddresses {
		if ip.To16() == nil {
			bad("IPAddresses: %v is not a valid IP address", ip)
		}
	}
	for _, name := range slices.Concat(o.MutatingWebhookConfigurations, o.ValidatingWebhookConfigurations) {
		if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
			bad("webhook configuration name %q is invalid: %v", name, msgs)
		}
	}
	switch {
	case o.CAValidity < 0 || o.CertValidity < 0 || o.CheckInterval < 0:
		bad("CAValidity, CertValidity and CheckInterval must not be negative")
	case o.CertValidity > o.CAValidity:
		bad("CertValidity (%s) must not exceed CAValidity (%s)", o.CertValidity, o.CAValidity)
	case o.CheckInterval >= o.CertValidity/3:
		bad("CheckInterval (%s) must be shorter than a third of CertValidity (%s), or certificates could expire between two checks",
			o.CheckInterval, o.CertValidity)
	}
	return errors.Join(errs...)
}

// Rotator keeps the webhook certificates in a Secret, the certificate
// directory and the webhook configurations valid. See the package
// documentation for the lifecycle.
type Rotator struct {
	client client.Client
	opts   Options
	mu     sync.Mutex // serializes passes
}

var (
	_ manager.Runnable               = (*Rotator)(nil)
	_ manager.LeaderElectionRunnable = (*Rotator)(nil)
)

// New returns a Rotator that works through c. c should read from the API
// server directly rather than from the manager's cache: EnsureOnce runs before
// the cache starts, and caching every Secret in the cluster to read one would
// waste memory and need list/watch permissions. c needs get, create and
// update on the Secret and get and patch on the webhook configurations.
func New(c client.Client, o Options) (*Rotator, error) {
	if c == nil {
		return nil, errors.New("webhookcert: a client is required")
	}
	o.Default()
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("webhookcert: invalid options: %w", err)
	}
	// Copy the slices so later changes by the caller do not leak in.
	o.DNSNames = slices.Clone(o.DNSNames)
	o.IPAddresses = slices.Clone(o.IPAddresses)
	o.MutatingWebhookConfigurations = slices.Clone(o.MutatingWebhookConfigurations)
	o.ValidatingWebhookConfigurations = slices.Clone(o.ValidatingWebhookConfigurations)
	return &Rotator{client: c, opts: o}, nil
}

// NeedLeaderElection returns false: every replica serves webhooks and needs
// the certificate files.
func (r *Rotator) NeedLeaderElection() bool { return false }

// Start runs a pass at once and then every CheckInterval until ctx is done.
// A pass that fails, or that finds a named webhook configuration missing, is
// retried sooner, with a delay that doubles up to CheckInterval. Errors are
// logged, never fatal: the next pass may well succeed, and the certificates
// on disk stay valid for a third of their lifetime after rotation is due.
func (r *Rotator) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName(loggerName)
	var retryDelay time.Duration
	for {
		incomplete, err := r.ensure(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			log.Error(err, "Webhook certificate pass failed; retrying")
		}
		next := r.opts.CheckInterval
		if err != nil || incomplete {
			retryDelay = min(max(2*retryDelay, firstRetryDelay), r.opts.CheckInterval)
			next = retryDelay
		} else {
			retryDelay = 0
		}
		timer := time.NewTimer(next)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
}

// EnsureOnce makes one pass: it creates or repairs the Secret, rotates what
// is due, sets the caBundle of the named webhook configurations and writes
// the certificate files. A named configuration that does not exist yet is
// skipped, not an error. A pass with nothing to do makes no API writes and
// writes no files.
func (r *Rotator) EnsureOnce(ctx context.Context) error {
	_, err := r.ensure(ctx)
	return err
}

// ensure is EnsureOnce that also reports whether a webhook configuration was
// missing, so that Start can look again soon.
func (r *Rotator) ensure(ctx context.Context) (missingConfig bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()

	data, err := r.ensureSecret(ctx)
	if err != nil {
		return false, err
	}

	// The caBundle goes out before the files: after a CA rotation the API
	// server must trust the new CA before this replica serves a
	// certificate signed by it.
	missingConfig, injectErr := r.injectCABundles(ctx, data[CACertKey])
	if injectErr != nil {
		if _, statErr := os.Stat(filepath.Join(r.opts.CertDir, TLSCertKey)); statErr == nil {
			// Keep serving the certificate on disk, which the webhook
			// configurations trust, until the caBundle is updated. At
			// startup (no files) serve the new one anyway.
			return missingConfig, injectErr
		}
	}
	return missingConfig, errors.Join(injectErr, r.writeFiles(ctx, data))
}

// ensureSecret reads the Secret, creates or updates it when the certificates
// need it, and returns its data.
func (r *Rotator) ensureSecret(ctx context.Context) (map[string][]byte, error) {
	log := ctrl.LoggerFrom(ctx).WithName(loggerName)
	key := client.ObjectKey{Namespace: r.opts.SecretNamespace, Name: r.opts.SecretName}
	var data map[string][]byte
	// Another replica may create or update the Secret between our read and
	// our write. The API server then refuses our write (AlreadyExists, or
	// Conflict thanks to the resourceVersion) and we start over from what
	// the other replica stored, which normally needs no further change.
	racing := func(err error) bool { return apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) }
	err := retry.OnError(retry.DefaultRetry, racing, func() error {
		stored := &corev1.Secret{}
		if err := r.client.Get(ctx, key, stored); apierrors.IsNotFound(err) {
			stored = nil
		} else if err != nil {
			return fmt.Errorf("reading Secret %s: %w", key, err)
		}

		var storedData map[string][]byte
		if stored != nil {
			storedData = stored.Data
		}
		want, reasons, err := planCertificates(storedData, certParams{
			dnsNames:     r.opts.DNSNames,
			ips:          r.opts.IPAddresses,
			caValidity:   r.opts.CAValidity,
			certValidity: r.opts.CertValidity,
			now:          r.opts.Now(),
		})
		if err != nil {
			return err
		}
		if stored != nil && containsData(stored.Data, want) && hasLabels(stored) {
			data = stored.Data
			return nil
		}

		if stored == nil {
			secret := &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: secretLabels()},
				Type:       corev1.SecretTypeTLS,
				Data:       want,
			}
			if err := r.client.Create(ctx, secret); err != nil {
				return fmt.Errorf("creating Secret %s: %w", key, err)
			}
			log.Info("Created webhook certificate Secret", "secret", key, "reasons", reasons)
			data = secret.Data
			return nil
		}

		// Update carries the resourceVersion we read, so a concurrent
		// change makes it fail with Conflict instead of being overwritten.
		secret := stored.DeepCopy()
		if secret.Data == nil {
			secret.Data = map[string][]byte{}
		}
		maps.Copy(secret.Data, want) // other keys, if any, stay
		if secret.Labels == nil {
			secret.Labels = map[string]string{}
		}
		maps.Copy(secret.Labels, secretLabels())
		if err := r.client.Update(ctx, secret); err != nil {
			return fmt.Errorf("updating Secret %s: %w", key, err)
		}
		log.Info("Updated webhook certificate Secret", "secret", key, "reasons", reasons)
		data = secret.Data
		return nil
	})
	return data, err
}

func secretLabels() map[string]string {
	return map[string]string{LabelManagedBy: ManagedByValue, LabelComponent: ComponentValue}
}

func hasLabels(s *corev1.Secret) bool {
	for k, v := range secretLabels() {
		if s.Labels[k] != v {
			return false
		}
	}
	return true
}

// containsData tells whether have holds every key of want with equal bytes.
func containsData(have, want map[string][]byte) bool {
	for k, v := range want {
		h, ok := have[k]
		if !ok || !bytes.Equal(h, v) {
			return false
		}
	}
	return true
}

// injectCABundles sets bundle as the caBundle of every webhook in the named
// configurations. It reports whether a configuration was missing.
func (r *Rotator) injectCABundles(ctx context.Context, bundle []byte) (missing bool, err error) {
	var errs []error
	inject := func(kind, name string, newObj func() client.Object) {
		found, err := r.injectCABundle(ctx, kind, name, newObj, bundle)
		missing = missing || !found
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, name := range r.opts.MutatingWebhookConfigurations {
		inject("MutatingWebhookConfiguration", name, func() client.Object {
			return &admissionregistrationv1.MutatingWebhookConfiguration{}
		})
	}
	for _, name := range r.opts.ValidatingWebhookConfigurations {
		inject("ValidatingWebhookConfiguration", name, func() client.Object {
			return &admissionregistrationv1.ValidatingWebhookConfiguration{}
		})
	}
	return missing, errors.Join(errs...)
}

// injectCABundle sets bundle as the caBundle of every webhook in one
// configuration, patching it only when some webhook differs. found is false
// when the configuration does not exist.
func (r *Rotator) injectCABundle(ctx context.Context, kind, name string, newObj func() client.Object, bundle []byte) (found bool, err error) {
	log := ctrl.LoggerFrom(ctx).WithName(loggerName)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj := newObj()
		if err := r.client.Get(ctx, client.ObjectKey{Name: name}, obj); err != nil {
			return err
		}
		refs := caBundleRefs(obj)
		if !slices.ContainsFunc(refs, func(ref *[]byte) bool { return !bytes.Equal(*ref, bundle) }) {
			return nil
		}
		// The optimistic lock sends our resourceVersion along: the patch
		// replaces the whole webhooks list, so it must not land on a
		// version we have not seen.
		patch := client.MergeFromWithOptions(obj.DeepCopyObject().(client.Object), client.MergeFromWithOptimisticLock{})
		for _, ref := range refs {
			*ref = bundle
		}
		if err := r.client.Patch(ctx, obj, patch); err != nil {
			return err
		}
		log.Info("Updated caBundle", "kind", kind, "name", name, "webhooks", len(refs))
		return nil
	})
	switch {
	case apierrors.IsNotFound(err):
		log.Info("Webhook configuration not found; will set its caBundle on a later pass", "kind", kind, "name", name)
		return false, nil
	case err != nil:
		return true, fmt.Errorf("setting caBundle of %s %s: %w", kind, name, err)
	}
	return true, nil
}

// caBundleRefs points at the caBundle of every webhook in a webhook
// configuration.
func caBundleRefs(obj client.Object) []*[]byte {
	var refs []*[]byte
	switch o := obj.(type) {
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		for i := range o.Webhooks {
			refs = append(refs, &o.Webhooks[i].ClientConfig.CABundle)
		}
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		for i := range o.Webhooks {
			refs = append(refs, &o.Webhooks[i].ClientConfig.CABundle)
		}
	}
	return refs
}

// writeFiles writes the certificate files into CertDir, each only when its
// content changed.
func (r *Rotator) writeFiles(ctx context.Context, data map[string][]byte) error {
	if err := os.MkdirAll(r.opts.CertDir, 0o700); err != nil {
		return fmt.Errorf("creating certificate directory: %w", err)
	}
	// The key first, then the certificate: a watcher that reloads between
	// the two sees a pair that does not match and keeps the pair it had,
	// then reloads the matching pair on the second write.
	files := []struct {
		name string
		perm os.FileMode
	}{{TLSKeyKey, 0o600}, {TLSCertKey, 0o644}, {CACertKey, 0o644}}
	var written []string
	for _, f := range files {
		changed, err := writeFileIfChanged(filepath.Join(r.opts.CertDir, f.name), data[f.name], f.perm)
		if err != nil {
			return err
		}
		if changed {
			written = append(written, f.name)
		}
	}
	if len(written) > 0 {
		ctrl.LoggerFrom(ctx).WithName(loggerName).Info("Wrote certificate files", "dir", r.opts.CertDir, "files", written)
	}
	return nil
}

// writeFileIfChanged replaces path with content unless it already holds
// exactly that. It writes a temporary file in the same directory and renames
// it over path, so readers see the old or the new file, never a partial one.
func writeFileIfChanged(path string, content []byte, perm os.FileMode) (changed bool, err error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, content) {
		return false, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return false, fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	_, err = tmp.Write(content)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return false, fmt.Errorf("writing %s: %w", path, err)
	}
	return true, nil
}
