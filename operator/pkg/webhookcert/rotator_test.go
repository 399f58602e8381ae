package webhookcert

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

const (
	testNamespace  = "mpijob-system"
	testSecret     = "mpijob-webhook-cert"
	testMutating   = "mpijob-mutating"
	testValidating = "mpijob-validating"
)

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// writeLog counts the API writes that reach the fake client, as
// "verb Kind" (e.g. "create Secret").
type writeLog struct {
	mu     sync.Mutex
	writes []string
}

func (w *writeLog) add(verb string, obj client.Object) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, verb+" "+reflect.TypeOf(obj).Elem().Name())
}

// take returns the writes since the last take.
func (w *writeLog) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	got := w.writes
	w.writes = nil
	return got
}

type fixture struct {
	client client.Client // the fake client, wrapped to record writes
	writes *writeLog
	clock  *clock
	opts   Options
}

// newFixture builds a fake client holding objs, with the given interceptor
// functions (nil fields pass through) wrapped so every write is recorded.
func newFixture(t *testing.T, funcs interceptor.Funcs, objs ...client.Object) *fixture {
	t.Helper()
	f := &fixture{writes: &writeLog{}, clock: &clock{t: t0}}
	record := func(verb string, obj client.Object) { f.writes.add(verb, obj) }
	create, update, patch := funcs.Create, funcs.Update, funcs.Patch
	funcs.Create = func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		record("create", obj)
		if create != nil {
			return create(ctx, c, obj, opts...)
		}
		return c.Create(ctx, obj, opts...)
	}
	funcs.Update = func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
		record("update", obj)
		if update != nil {
			return update(ctx, c, obj, opts...)
		}
		return c.Update(ctx, obj, opts...)
	}
	funcs.Patch = func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
		record("patch", obj)
		if patch != nil {
			return patch(ctx, c, obj, p, opts...)
		}
		return c.Patch(ctx, obj, p, opts...)
	}
	funcs.Delete = func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
		record("delete", obj)
		return c.Delete(ctx, obj, opts...)
	}
	f.client = fake.NewClientBuilder().
		WithScheme(clientgoscheme.Scheme).
		WithObjects(objs...).
		WithInterceptorFuncs(funcs).
		Build()
	f.opts = Options{
		SecretNamespace:                 testNamespace,
		SecretName:                      testSecret,
		CertDir:                         filepath.Join(t.TempDir(), "certs"),
		DNSNames:                        testNames,
		IPAddresses:                     testIPs,
		MutatingWebhookConfigurations:   []string{testMutating},
		ValidatingWebhookConfigurations: []string{testValidating},
		Now:                             f.clock.Now,
	}
	return f
}

func (f *fixture) rotator(t *testing.T) *Rotator {
	t.Helper()
	r, err := New(f.client, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) ensure(t *testing.T, r *Rotator) {
	t.Helper()
	if err := r.EnsureOnce(context.Background()); err != nil {
		t.Fatalf("EnsureOnce: %v", err)
	}
}

func (f *fixture) secret(t *testing.T) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	if err := f.client.Get(context.Background(), client.ObjectKey{Namespace: testNamespace, Name: testSecret}, s); err != nil {
		t.Fatalf("reading the Secret: %v", err)
	}
	return s
}

// caBundles returns the caBundle of every webhook in both configurations.
func (f *fixture) caBundles(t *testing.T) [][]byte {
	t.Helper()
	ctx := context.Background()
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := f.client.Get(ctx, client.ObjectKey{Name: testMutating}, m); err != nil {
		t.Fatal(err)
	}
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := f.client.Get(ctx, client.ObjectKey{Name: testValidating}, v); err != nil {
		t.Fatal(err)
	}
	var bundles [][]byte
	for _, w := range m.Webhooks {
		bundles = append(bundles, w.ClientConfig.CABundle)
	}
	for _, w := range v.Webhooks {
		bundles = append(bundles, w.ClientConfig.CABundle)
	}
	return bundles
}

