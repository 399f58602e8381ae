package framework

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mpijob-platform/mpijob-platform/operator/pkg/identity"
	"github.com/mpijob-platform/mpijob-platform/tools/packaging"
)

// ProductNamespace is where the framework installs the product's
// identities unless a manager is started with another --namespace.
const ProductNamespace = "mpijob-system"

// tokenSeconds is how long the tokens the framework hands out live: longer
// than any suite runs.
const tokenSeconds = 6 * 3600

// ServiceAccountToken creates (or reuses) ServiceAccount ns/name and returns
// a token for it from the TokenRequest API: an identity the real apiserver
// authenticates, for tests that act as a user with a bearer token (the
// console, a Prometheus scraper).
func (e *Env) ServiceAccountToken(t testing.TB, ns, name string) string {
	t.Helper()
	tok, err := e.serviceAccountToken(context.Background(), ns, name, true)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *Env) serviceAccountToken(ctx context.Context, ns, name string, create bool) (string, error) {
	if create {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		if err := e.Client.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
			return "", fmt.Errorf("creating ServiceAccount %s/%s: %w", ns, name, err)
		}
	}
	tr, err := e.Clientset.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](tokenSeconds)},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token for %s/%s: %w", ns, name, err)
	}
	return tr.Status.Token, nil
}

// TokenKubeconfig writes a kubeconfig that authenticates as ServiceAccount
// ns/name with a TokenRequest token (no client certificate, no
// impersonation: the apiserver sees exactly what a pod of that
// ServiceAccount would present). The ServiceAccount must exist: the
// product, or InstallIdentity, creates it. Requests made with it are
// product requests, checked for 403s when the cluster stops.
func (e *Env) TokenKubeconfig(ns, name string) (string, error) {
	ctx := context.Background()
	tok, err := e.serviceAccountToken(ctx, ns, name, false)
	if err != nil {
		return "", err
	}
	e.productUsers.add(serviceAccountUser(ns, name))
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["devcluster"] = &clientcmdapi.Cluster{Server: e.Config.Host, CertificateAuthorityData: e.Config.CAData}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tok}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: "devcluster", AuthInfo: name}
	cfg.CurrentContext = name
	dir := os.TempDir()
	if e.Cluster != nil {
		dir = e.Cluster.Dir
	}
	path := filepath.Join(dir, "identity-"+ns+"-"+name+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", err
	}
	return path, nil
}

// Roles of the manager binary and the ServiceAccounts the product runs
// them as.
const (
	RolePlatform   = "platform"
	RoleController = "mpijob-controller"
	RoleConsole    = "console"
)

// InstallIdentity creates, as cluster-admin, the ServiceAccount of a
// manager role in namespace and the RBAC the product ships for it (the
// operator's from tools/packaging, as the chart and the bundle render it,
// with the ClusterRoles shipped beside it for the controller and users;
// the controller's and the console's from operator/pkg/identity, as the
// platform creates them), and returns the ServiceAccount's name.
func (e *Env) InstallIdentity(ctx context.Context, role, namespace string) (string, error) {
	if err := e.RestrictedNamespace(ctx, namespace); err != nil {
		return "", err
	}
	var objs []client.Object
	var sa string
	switch role {
	case RolePlatform:
		op, err := packaging.NewOperator(namespace, packaging.DefaultImage)
		if err != nil {
			return "", err
		}
		objs = []client.Object{op.ServiceAccount, op.ClusterRole, op.ClusterRoleBinding, op.Role, op.RoleBinding}
		for _, r := range op.ShippedRoles {
			objs = append(objs, r)
		}
		sa = op.ServiceAccount.Name
	case RoleController:
		id, err := identity.NewController(namespace)
		if err != nil {
			return "", err
		}
		objs, sa = id.Objects(), id.ServiceAccount.Name
	case RoleConsole:
		sa = "mpijob-console"
		objs = []client.Object{&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: namespace}},
			identity.ConsoleRole(), identity.ConsoleBinding(namespace, sa)}
	default:
		return "", fmt.Errorf("no identity for manager role %q: run each role (%s, %s, %s) as its own ServiceAccount", role, RolePlatform, RoleController, RoleConsole)
	}
	for _, o := range objs {
		if err := e.createOrReplace(ctx, o); err != nil {
			return "", fmt.Errorf("installing %T %s for role %s: %w", o, o.GetName(), role, err)
		}
	}
	return sa, nil
}

