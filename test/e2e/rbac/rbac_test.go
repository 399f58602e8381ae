package rbac_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mpijob-platform/mpijob-platform/config"
	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// The tenancy every test works in: alice edits team-a, victor views team-a,
// root-admin runs the platform. Nobody is bound in team-b. The people are
// ServiceAccounts of namespace people, acting with their own tokens.
const (
	teamA     = "team-a"
	teamB     = "team-b"
	people    = "people"
	alice     = "system:serviceaccount:" + people + ":alice"
	victor    = "system:serviceaccount:" + people + ":victor"
	rootAdmin = "system:serviceaccount:" + people + ":root-admin"

	mpijobGroup = "kubeflow.org"
	adminRole   = "mpijob-platform-admin"
)

var (
	setupOnce sync.Once
	setupDone bool
)

// tenancy installs the roles, namespaces and bindings once for the package and
// waits until the apiserver's authorizer enforces them. Every test calls it,
// so that any one of them can run alone (-run).
func tenancy(t *testing.T) {
	t.Helper()
	setupOnce.Do(func() {
		setUpTenancy(t)
		setupDone = true
	})
	if !setupDone {
		t.Fatal("setting up roles, namespaces and bindings failed in an earlier test; see its output")
	}
}

func setUpTenancy(t *testing.T) {
	roles, err := config.UserRoles()
	if err != nil {
		t.Fatalf("decoding the embedded user roles: %v", err)
	}
	for i := range roles {
		create(t, &roles[i])
	}
	for _, ns := range []string{teamA, teamB, people} {
		create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	for _, u := range []string{alice, victor, rootAdmin} {
		create(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: people, Name: shortName(u)}})
	}
	create(t, roleBinding(teamA, "alice-edit", alice, "edit"))
	create(t, roleBinding(teamA, "victor-view", victor, "view"))
	create(t, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "root-admin-platform-admin"},
		Subjects:   []rbacv1.Subject{subject(rootAdmin)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: adminRole},
	})

	// Aggregation (kube-controller-manager) and the authorizer's informers are
	// asynchronous: wait until the apiserver answers as the bindings say.
	for _, want := range []struct {
		user string
		attr authorizationv1.ResourceAttributes
	}{
		{alice, authorizationv1.ResourceAttributes{Namespace: teamA, Verb: "create", Group: mpijobGroup, Resource: "mpijobs"}},
		{victor, authorizationv1.ResourceAttributes{Namespace: teamA, Verb: "list", Group: mpijobGroup, Resource: "mpijobs"}},
		{rootAdmin, authorizationv1.ResourceAttributes{Verb: "list", Group: mpijobGroup, Resource: "mpijobs"}},
	} {
		framework.Eventually(t, framework.DefaultTimeout, fmt.Sprintf("the authorizer to let %s %s mpijobs in %q", want.user, want.attr.Verb, want.attr.Namespace),
			func(ctx context.Context) (bool, string, error) {
				sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
					User: want.user, Groups: []string{"system:authenticated", "system:serviceaccounts", "system:serviceaccounts:" + people}, ResourceAttributes: &want.attr,
				}}
				got, err := env.Clientset.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
				if err != nil {
					return false, "", err
				}
				return got.Status.Allowed, fmt.Sprintf("allowed=%v reason=%q", got.Status.Allowed, got.Status.Reason), nil
			})
	}
	// Pods need their namespace's default ServiceAccount, which a controller creates.
	for _, ns := range []string{teamA, teamB} {
		framework.Eventually(t, framework.DefaultTimeout, "default ServiceAccount in "+ns, func(ctx context.Context) (bool, string, error) {
			err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "default"}, &corev1.ServiceAccount{})
			if apierrors.IsNotFound(err) {
				return false, "not yet created", nil
			}
			return err == nil, "", err
		})
	}
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s as cluster admin: %v", obj, obj.GetName(), err)
	}
}

func roleBinding(ns, name, user, clusterRole string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Subjects:   []rbacv1.Subject{subject(user)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
	}
}

// shortName is a person's ServiceAccount name.
func shortName(user string) string { return user[strings.LastIndex(user, ":")+1:] }

func subject(user string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: people, Name: shortName(user)}
}