// assertInSync checks that the files and every caBundle match the Secret.
func (f *fixture) assertInSync(t *testing.T) *corev1.Secret {
	t.Helper()
	s := f.secret(t)
	for _, name := range []string{TLSCertKey, TLSKeyKey, CACertKey} {
		got, err := os.ReadFile(filepath.Join(f.opts.CertDir, name))
		if err != nil {
			t.Fatalf("reading %s: %v", name, err)
		}
		if !bytes.Equal(got, s.Data[name]) {
			t.Errorf("%s on disk differs from the Secret", name)
		}
	}
	if _, err := os.Stat(filepath.Join(f.opts.CertDir, CAKeyKey)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the CA key was written to disk (stat: %v)", err)
	}
	bundles := f.caBundles(t)
	if len(bundles) != 3 {
		t.Fatalf("got %d webhooks, want 3", len(bundles))
	}
	for i, b := range bundles {
		if !bytes.Equal(b, s.Data[CACertKey]) {
			t.Errorf("caBundle of webhook %d differs from the Secret's %s", i, CACertKey)
		}
	}
	return s
}

func webhookConfigs() []client.Object {
	ignore := admissionregistrationv1.Ignore
	none := admissionregistrationv1.SideEffectClassNone
	url := "https://127.0.0.1:1/x"
	cc := admissionregistrationv1.WebhookClientConfig{URL: &url}
	return []client.Object{
		&admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: testMutating},
			Webhooks: []admissionregistrationv1.MutatingWebhook{
				{Name: "a.mpijob.test", ClientConfig: cc, SideEffects: &none, FailurePolicy: &ignore, AdmissionReviewVersions: []string{"v1"}},
				{Name: "b.mpijob.test", ClientConfig: cc, SideEffects: &none, FailurePolicy: &ignore, AdmissionReviewVersions: []string{"v1"}},
			},
		},
		&admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: testValidating},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{
				{Name: "c.mpijob.test", ClientConfig: cc, SideEffects: &none, FailurePolicy: &ignore, AdmissionReviewVersions: []string{"v1"}},
			},
		},
	}
}

func assertWrites(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("API writes = %q, want %q", got, want)
	}
}

// stamp sets the files' modification times to a fixed past time, so a later
// check can tell whether they were rewritten.
var stamp = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func stampFiles(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{TLSCertKey, TLSKeyKey, CACertKey} {
		if err := os.Chtimes(filepath.Join(dir, name), stamp, stamp); err != nil {
			t.Fatal(err)
		}
	}
}

// rewritten lists the files rewritten since stampFiles.
func rewritten(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	for _, name := range []string{TLSCertKey, TLSKeyKey, CACertKey} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(stamp) {
			names = append(names, name)
		}
	}
	return names
}

func TestEnsureOnceCreatesSecretFilesAndCABundles(t *testing.T) {
	f := newFixture(t, interceptor.Funcs{}, webhookConfigs()...)
	f.ensure(t, f.rotator(t))

	assertWrites(t, f.writes.take(), "create Secret", "patch MutatingWebhookConfiguration", "patch ValidatingWebhookConfiguration")
	s := f.assertInSync(t)
	if s.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret type = %q, want %q", s.Type, corev1.SecretTypeTLS)
	}
	if s.Labels[LabelManagedBy] != "mpijob-platform" || s.Labels[LabelComponent] != "webhook-cert" {
		t.Errorf("Secret labels = %v", s.Labels)
	}
	if n := len(mustParseCerts(t, s.Data[CACertKey])); n != 1 {
		t.Errorf("bundle holds %d CAs, want 1", n)
	}
	for _, host := range append([]string{"127.0.0.1", "::1"}, testNames...) {
		if err := verifyServing(t, s.Data[CACertKey], s.Data[TLSCertKey], host, t0); err != nil {
			t.Errorf("serving certificate for %s: %v", host, err)
		}
	}
	fi, err := os.Stat(filepath.Join(f.opts.CertDir, TLSKeyKey))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("tls.key mode = %o, want 600", perm)
	}
	leftovers, err := filepath.Glob(filepath.Join(f.opts.CertDir, ".*tmp*"))
	if err != nil || len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v (%v)", leftovers, err)
	}
}