// createOrReplace creates obj, or replaces the live object's content with
// it (keeping its resourceVersion).
func (e *Env) createOrReplace(ctx context.Context, obj client.Object) error {
	err := e.Client.Create(ctx, obj)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	live, ok := obj.DeepCopyObject().(client.Object)
	if !ok {
		return fmt.Errorf("copying %T", obj)
	}
	if err := e.Client.Get(ctx, client.ObjectKeyFromObject(obj), live); err != nil {
		return err
	}
	obj.SetResourceVersion(live.GetResourceVersion())
	return e.Client.Update(ctx, obj)
}

// productUsers are the usernames the product acted as in this cluster.
type productUsers struct {
	mu    sync.Mutex
	names []string
}

func (p *productUsers) add(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Contains(p.names, name) {
		p.names = append(p.names, name)
	}
}

func (p *productUsers) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.names)
}

func serviceAccountUser(ns, name string) string {
	return "system:serviceaccount:" + ns + ":" + name
}

// isAdminKubeconfig reports whether path is the cluster-admin kubeconfig
// of env, which the product must never be handed.
func (e *Env) isAdminKubeconfig(path string) bool {
	if e.Kubeconfig == "" {
		return false
	}
	a, errA := filepath.Abs(path)
	b, errB := filepath.Abs(e.Kubeconfig)
	return errA == nil && errB == nil && strings.EqualFold(a, b)
}

// RestrictedNamespace creates namespace (or labels the existing one) with
// Pod Security admission enforcing the restricted profile, as the install
// docs ask for the platform's namespace and as OpenShift's restricted SCC
// does: every pod the platform runs there must pass it.
func (e *Env) RestrictedNamespace(ctx context.Context, namespace string) error {
	ns := &corev1.Namespace{}
	err := e.Client.Get(ctx, client.ObjectKey{Name: namespace}, ns)
	switch {
	case apierrors.IsNotFound(err):
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace, Labels: restrictedLabels()}}
		if err := e.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		return e.waitRestricted(ctx, namespace)
	case err != nil:
		return err
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	for k, v := range restrictedLabels() {
		ns.Labels[k] = v
	}
	if err := e.Client.Update(ctx, ns); err != nil {
		return err
	}
	return e.waitRestricted(ctx, namespace)
}

// waitRestricted returns once Pod Security admission enforces the
// namespace's new labels: it reads namespaces from an informer, so a pod
// created right after the update may still be judged by the old ones. A
// dry-run pod that breaks the profile tells (nothing is stored).
func (e *Env) waitRestricted(ctx context.Context, namespace string) error {
	probe := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "pod-security-probe"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "probe", Image: "registry.invalid/probe:1"}},
	}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := e.Client.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		if apierrors.IsForbidden(err) && strings.Contains(err.Error(), "violates PodSecurity") {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				return fmt.Errorf("namespace %s: Pod Security admission still admits a pod that breaks the restricted profile after 30 s", namespace)
			}
			return fmt.Errorf("namespace %s: Pod Security admission does not enforce restricted after 30 s: %w", namespace, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func restrictedLabels() map[string]string {
	return map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
	}
}

// MetricsScraperNamespace holds the ServiceAccount the framework scrapes
// the managers' /metrics as, like a cluster's Prometheus.
const MetricsScraperNamespace = "metrics-scraper"

// metricsReader is the scraper's token, made once per cluster.
type metricsReader struct {
	mu    sync.Mutex
	token string
}

// MetricsReaderToken is a token of ServiceAccount metrics-scraper/prometheus,
// bound to the ClusterRole the product ships for scrapers
// (mpijob-platform-metrics-reader), created on first use.
func (e *Env) MetricsReaderToken(ctx context.Context) (string, error) {
	e.metricsReader.mu.Lock()
	defer e.metricsReader.mu.Unlock()
	if e.metricsReader.token != "" {
		return e.metricsReader.token, nil
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: MetricsScraperNamespace}}
	role := identity.MetricsReaderRole()
	role.Labels = map[string]string{"app.kubernetes.io/part-of": "mpijob-platform"}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-scraper-prometheus"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns.Name, Name: "prometheus"}},
	}
	for _, obj := range []client.Object{ns, role, binding} {
		if err := e.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return "", fmt.Errorf("creating the metrics scraper's %T %s: %w", obj, obj.GetName(), err)
		}
	}
	token, err := e.serviceAccountToken(ctx, ns.Name, "prometheus", true)
	if err != nil {
		return "", err
	}
	e.metricsReader.token = token
	return token, nil
}