// as returns clients that act as user, with a token of its ServiceAccount:
// the apiserver authenticates and authorizes every call as that person.
func as(t *testing.T, user string) (client.Client, kubernetes.Interface) {
	t.Helper()
	u := env.ServiceAccountUser(t, people, shortName(user))
	cfg, err := clientcmd.BuildConfigFromFlags("", u.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return u.Client, cs
}

// mpiJob is a minimal valid v2beta1 MPIJob. No controller runs in this
// suite, so it stays as created.
func mpiJob(ns, name string) *kubeflow.MPIJob {
	return wrappers.MakeMPIJob(name, ns).SlotsPerWorker(1).
		ContainerName(kubeflow.MPIReplicaTypeLauncher, "launcher").Command(kubeflow.MPIReplicaTypeLauncher, "mpirun", "hostname").Limits(kubeflow.MPIReplicaTypeLauncher, "cpu", "1").
		ContainerName(kubeflow.MPIReplicaTypeWorker, "worker").Command(kubeflow.MPIReplicaTypeWorker).Limits(kubeflow.MPIReplicaTypeWorker, "cpu", "1").Obj()
}

// adminCreates creates obj as the cluster admin and deletes it when the test
// ends.
func adminCreates(t *testing.T, obj client.Object) {
	t.Helper()
	create(t, obj)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), obj) })
}

func wantAllowed(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: want it allowed, got %v", what, err)
	}
}

func wantForbidden(t *testing.T, err error, what string) {
	t.Helper()
	if !apierrors.IsForbidden(err) {
		t.Errorf("%s: want 403 Forbidden, got %v", what, err)
	}
}

// allows says whether rules grant verb on group/resource.
func allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	in := func(list []string, s string) bool {
		return slices.Contains(list, s) || slices.Contains(list, rbacv1.ResourceAll)
	}
	for _, r := range rules {
		if len(r.ResourceNames) == 0 && in(r.APIGroups, group) && in(r.Resources, resource) && in(r.Verbs, verb) {
			return true
		}
	}
	return false
}

func names(list *kubeflow.MPIJobList) []string {
	var out []string
	for _, j := range list.Items {
		out = append(out, j.Namespace+"/"+j.Name)
	}
	return out
}

// The real kube-controller-manager copies our labelled roles into the
// built-in ones: edit (and admin, which aggregates edit) gets the user's
// write access to MPIJobs; view gets the viewer's read access and no writes.
func TestAggregationFillsBuiltInRoles(t *testing.T) {
	tenancy(t)
	type grant struct {
		resource, verb string
		want           bool
	}
	for role, grants := range map[string][]grant{
		"edit": {
			{"mpijobs", "create", true}, {"mpijobs", "delete", true}, {"mpijobs", "deletecollection", true},
			{"mpijobs/status", "get", true},
		},
		"admin": {{"mpijobs", "create", true}, {"mpijobs", "patch", true}, {"mpijobs/status", "get", true}},
		"view": {
			{"mpijobs", "get", true}, {"mpijobs", "list", true}, {"mpijobs", "watch", true}, {"mpijobs/status", "get", true},
			{"mpijobs", "create", false}, {"mpijobs", "update", false}, {"mpijobs", "patch", false}, {"mpijobs", "delete", false},
		},
	} {
		framework.Eventually(t, framework.DefaultTimeout, "aggregated mpijobs rules in ClusterRole "+role, func(ctx context.Context) (bool, string, error) {
			cr := &rbacv1.ClusterRole{}
			if err := env.Client.Get(ctx, client.ObjectKey{Name: role}, cr); err != nil {
				return false, "", err
			}
			var wrong []string
			for _, g := range grants {
				if allows(cr.Rules, mpijobGroup, g.resource, g.verb) != g.want {
					wrong = append(wrong, fmt.Sprintf("%s %s: want allowed=%v", g.verb, g.resource, g.want))
				}
			}
			return len(wrong) == 0, fmt.Sprintf("%v", wrong), nil
		})
	}
	// Kueue queue state reaches both edit and view.
	for _, role := range []string{"edit", "view"} {
		cr := &rbacv1.ClusterRole{}
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: role}, cr); err != nil {
			t.Fatal(err)
		}
		for _, res := range []string{"localqueues", "workloads"} {
			if !allows(cr.Rules, "kueue.x-k8s.io", res, "list") {
				t.Errorf("aggregated ClusterRole %s should allow list on kueue.x-k8s.io %s", role, res)
			}
		}
	}
	// The admin role is bound explicitly and must not leak into namespace roles.
	cr := &rbacv1.ClusterRole{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "admin"}, cr); err != nil {
		t.Fatal(err)
	}
	if allows(cr.Rules, "kueue.x-k8s.io", "clusterqueues", "create") || allows(cr.Rules, "platform.mpijob.io", "mpijobplatforms", "get") {
		t.Errorf("namespace admin role got platform-admin rules; mpijob-platform-admin must not be aggregated")
	}
}