func TestEnsureOnceWritesNothingWhenNothingChanged(t *testing.T) {
	f := newFixture(t, interceptor.Funcs{}, webhookConfigs()...)
	r := f.rotator(t)
	f.ensure(t, r)
	before := f.secret(t)
	f.writes.take()
	stampFiles(t, f.opts.CertDir)

	f.clock.Set(t0.Add(100 * 24 * time.Hour)) // well before any rotation
	f.ensure(t, r)
	// A restarted replica finds the same state.
	f.ensure(t, f.rotator(t))

	assertWrites(t, f.writes.take())
	if got := rewritten(t, f.opts.CertDir); len(got) > 0 {
		t.Errorf("rewrote %v", got)
	}
	if after := f.secret(t); after.ResourceVersion != before.ResourceVersion {
		t.Errorf("Secret resourceVersion changed from %s to %s", before.ResourceVersion, after.ResourceVersion)
	}
}

func TestEnsureOnceRewritesFilesThatWereTamperedWith(t *testing.T) {
	f := newFixture(t, interceptor.Funcs{}, webhookConfigs()...)
	r := f.rotator(t)
	f.ensure(t, r)
	f.writes.take()
	if err := os.WriteFile(filepath.Join(f.opts.CertDir, TLSCertKey), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(f.opts.CertDir, CACertKey)); err != nil {
		t.Fatal(err)
	}
	f.ensure(t, r)
	assertWrites(t, f.writes.take())
	f.assertInSync(t)
}

func TestServingCertRotatesAtTwoThirdsAndKeepsTheCA(t *testing.T) {
	f := newFixture(t, interceptor.Funcs{}, webhookConfigs()...)
	r := f.rotator(t)
	f.ensure(t, r)
	before := f.secret(t)
	f.writes.take()
	stampFiles(t, f.opts.CertDir)

	now := t0.Add(250 * 24 * time.Hour) // past 2/3 of a year
	f.clock.Set(now)
	f.ensure(t, r)

	// Only the Secret changes: the CA, and so the caBundle, stays.
	assertWrites(t, f.writes.take(), "update Secret")
	after := f.assertInSync(t)
	if bytes.Equal(after.Data[TLSCertKey], before.Data[TLSCertKey]) || bytes.Equal(after.Data[TLSKeyKey], before.Data[TLSKeyKey]) {
		t.Error("the serving certificate or key was not replaced")
	}
	if !bytes.Equal(after.Data[CACertKey], before.Data[CACertKey]) || !bytes.Equal(after.Data[CAKeyKey], before.Data[CAKeyKey]) {
		t.Error("the CA changed; only the serving certificate was due")
	}
	if got := rewritten(t, f.opts.CertDir); strings.Join(got, ",") != "tls.crt,tls.key" {
		t.Errorf("rewritten files = %v, want tls.crt and tls.key", got)
	}
	if err := verifyServing(t, after.Data[CACertKey], after.Data[TLSCertKey], testNames[0], now); err != nil {
		t.Error(err)
	}
	if cert := mustParseCerts(t, after.Data[TLSCertKey])[0]; !cert.NotAfter.Equal(now.Add(DefaultCertValidity)) {
		t.Errorf("new serving certificate expires %s, want %s", cert.NotAfter, now.Add(DefaultCertValidity))
	}
}

func TestCARotationKeepsThePreviousCAInTheBundle(t *testing.T) {
	f := newFixture(t, interceptor.Funcs{}, webhookConfigs()...)
	r := f.rotator(t)
	f.ensure(t, r)
	first := f.secret(t)
	firstCA := mustParseCerts(t, first.Data[CACertKey])[0]
	f.writes.take()

	now := t0.Add(7 * year) // past 2/3 of ten years, before expiry
	f.clock.Set(now)
	f.ensure(t, r)
	assertWrites(t, f.writes.take(), "update Secret", "patch MutatingWebhookConfiguration", "patch ValidatingWebhookConfiguration")
	second := f.assertInSync(t)

	bundle := mustParseCerts(t, second.Data[CACertKey])
	if len(bundle) != 2 {
		t.Fatalf("bundle holds %d CAs, want 2", len(bundle))
	}
	if bundle[0].Equal(firstCA) || !bundle[1].Equal(firstCA) {
		t.Error("want the new CA first and the previous CA second")
	}
	if bytes.Equal(second.Data[CAKeyKey], first.Data[CAKeyKey]) {
		t.Error("the CA key was not replaced")
	}
	ca, err := parseKeyPair(encodeCertificates(bundle[0]), second.Data[CAKeyKey])
	if err != nil {
		t.Fatalf("ca.key does not belong to the first CA in the bundle: %v", err)
	}
	serving := mustParseCerts(t, second.Data[TLSCertKey])[0]
	if err := serving.CheckSignatureFrom(ca.cert); err != nil {
		t.Errorf("the serving certificate is not signed by the new CA: %v", err)
	}
	// Both the old serving certificate (still valid, still served by
	// replicas that have not caught up) and the new one verify against the
	// new bundle; the new one also against the bundle alone.
	oldServingAt := first.Data[TLSCertKey]
	if err := verifyServing(t, second.Data[CACertKey], oldServingAt, testNames[0], t0.Add(200*24*time.Hour)); err != nil {
		t.Errorf("old serving certificate against the new bundle: %v", err)
	}
	if err := verifyServing(t, second.Data[CACertKey], second.Data[TLSCertKey], testNames[0], now); err != nil {
		t.Errorf("new serving certificate against the new bundle: %v", err)
	}

	// Past the first CA's expiry the next CA rotation drops it.
	later := t0.Add(14 * year)
	f.clock.Set(later)
	f.ensure(t, r)
	third := f.assertInSync(t)
	bundle = mustParseCerts(t, third.Data[CACertKey])
	if len(bundle) != 2 || !bundle[1].Equal(ca.cert) {
		t.Fatalf("bundle after the second CA rotation holds %d CAs, want the new CA and the second one", len(bundle))
	}
	for _, c := range bundle {
		if c.Equal(firstCA) {
			t.Error("the expired first CA is still in the bundle")
		}
	}
}

