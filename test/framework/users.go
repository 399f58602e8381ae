package framework

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mpijob-platform/mpijob-platform/config"
)

// The ClusterRoles a namespace admin or a platform admin binds the people
// of the platform to, as docs/admin/multi-tenancy.md tells them to.
const (
	// DataScientistRole is the built-in edit role, into which the platform's
	// mpijob-platform-user aggregates.
	DataScientistRole = "edit"
	// ViewerRole is the built-in view role, into which mpijob-platform-viewer
	// aggregates.
	ViewerRole = "view"
	// PlatformAdminRole is bound cluster-wide (CreatePlatformAdmin).
	PlatformAdminRole = "mpijob-platform-admin"
)

// User is a person of the tests (a data scientist, a viewer, a platform
// admin): a ServiceAccount with a TokenRequest token, bound to the role the
// product ships for that persona. Unlike the product's identities
// (TokenKubeconfig), a user's 403s are answers the tests may expect, not
// permissions the product lacks.
type User struct {
	// Name is the username the apiserver sees,
	// system:serviceaccount:<namespace>:<account>.
	Name string
	// Namespace is the user's namespace, the default of Kubeconfig's context.
	Namespace string
	// Kubeconfig authenticates as the user with a bearer token (no client
	// certificate, no impersonation), for kubectl, kubectl-odh and the SDK.
	Kubeconfig string
	// Client acts as the user from the test process.
	Client client.Client
}

// InstallUserRoles creates (or replaces), as cluster-admin, the
// ClusterRoles the product ships for people (config/rbac/user-roles), as the
// platform's rbac component or the chart does. kube-controller-manager then
// aggregates mpijob-platform-user into edit and mpijob-platform-viewer into
// view. Suites that run no platform call it from their set-up.
func (e *Env) InstallUserRoles(ctx context.Context) error {
	roles, err := config.UserRoles()
	if err != nil {
		return err
	}
	for i := range roles {
		if err := e.createOrReplace(ctx, &roles[i]); err != nil {
			return fmt.Errorf("installing ClusterRole %s: %w", roles[i].Name, err)
		}
	}
	return nil
}

// CreateUser creates ServiceAccount ns/name, binds it in ns to clusterRole
// (DataScientistRole, ViewerRole...) with a RoleBinding, waits until the
// apiserver grants it every rule the product ships for that role, and
// returns the user. Set-up is cluster-admin's; everything the user does
// afterwards is authorized as the user.
func (e *Env) CreateUser(t testing.TB, ns, name, clusterRole string) *User {
	t.Helper()
	ctx := context.Background()
	e.createOrFail(t, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-" + clusterRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
	})
	u := e.newUser(ctx, t, ns, name)
	e.waitForGrants(t, u, ns, clusterRole)
	return u
}

// CreatePlatformAdmin creates ServiceAccount ns/name bound cluster-wide
// (ClusterRoleBinding, deleted when the test ends) to
// mpijob-platform-admin: the persona that sees every team's jobs (-A),
// never cluster-admin.
func (e *Env) CreatePlatformAdmin(t testing.TB, ns, name string) *User {
	t.Helper()
	ctx := context.Background()
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + name + "-" + PlatformAdminRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: PlatformAdminRole},
	}
	e.createOrFail(t, crb)
	t.Cleanup(func() { _ = e.Client.Delete(context.Background(), crb) })
	u := e.newUser(ctx, t, ns, name)
	e.waitForGrants(t, u, "", PlatformAdminRole)
	return u
}

func (e *Env) createOrFail(t testing.TB, obj client.Object) {
	t.Helper()
	if err := e.Client.Create(context.Background(), obj); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// newUser creates the ServiceAccount, requests its token and writes the
// kubeconfig whose context defaults to ns.
func (e *Env) newUser(ctx context.Context, t testing.TB, ns, name string) *User {
	t.Helper()
	tok, err := e.serviceAccountToken(ctx, ns, name, true)
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["devcluster"] = &clientcmdapi.Cluster{Server: e.Config.Host, CertificateAuthorityData: e.Config.CAData}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tok}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: "devcluster", AuthInfo: name, Namespace: ns}
	cfg.CurrentContext = name
	path := filepath.Join(t.TempDir(), "user-"+ns+"-"+name+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(rc, client.Options{Scheme: Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &User{Name: serviceAccountUser(ns, name), Namespace: ns, Kubeconfig: path, Client: c}
}

// waitForGrants waits until the apiserver's authorizer allows u every rule
// the product ships for clusterRole, in ns ("" for cluster-wide): role
// aggregation (kube-controller-manager) and the authorizer's caches are
// asynchronous, and a test that starts before them would see a 403 the
// product never gives.
func (e *Env) waitForGrants(t testing.TB, u *User, ns, clusterRole string) {
	t.Helper()
	rules, err := shippedRules(clusterRole)
	if err != nil {
		t.Fatal(err)
	}
	var attrs []authorizationv1.ResourceAttributes
	for _, r := range rules {
		if len(r.ResourceNames) > 0 {
			continue
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				resource, sub, _ := strings.Cut(res, "/")
				for _, v := range r.Verbs {
					attrs = append(attrs, authorizationv1.ResourceAttributes{Namespace: ns, Group: g, Resource: resource, Subresource: sub, Verb: v})
				}
			}
		}
	}
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + u.Namespace, "system:authenticated"}
	Eventually(t, DefaultTimeout, fmt.Sprintf("the apiserver to grant %s what %s ships (are the user roles installed? InstallUserRoles)", u.Name, clusterRole),
		func(ctx context.Context) (bool, string, error) {
			for _, a := range attrs {
				sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: u.Name, Groups: groups, ResourceAttributes: &a}}
				got, err := e.Clientset.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
				if err != nil {
					return false, "", err
				}
				if !got.Status.Allowed {
					return false, fmt.Sprintf("not yet allowed: %s %s/%s in %q", a.Verb, a.Group, a.Resource, a.Namespace), nil
				}
			}
			return true, "", nil
		})
}

// shippedRules are the rules config/rbac/user-roles gives clusterRole:
// those of the roles that aggregate into it for the built-in edit, admin
// and view, the role's own otherwise; none for a role the product does
// not ship.
func shippedRules(clusterRole string) ([]rbacv1.PolicyRule, error) {
	roles, err := config.UserRoles()
	if err != nil {
		return nil, err
	}
	label := map[string]string{
		"admin": "rbac.authorization.k8s.io/aggregate-to-edit", // admin aggregates edit
		"edit":  "rbac.authorization.k8s.io/aggregate-to-edit",
		"view":  "rbac.authorization.k8s.io/aggregate-to-view",
	}[clusterRole]
	var rules []rbacv1.PolicyRule
	for _, r := range roles {
		if r.Name == clusterRole || label != "" && r.Labels[label] == "true" {
			rules = append(rules, r.Rules...)
		}
	}
	return rules, nil
}

// ServiceAccountUser creates ServiceAccount ns/name with no binding and
// returns it as a user acting with its own token: for tests that grant
// exactly what they need.
func (e *Env) ServiceAccountUser(t testing.TB, ns, name string) *User {
	t.Helper()
	return e.newUser(context.Background(), t, ns, name)
}