// alice has edit in team-a: she submits, lists, reads and deletes MPIJobs there.
func TestEditorManagesMPIJobsInOwnNamespace(t *testing.T) {
	tenancy(t)
	ctx := context.Background()
	c, _ := as(t, alice)
	job := mpiJob(teamA, "alice-train")
	wantAllowed(t, c.Create(ctx, job), "alice creates an MPIJob in team-a (edit)")
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), mpiJob(teamA, "alice-train")) })

	list := &kubeflow.MPIJobList{}
	wantAllowed(t, c.List(ctx, list, client.InNamespace(teamA)), "alice lists MPIJobs in team-a")
	if !slices.Contains(names(list), teamA+"/alice-train") {
		t.Errorf("alice's list of team-a %v lacks her job alice-train", names(list))
	}
	got := &kubeflow.MPIJob{}
	wantAllowed(t, c.Get(ctx, client.ObjectKeyFromObject(job), got), "alice gets her MPIJob in team-a")
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"owner":"alice"}}}`))
	wantAllowed(t, c.Patch(ctx, got, patch), "alice labels her MPIJob in team-a")
	wantAllowed(t, c.Delete(ctx, got), "alice deletes her MPIJob in team-a")
	framework.Eventually(t, framework.DefaultTimeout, "alice's MPIJob gone", func(ctx context.Context) (bool, string, error) {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(job), &kubeflow.MPIJob{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		return false, fmt.Sprintf("get: %v", err), nil
	})
}

// alice has no binding in team-b: every MPIJob call there is refused, even on
// a job that exists, and so is a cluster-wide list.
func TestEditorIsLockedOutOfOtherNamespaces(t *testing.T) {
	tenancy(t)
	ctx := context.Background()
	adminCreates(t, mpiJob(teamB, "bob-train"))
	c, _ := as(t, alice)

	wantForbidden(t, c.Create(ctx, mpiJob(teamB, "alice-sneaks-in")), "alice creates an MPIJob in team-b")
	wantForbidden(t, c.List(ctx, &kubeflow.MPIJobList{}, client.InNamespace(teamB)), "alice lists MPIJobs in team-b")
	wantForbidden(t, c.Get(ctx, client.ObjectKey{Namespace: teamB, Name: "bob-train"}, &kubeflow.MPIJob{}), "alice gets bob's MPIJob in team-b")
	wantForbidden(t, c.Delete(ctx, mpiJob(teamB, "bob-train")), "alice deletes bob's MPIJob in team-b")
	wantForbidden(t, c.List(ctx, &kubeflow.MPIJobList{}), "alice lists MPIJobs in all namespaces")

	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: teamB, Name: "bob-train"}, &kubeflow.MPIJob{}); err != nil {
		t.Errorf("bob's MPIJob should survive alice's refused delete: %v", err)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: teamB, Name: "alice-sneaks-in"}, &kubeflow.MPIJob{}); !apierrors.IsNotFound(err) {
		t.Errorf("alice's refused MPIJob should not exist in team-b; get: %v", err)
	}
}

// alice may read pod logs in team-a (to debug her jobs) and not in team-b.
func TestEditorReadsPodLogsOnlyInOwnNamespace(t *testing.T) {
	tenancy(t)
	ctx := context.Background()
	for _, ns := range []string{teamA, teamB} {
		adminCreates(t, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "launcher"},
			Spec: corev1.PodSpec{
				NodeName:   cluster.CPUNodeNamePrefix + "0",
				Containers: []corev1.Container{{Name: "main", Image: "example.invalid/mpi:1"}},
			},
		})
	}
	framework.Eventually(t, framework.DefaultTimeout, "the launcher pods Running on the kwok node", func(ctx context.Context) (bool, string, error) {
		var phases []string
		for _, ns := range []string{teamA, teamB} {
			p := &corev1.Pod{}
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "launcher"}, p); err != nil {
				return false, "", err
			}
			phases = append(phases, string(p.Status.Phase))
		}
		return phases[0] == string(corev1.PodRunning) && phases[1] == string(corev1.PodRunning), fmt.Sprintf("phases %v", phases), nil
	})

	_, cs := as(t, alice)
	for ns, want := range map[string]bool{teamA: true, teamB: false} {
		review, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Verb: "get", Resource: "pods", Subresource: "log", Name: "launcher",
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("SelfSubjectAccessReview as alice for %s: %v", ns, err)
		}
		if review.Status.Allowed != want {
			t.Errorf("SelfSubjectAccessReview as alice: get pods/log in %s allowed=%v, want %v (reason %q)", ns, review.Status.Allowed, want, review.Status.Reason)
		}
	}

	logs := func(ns string) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err := cs.CoreV1().Pods(ns).GetLogs("launcher", &corev1.PodLogOptions{}).DoRaw(ctx)
		return err
	}
	wantForbidden(t, logs(teamB), "alice reads the launcher's log in team-b")
	// kwok nodes serve no kubelet log endpoint, so the request may fail past
	// authorization (the apiserver answers 5xx); it must not fail at it. An
	// error must be the apiserver's answer, not a client-side timeout that
	// would prove nothing.
	err := logs(teamA)
	var status apierrors.APIStatus
	switch {
	case err == nil:
		t.Logf("log GET in team-a as alice succeeded")
	case !errors.As(err, &status):
		t.Errorf("alice reads the launcher's log in team-a: want the apiserver's answer (authorized), got no answer: %v", err)
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		t.Errorf("alice reads the launcher's log in team-a: want it authorized (any answer but 401/403), got %v", err)
	default:
		t.Logf("log GET in team-a as alice passed authorization; the apiserver answered %d: %v", status.Status().Code, err)
	}
}

// victor has view in team-a: he reads MPIJobs there and changes nothing.
func TestViewerReadsButCannotWrite(t *testing.T) {
	tenancy(t)
	ctx := context.Background()
	adminCreates(t, mpiJob(teamA, "team-train"))
	c, _ := as(t, victor)

	list := &kubeflow.MPIJobList{}
	wantAllowed(t, c.List(ctx, list, client.InNamespace(teamA)), "victor lists MPIJobs in team-a (view)")
	if !slices.Contains(names(list), teamA+"/team-train") {
		t.Errorf("victor's list of team-a %v lacks team-train", names(list))
	}
	got := &kubeflow.MPIJob{}
	wantAllowed(t, c.Get(ctx, client.ObjectKey{Namespace: teamA, Name: "team-train"}, got), "victor gets an MPIJob in team-a")

	wantForbidden(t, c.Create(ctx, mpiJob(teamA, "victor-train")), "victor creates an MPIJob in team-a")
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"owner":"victor"}}}`))
	wantForbidden(t, c.Patch(ctx, got, patch), "victor patches an MPIJob in team-a")
	wantForbidden(t, c.Delete(ctx, got), "victor deletes an MPIJob in team-a")
	wantForbidden(t, c.List(ctx, &kubeflow.MPIJobList{}, client.InNamespace(teamB)), "victor lists MPIJobs in team-b")

	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: teamA, Name: "team-train"}, &kubeflow.MPIJob{}); err != nil {
		t.Errorf("team-train should survive victor's refused delete: %v", err)
	}
}