func TestGarbageInTheSecretIsRepaired(t *testing.T) {
	good, _, err := planCertificates(nil, testParams(t0))
	if err != nil {
		t.Fatal(err)
	}
	otherPair, _, err := planCertificates(nil, testParams(t0))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data map[string][]byte
		// keepCA says the stored CA is usable and must survive.
		keepCA bool
	}{
		{name: "empty", data: nil},
		{name: "garbage everywhere", data: map[string][]byte{
			TLSCertKey: []byte("garbage"), TLSKeyKey: []byte("\x00\x01"), CACertKey: []byte("-----BEGIN CERTIFICATE-----\nZm9v\n-----END CERTIFICATE-----\n"), CAKeyKey: []byte("x"),
		}},
		{name: "CA key missing", data: map[string][]byte{
			TLSCertKey: good[TLSCertKey], TLSKeyKey: good[TLSKeyKey], CACertKey: good[CACertKey],
		}},
		{name: "serving key from another pair", keepCA: true, data: map[string][]byte{
			TLSCertKey: good[TLSCertKey], TLSKeyKey: otherPair[TLSKeyKey], CACertKey: good[CACertKey], CAKeyKey: good[CAKeyKey],
		}},
		{name: "serving certificate from another CA", keepCA: true, data: map[string][]byte{
			TLSCertKey: otherPair[TLSCertKey], TLSKeyKey: otherPair[TLSKeyKey], CACertKey: good[CACertKey], CAKeyKey: good[CAKeyKey],
		}},
		{name: "garbage serving certificate", keepCA: true, data: map[string][]byte{
			TLSCertKey: []byte("garbage"), TLSKeyKey: good[TLSKeyKey], CACertKey: good[CACertKey], CAKeyKey: good[CAKeyKey],
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := map[string][]byte{"unrelated": []byte("kept")}
			for k, v := range tc.data {
				data[k] = v
			}
			broken := &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: testSecret},
				Type:       corev1.SecretTypeOpaque,
				Data:       data,
			}
			f := newFixture(t, interceptor.Funcs{}, append(webhookConfigs(), broken)...)
			f.ensure(t, f.rotator(t))

			assertWrites(t, f.writes.take(), "update Secret", "patch MutatingWebhookConfiguration", "patch ValidatingWebhookConfiguration")
			s := f.assertInSync(t)
			if err := verifyServing(t, s.Data[CACertKey], s.Data[TLSCertKey], testNames[0], t0); err != nil {
				t.Errorf("repaired serving certificate: %v", err)
			}
			if _, err := parseKeyPair(s.Data[TLSCertKey], s.Data[TLSKeyKey]); err != nil {
				t.Errorf("repaired serving key pair: %v", err)
			}
			if got := string(s.Data["unrelated"]); got != "kept" {
				t.Errorf("unrelated key = %q, want it kept", got)
			}
			if tc.keepCA != bytes.Equal(s.Data[CAKeyKey], good[CAKeyKey]) {
				t.Errorf("CA kept = %v, want %v", !tc.keepCA, tc.keepCA)
			}
			if s.Labels[LabelManagedBy] != ManagedByValue {
				t.Errorf("labels = %v, want the managed-by label added", s.Labels)
			}
		})
	}
}

func TestMissingWebhookConfigurationIsSkippedUntilItExists(t *testing.T) {
	configs := webhookConfigs()
	f := newFixture(t, interceptor.Funcs{}, configs[1]) // only the validating one
	r := f.rotator(t)

	missing, err := r.ensure(context.Background())
	if err != nil {
		t.Fatalf("a missing configuration must not fail the pass: %v", err)
	}
	if !missing {
		t.Error("ensure did not report the missing configuration")
	}
	assertWrites(t, f.writes.take(), "create Secret", "patch ValidatingWebhookConfiguration")
	if _, err := os.Stat(filepath.Join(f.opts.CertDir, TLSCertKey)); err != nil {
		t.Errorf("files must be written even when a configuration is missing: %v", err)
	}

	if err := f.client.Create(context.Background(), configs[0]); err != nil {
		t.Fatal(err)
	}
	f.writes.take()
	missing, err = r.ensure(context.Background())
	if err != nil || missing {
		t.Fatalf("ensure = %v, %v; want no error, nothing missing", missing, err)
	}
	assertWrites(t, f.writes.take(), "patch MutatingWebhookConfiguration")
	f.assertInSync(t)
}

func TestAReplicaThatCreatesTheSecretFirstWins(t *testing.T) {
	var other *Rotator
	otherDir := filepath.Join(t.TempDir(), "other")
	raced := false
	f := newFixture(t, interceptor.Funcs{
		// Just before our Create reaches the server, another replica
		// creates the Secret: ours fails with AlreadyExists.
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if !raced {
				raced = true
				if err := other.EnsureOnce(ctx); err != nil {
					return err
				}
			}
			return c.Create(ctx, obj, opts...)
		},
	}, webhookConfigs()...)
	otherOpts := f.opts
	otherOpts.CertDir = otherDir
	var err error
	// The other replica writes through the same (recording) client; its
	// Create runs the interceptor too, after raced is set.
	if other, err = New(f.client, otherOpts); err != nil {
		t.Fatal(err)
	}

	f.ensure(t, f.rotator(t))
	// The other replica's create and patches, then our failed create; we
	// then adopt its Secret, with nothing left to patch.
	assertWrites(t, f.writes.take(), "create Secret", "create Secret", "patch MutatingWebhookConfiguration", "patch ValidatingWebhookConfiguration")
	s := f.assertInSync(t)
	theirs, err := os.ReadFile(filepath.Join(otherDir, TLSCertKey))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(theirs, s.Data[TLSCertKey]) {
		t.Error("we did not adopt the other replica's certificate")
	}
}

func TestAConcurrentUpdateIsDetectedAndAdopted(t *testing.T) {
	f := newFixture(t, interceptor.Funcs{}, webhookConfigs()...)
	f.ensure(t, f.rotator(t))
	f.clock.Set(t0.Add(250 * 24 * time.Hour)) // serving certificate due

	// The other replica rotates between our read and our update.
	otherOpts := f.opts
	otherOpts.CertDir = filepath.Join(t.TempDir(), "other")
	other, err := New(f.client, otherOpts)
	if err != nil {
		t.Fatal(err)
	}
	var updates int
	ours, err := New(interceptor.NewClient(f.client.(client.WithWatch), interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			updates++
			if updates == 1 {
				if err := other.EnsureOnce(ctx); err != nil {
					return err
				}
			}
			return c.Update(ctx, obj, opts...)
		},
	}), f.opts)
	if err != nil {
		t.Fatal(err)
	}
	f.writes.take()
	f.ensure(t, ours)

	// Theirs succeeded, ours conflicted; the retry found nothing to do.
	assertWrites(t, f.writes.take(), "update Secret", "update Secret")
	if updates != 1 {
		t.Errorf("we sent %d updates, want 1 (the conflicting one)", updates)
	}
	s := f.assertInSync(t)
	theirs, err := os.ReadFile(filepath.Join(otherOpts.CertDir, TLSCertKey))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(theirs, s.Data[TLSCertKey]) {
		t.Error("we did not adopt the other replica's rotated certificate")
	}
}