// root-admin holds mpijob-platform-admin through a ClusterRoleBinding: MPIJobs
// in every namespace, quotas, namespace labels and nodes, but no Secrets and
// no deleting namespaces.
func TestPlatformAdminActsClusterWide(t *testing.T) {
	tenancy(t)
	ctx := context.Background()
	adminCreates(t, mpiJob(teamA, "a-train"))
	adminCreates(t, mpiJob(teamB, "b-train"))
	c, _ := as(t, rootAdmin)

	list := &kubeflow.MPIJobList{}
	wantAllowed(t, c.List(ctx, list), "root-admin lists MPIJobs in all namespaces")
	for _, want := range []string{teamA + "/a-train", teamB + "/b-train"} {
		if !slices.Contains(names(list), want) {
			t.Errorf("root-admin's cluster-wide list %v lacks %s", names(list), want)
		}
	}

	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Namespace: teamB, Name: "gpus"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourceName("requests." + string(cluster.GPUResource)): resource.MustParse("16"),
		}},
	}
	wantAllowed(t, c.Create(ctx, quota), "root-admin creates a ResourceQuota in team-b")
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), quota) })

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: teamB}}
	label := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"example.mpijob.io/queue":"team-b"}}}`))
	wantAllowed(t, c.Patch(ctx, ns, label), "root-admin labels namespace team-b")
	wantAllowed(t, c.List(ctx, &corev1.NodeList{}), "root-admin lists nodes")

	wantForbidden(t, c.List(ctx, &corev1.SecretList{}, client.InNamespace(teamB)), "root-admin lists Secrets in team-b")
	wantForbidden(t, c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: teamB}}), "root-admin deletes namespace team-b")
}