func TestFilesKeepTheTrustedCertificateWhileTheCABundleCannotBeUpdated(t *testing.T) {
	failPatches := true
	f := newFixture(t, interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			if failPatches {
				return apierrors.NewServiceUnavailable("try later")
			}
			return c.Patch(ctx, obj, p, opts...)
		},
	}, webhookConfigs()...)
	r := f.rotator(t)

	// At startup the files are written even though patching fails.
	if err := r.EnsureOnce(context.Background()); err == nil {
		t.Fatal("want the patch error")
	}
	onDisk, err := os.ReadFile(filepath.Join(f.opts.CertDir, TLSCertKey))
	if err != nil {
		t.Fatalf("no certificate on disk at startup: %v", err)
	}

	// Later, a CA rotation must not reach the disk before the caBundle.
	f.clock.Set(t0.Add(7 * year))
	if err := r.EnsureOnce(context.Background()); err == nil || !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("EnsureOnce = %v, want the patch error", err)
	}
	now, err := os.ReadFile(filepath.Join(f.opts.CertDir, TLSCertKey))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(now, onDisk) {
		t.Error("the new certificate was written before the caBundle was updated")
	}

	failPatches = false
	f.ensure(t, r)
	f.assertInSync(t)
}

func TestStartRunsPassesUntilCancelled(t *testing.T) {
	f := newFixture(t, interceptor.Funcs{}, webhookConfigs()...)
	f.opts.CheckInterval = 10 * time.Millisecond
	r := f.rotator(t)
	if r.NeedLeaderElection() {
		t.Error("NeedLeaderElection = true, want false: every replica needs the files")
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Start(ctx) }()

	// The first pass creates everything; a rotation due later is picked up
	// by a later pass without anyone calling EnsureOnce.
	waitFor(t, "the Secret", func() bool {
		return f.client.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: testSecret}, &corev1.Secret{}) == nil
	})
	first := f.secret(t)
	f.clock.Set(t0.Add(250 * 24 * time.Hour))
	waitFor(t, "a rotated serving certificate", func() bool {
		return !bytes.Equal(f.secret(t).Data[TLSCertKey], first.Data[TLSCertKey])
	})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Start returned %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Start did not return after cancellation")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOptionsValidation(t *testing.T) {
	valid := Options{SecretNamespace: "ns", SecretName: "cert", CertDir: "/tmp/x", DNSNames: []string{"svc.ns.svc"}}
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	cases := []struct {
		name   string
		modify func(*Options)
		want   string
	}{
		{"no secret name", func(o *Options) { o.SecretName = "" }, "SecretName is required"},
		{"no secret namespace", func(o *Options) { o.SecretNamespace = "" }, "SecretNamespace is required"},
		{"bad secret name", func(o *Options) { o.SecretName = "Not_Valid" }, `SecretName "Not_Valid"`},
		{"no cert dir", func(o *Options) { o.CertDir = "" }, "CertDir is required"},
		{"no names", func(o *Options) { o.DNSNames = nil }, "at least one of DNSNames and IPAddresses"},
		{"bad DNS name", func(o *Options) { o.DNSNames = []string{"bad name"} }, `"bad name" is not a valid DNS name`},
		{"bad webhook configuration name", func(o *Options) { o.MutatingWebhookConfigurations = []string{""} }, "webhook configuration name"},
		{"negative validity", func(o *Options) { o.CertValidity = -time.Hour }, "must not be negative"},
		{"cert outlives CA", func(o *Options) { o.CertValidity = 20 * year }, "must not exceed CAValidity"},
		{"interval too long", func(o *Options) { o.CheckInterval = 200 * 24 * time.Hour }, "CheckInterval"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			tc.modify(&o)
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
			if _, err := New(fake.NewClientBuilder().Build(), o); err == nil {
				t.Error("New accepted invalid options")
			}
		})
	}
	if _, err := New(nil, valid); err == nil {
		t.Error("New accepted a nil client")
	}

	o := valid
	o.Default()
	if o.CAValidity != DefaultCAValidity || o.CertValidity != DefaultCertValidity || o.CheckInterval != time.Hour || o.Now == nil {
		t.Errorf("defaults not applied: %+v", o)
	}
}
