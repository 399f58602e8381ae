package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
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
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mpijob-platform/mpijob-platform/config"
	"github.com/mpijob-platform/mpijob-platform/console/backend"
	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/jobspec"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

// tenants are the people of every test: alice edits team A, bob edits team
// B, root administers the platform. Each is a ServiceAccount whose token
// the console receives, as it would from an authenticating proxy.
type tenants struct {
	teamA, teamB      string
	alice, bob, root  string // bearer tokens
	aliceUser, bobUsr string
}

var (
	tenancyOnce sync.Once
	tenancy     *tenants
)

func setUp(t *testing.T) *tenants {
	t.Helper()
	tenancyOnce.Do(func() { tenancy = setUpTenants(t) })
	if tenancy == nil {
		t.Fatal("setting up the tenants failed in an earlier test; see its output")
	}
	return tenancy
}

func adminCreate(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func setUpTenants(t *testing.T) *tenants {
	roles, err := config.UserRoles()
	if err != nil {
		t.Fatal(err)
	}
	for i := range roles {
		adminCreate(t, &roles[i])
	}
	tn := &tenants{teamA: "console-team-a", teamB: "console-team-b"}
	tokenFor := func(ns, name string) string { return env.ServiceAccountToken(t, ns, name) }
	bind := func(ns, sa, role string) {
		adminCreate(t, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa + "-" + role},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		})
	}
	for _, ns := range []string{tn.teamA, tn.teamB, "console-admins"} {
		adminCreate(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	tn.alice, tn.aliceUser = tokenFor(tn.teamA, "alice"), "system:serviceaccount:"+tn.teamA+":alice"
	tn.bob, tn.bobUsr = tokenFor(tn.teamB, "bob"), "system:serviceaccount:"+tn.teamB+":bob"
	tn.root = tokenFor("console-admins", "root")
	bind(tn.teamA, "alice", "edit")
	bind(tn.teamB, "bob", "edit")
	adminCreate(t, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "console-root-platform-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "console-admins", Name: "root"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "mpijob-platform-admin"},
	})
	// Role aggregation and the authorizer's caches are asynchronous.
	for _, w := range []struct {
		user string
		attr authorizationv1.ResourceAttributes
	}{
		{tn.aliceUser, authorizationv1.ResourceAttributes{Namespace: tn.teamA, Verb: "create", Group: kubeflow.GroupName, Resource: "mpijobs"}},
		{tn.bobUsr, authorizationv1.ResourceAttributes{Namespace: tn.teamB, Verb: "create", Group: kubeflow.GroupName, Resource: "mpijobs"}},
		{"system:serviceaccount:console-admins:root", authorizationv1.ResourceAttributes{Verb: "list", Group: kubeflow.GroupName, Resource: "mpijobs"}},
	} {
		framework.Eventually(t, framework.DefaultTimeout, w.user+" allowed to "+w.attr.Verb+" mpijobs", func(ctx context.Context) (bool, string, error) {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: w.user, Groups: []string{"system:serviceaccounts", "system:authenticated"}, ResourceAttributes: &w.attr}}
			got, err := env.Clientset.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
			if err != nil {
				return false, "", err
			}
			return got.Status.Allowed, got.Status.Reason, nil
		})
	}
	for _, ns := range []string{tn.teamA, tn.teamB} {
		framework.Eventually(t, framework.DefaultTimeout, "default ServiceAccount in "+ns, func(ctx context.Context) (bool, string, error) {
			err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "default"}, &corev1.ServiceAccount{})
			return err == nil, fmt.Sprint(err), client.IgnoreNotFound(err)
		})
	}
	return tn
}

// response is one console answer.
type response struct {
	code int
	body []byte
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.code, r.body) }

func (r response) decode(t *testing.T, into any) {
	t.Helper()
	if err := json.Unmarshal(r.body, into); err != nil {
		t.Fatalf("decoding %s: %v", r, err)
	}
}

// call sends one request to the console as the holder of token ("" for
// none).
func call(t *testing.T, token, method, path string, body any) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = strings.NewReader(string(data))
	}
	req, err := http.NewRequest(method, console.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, data}
}

func jobPath(ns, name string) string { return "/api/v1/namespaces/" + ns + "/mpijobs/" + name }

func form(name string, workers int32) map[string]any {
	return map[string]any{"form": backend.JobForm{
		Spec: jobspec.Spec{
			Name: name, Image: "example.invalid/mpi:1",
			Workers: workers, GPUsPerWorker: 1, CPU: "1", Memory: "1Gi",
		},
		Command: "mpirun -n 2 python train.py",
	}}
}

func TestWithoutTokenIs401(t *testing.T) {
	setUp(t)
	if r := call(t, "", http.MethodGet, "/api/v1/mpijobs", nil); r.code != http.StatusUnauthorized {
		t.Errorf("no token: %s, want 401", r)
	}
	// A token the apiserver does not know is the apiserver's 401.
	var e backend.Error
	r := call(t, "not-a-token", http.MethodGet, "/api/v1/namespaces/default/mpijobs", nil)
	r.decode(t, &e)
	if r.code != http.StatusUnauthorized || e.Reason != "Unauthorized" {
		t.Errorf("bad token: %s, want 401 Unauthorized", r)
	}
}

func TestWhoamiAndAdmin(t *testing.T) {
	tn := setUp(t)
	for token, want := range map[string]backend.Identity{
		tn.alice: {Username: tn.aliceUser, Admin: false},
		tn.root:  {Username: "system:serviceaccount:console-admins:root", Admin: true},
	} {
		var id backend.Identity
		r := call(t, token, http.MethodGet, "/api/v1/whoami", nil)
		r.decode(t, &id)
		if r.code != http.StatusOK || id.Username != want.Username || id.Admin != want.Admin {
			t.Errorf("whoami: %s, want %+v", r, want)
		}
	}
	// The admin's cluster-wide pages work for root and are refused to alice.
	if r := call(t, tn.root, http.MethodGet, "/api/v1/mpijobs", nil); r.code != http.StatusOK {
		t.Errorf("root lists all jobs: %s", r)
	}
	if r := call(t, tn.alice, http.MethodGet, "/api/v1/mpijobs", nil); r.code != http.StatusForbidden {
		t.Errorf("alice lists all jobs: %s, want 403", r)
	}
}

// A team member runs a job through the console from creation to deletion,
// in their own namespace.
func TestOwnNamespaceLifecycle(t *testing.T) {
	tn := setUp(t)
	ns := tn.teamA

	// A job that kwok finishes: created as a complete MPIJob.
	small := framework.SmallMPIJob(ns, "small")
	var created backend.CreateResponse
	r := call(t, tn.alice, http.MethodPost, "/api/v1/namespaces/"+ns+"/mpijobs", map[string]any{"mpijob": small})
	r.decode(t, &created)
	if r.code != http.StatusCreated || created.DryRun || created.MPIJob.UID == "" {
		t.Fatalf("create: %s", r)
	}
	framework.Eventually(t, 2*time.Minute, "the job to succeed, as the console shows it", func(context.Context) (bool, string, error) {
		var d backend.JobDetails
		r := call(t, tn.alice, http.MethodGet, jobPath(ns, "small"), nil)
		if r.code != http.StatusOK {
			return false, r.String(), nil
		}
		r.decode(t, &d)
		return d.Summary.Status == mpijob.PhaseSucceeded, string(d.Summary.Status), nil
	})
	var list backend.JobList
	r = call(t, tn.alice, http.MethodGet, "/api/v1/namespaces/"+ns+"/mpijobs", nil)
	r.decode(t, &list)
	if r.code != http.StatusOK || len(list.Items) == 0 || list.Items[0].Name != "small" {
		t.Errorf("list: %s", r)
	}
	var tj backend.TrainingJobList
	r = call(t, tn.alice, http.MethodGet, "/api/v1/namespaces/"+ns+"/trainingjobs?type=MPIJob", nil)
	r.decode(t, &tj)
	if r.code != http.StatusOK || len(tj.Items) == 0 || tj.Types[0] != "MPIJob" {
		t.Errorf("training jobs: %s", r)
	}
	var evs struct{ Items []backend.EventView }
	r = call(t, tn.alice, http.MethodGet, jobPath(ns, "small")+"/events", nil)
	r.decode(t, &evs)
	if r.code != http.StatusOK || len(evs.Items) == 0 {
		t.Errorf("events: %s", r)
	}
	if r := call(t, tn.alice, http.MethodGet, jobPath(ns, "small")+"/workers", nil); r.code != http.StatusOK {
		t.Errorf("workers: %s", r)
	}
	// kwok serves no container logs: the apiserver refuses them after
	// authorizing the request, so the console passes on a JSON error that
	// is neither 401, 403 nor 404 (unless cleanPodPolicy removed the
	// pods, when there is nothing to read).
	r = call(t, tn.alice, http.MethodGet, jobPath(ns, "small")+"/logs?role=all", nil)
	var le backend.Error
	if r.code == http.StatusOK {
		t.Logf("logs: %s", r)
	} else if r.decode(t, &le); le.Error == "" || r.code == http.StatusUnauthorized || r.code == http.StatusForbidden || r.code == http.StatusNotFound {
		t.Errorf("logs: %s, want the apiserver's refusal passed on", r)
	} else {
		t.Logf("logs (kwok has none): %s", r)
	}

	// A job from the wizard's form: dry run, create, suspend, resume, delete.
	var dry backend.CreateResponse
	r = call(t, tn.alice, http.MethodPost, "/api/v1/namespaces/"+ns+"/mpijobs?dryRun=true", form("wizard", 2))
	r.decode(t, &dry)
	if r.code != http.StatusOK || !dry.DryRun || !strings.Contains(dry.YAML, "name: wizard") {
		t.Fatalf("dry run: %s", r)
	}
	// The preview shows the webhooks' defaults.
	if !strings.Contains(dry.YAML, "cleanPodPolicy") {
		t.Errorf("the preview lacks the defaulted fields:\n%s", dry.YAML)
	}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "wizard"}, &kubeflow.MPIJob{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the dry run created the job: %v", err)
	}
	if r := call(t, tn.alice, http.MethodPost, "/api/v1/namespaces/"+ns+"/mpijobs", form("wizard", 2)); r.code != http.StatusCreated {
		t.Fatalf("create from the form: %s", r)
	}
	for _, step := range []struct{ action, want string }{{"suspend", "Suspended"}, {"resume", ""}} {
		if r := call(t, tn.alice, http.MethodPost, jobPath(ns, "wizard")+"/"+step.action, nil); r.code != http.StatusOK {
			t.Errorf("%s: %s", step.action, r)
		}
		job := &kubeflow.MPIJob{}
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "wizard"}, job); err != nil {
			t.Fatal(err)
		}
		if got := ptr.Deref(job.Spec.RunPolicy.Suspend, false); got != (step.want == "Suspended") {
			t.Errorf("after %s: spec.runPolicy.suspend = %v", step.action, got)
		}
	}
	for _, name := range []string{"wizard", "small"} {
		if r := call(t, tn.alice, http.MethodDelete, jobPath(ns, name), nil); r.code != http.StatusOK {
			t.Errorf("delete %s: %s", name, r)
		}
	}
	if r := call(t, tn.alice, http.MethodGet, jobPath(ns, "wizard"), nil); r.code != http.StatusNotFound {
		t.Errorf("details after delete: %s, want 404", r)
	}
}

// Alice cannot see or touch team B's job through any endpoint.
func TestTeamIsolation(t *testing.T) {
	tn := setUp(t)
	job := framework.SmallMPIJob(tn.teamB, "secret")
	job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Annotations = nil // keeps running
	if r := call(t, tn.bob, http.MethodPost, "/api/v1/namespaces/"+tn.teamB+"/mpijobs", map[string]any{"mpijob": job}); r.code != http.StatusCreated {
		t.Fatalf("bob creates his job: %s", r)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), job) })
	nsB, j := "/api/v1/namespaces/"+tn.teamB, jobPath(tn.teamB, "secret")
	for _, req := range []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, nsB + "/mpijobs", nil},
		{http.MethodGet, "/api/v1/mpijobs", nil},
		{http.MethodGet, "/api/v1/trainingjobs", nil},
		{http.MethodGet, nsB + "/trainingjobs", nil},
		{http.MethodGet, j, nil},
		{http.MethodGet, j + "/workers", nil},
		{http.MethodGet, j + "/events", nil},
		{http.MethodGet, j + "/logs", nil},
		{http.MethodGet, j + "/logs?role=worker&index=0&follow=true", nil},
		{http.MethodGet, j + "/metrics", nil},
		{http.MethodGet, "/api/v1/admin/gpu-utilization", nil},
		{http.MethodGet, nsB + "/quota", nil},
		{http.MethodGet, "/api/v1/quota", nil},
		{http.MethodPost, nsB + "/mpijobs?dryRun=true", form("intruder", 1)},
		{http.MethodPost, nsB + "/mpijobs", form("intruder", 1)},
		{http.MethodPost, j + "/suspend", nil},
		{http.MethodPost, j + "/resume", nil},
		{http.MethodDelete, j, nil},
	} {
		r := call(t, tn.alice, req.method, req.path, req.body)
		var e backend.Error
		if r.code != http.StatusForbidden && r.code != http.StatusNotFound {
			t.Errorf("alice %s %s: %s, want 403 or 404", req.method, req.path, r)
			continue
		}
		if r.decode(t, &e); e.Error == "" || e.Reason == "" {
			t.Errorf("alice %s %s: %s, want a JSON error with a reason", req.method, req.path, r)
		}
		if strings.Contains(string(r.body), "example.invalid") {
			t.Errorf("alice %s %s leaks team B's job: %s", req.method, req.path, r)
		}
	}
	got := &kubeflow.MPIJob{}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(job), got); err != nil || ptr.Deref(got.Spec.RunPolicy.Suspend, false) {
		t.Errorf("team B's job after alice's attempts: %v, suspend=%v; want it untouched", err, got.Spec.RunPolicy.Suspend)
	}
	for _, name := range []string{"intruder"} {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: tn.teamB, Name: name}, &kubeflow.MPIJob{}); !apierrors.IsNotFound(err) {
			t.Errorf("alice created %s in team B: %v", name, err)
		}
	}
	// Bob, in his own namespace, sees it.
	if r := call(t, tn.bob, http.MethodGet, j, nil); r.code != http.StatusOK {
		t.Errorf("bob reads his job: %s", r)
	}
}

// A job larger than the namespace's ResourceQuota gets the webhook's quota
// message from the dry run, before anything is created.
func TestOverQuotaDryRun(t *testing.T) {
	tn := setUp(t)
	rq := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: tn.teamA, Name: "gpus"}, Spec: corev1.ResourceQuotaSpec{
		Hard: corev1.ResourceList{"requests.nvidia.com/gpu": resource.MustParse("2")}}}
	adminCreate(t, rq)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), rq) })
	framework.Eventually(t, framework.DefaultTimeout, "the quota's status", func(ctx context.Context) (bool, string, error) {
		got := &corev1.ResourceQuota{}
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(rq), got)
		return err == nil && got.Status.Hard != nil, fmt.Sprint(err), client.IgnoreNotFound(err)
	})

	var e backend.Error
	r := call(t, tn.alice, http.MethodPost, "/api/v1/namespaces/"+tn.teamA+"/mpijobs?dryRun=true", form("huge", 4))
	r.decode(t, &e)
	// Pods of the other tests may still count as used; the limit is what
	// makes the job impossible.
	want := regexp.MustCompile(`ResourceQuota ` + tn.teamA + `/gpus:\n  requests.nvidia.com/gpu: requested 4, used \d+, available \d+, limit 2`)
	if r.code != http.StatusForbidden || e.Reason != "Forbidden" || !strings.Contains(e.Error, "can never run") || !want.MatchString(e.Error) {
		t.Errorf("over-quota dry run: %s\nwant 403 Forbidden matching %s", r, want)
	}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: tn.teamA, Name: "huge"}, &kubeflow.MPIJob{}); !apierrors.IsNotFound(err) {
		t.Errorf("the rejected job exists: %v", err)
	}
	// The quota page shows the same numbers.
	var q backend.QuotaView
	r = call(t, tn.alice, http.MethodGet, "/api/v1/namespaces/"+tn.teamA+"/quota", nil)
	r.decode(t, &q)
	if r.code != http.StatusOK || len(q.ResourceQuotas) != 1 || q.ResourceQuotas[0].Resources[0].Limit != "2" {
		t.Errorf("quota: %s", r)
	}
}

// The job list is one page, filtered and sorted by the console from its
// job index, and a live-update stream says when the namespace's jobs
// change; neither shows a caller another team's namespace.
func TestJobListPagesAndStreams(t *testing.T) {
	tn := setUp(t)
	ns := tn.teamA
	for i := range 25 {
		job := framework.SmallMPIJob(ns, fmt.Sprintf("page-%02d", i))
		job.Spec.RunPolicy.Suspend = ptr.To(true)
		adminCreate(t, job)
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), job) })
	}
	list := "/api/v1/namespaces/" + ns + "/trainingjobs"
	var page backend.TrainingJobList
	framework.Eventually(t, framework.DefaultTimeout, "the index holds the 25 jobs", func(context.Context) (bool, string, error) {
		r := call(t, tn.alice, http.MethodGet, list+"?search=page-&sort=name&perPage=10&page=2", nil)
		if r.code != http.StatusOK {
			return false, r.String(), nil
		}
		page = backend.TrainingJobList{}
		r.decode(t, &page)
		return page.Total == 25, fmt.Sprintf("total %d", page.Total), nil
	})
	names := make([]string, 0, len(page.Items))
	for _, j := range page.Items {
		names = append(names, j.Name)
	}
	if len(names) != 10 || names[0] != "page-10" || names[9] != "page-19" || !page.Live || page.Page != 2 || page.PerPage != 10 {
		t.Errorf("page 2 of 10 by name: %v (live %t, page %d of %d)", names, page.Live, page.Page, page.PerPage)
	}
	for query, want := range map[string]int{
		"?search=page-&status=Suspended": 25,
		"?search=page-&status=Running":   0,
		"?search=PAGE-0&type=MPIJob":     10,
		"?search=page-&type=PyTorchJob":  0,
	} {
		if r, got := listJobs(t, tn.alice, list+query); got.Total != want || len(got.Items) != want {
			t.Errorf("GET %s: %s; want %d jobs", query, r, want)
		}
	}
	for _, query := range []string{"?perPage=0", "?perPage=501", "?page=x", "?sort=age", "?status=Done", "?since=yesterday"} {
		if r := call(t, tn.alice, http.MethodGet, list+query, nil); r.code != http.StatusBadRequest {
			t.Errorf("GET %s: %s, want 400", query, r)
		}
	}
	// Another team's namespace and the cluster scope stay closed.
	for _, path := range []string{"/api/v1/namespaces/" + tn.teamB + "/trainingjobs?perPage=5", "/api/v1/trainingjobs?perPage=5", "/api/v1/namespaces/" + tn.teamB + "/trainingjobs/watch", "/api/v1/trainingjobs/watch"} {
		if r := call(t, tn.alice, http.MethodGet, path, nil); r.code != http.StatusForbidden || strings.Contains(string(r.body), "page-") {
			t.Errorf("alice GET %s: %s, want 403", path, r)
		}
	}
	if r, all := listJobs(t, tn.root, "/api/v1/trainingjobs?search=page-&perPage=5"); all.Total != 25 || len(all.Items) != 5 {
		t.Errorf("the admin's view of every namespace: %s; want 5 of 25", r)
	}

	// The stream: ready at once, changed once a job of the namespace is made.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, console.URL+list+"/watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tn.alice)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("watch: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan string, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events <- ev
			}
		}
	}()
	next := func() string {
		select {
		case ev := <-events:
			return ev
		case <-ctx.Done():
			return "(none within a minute)"
		}
	}
	if ev := next(); ev != "ready" {
		t.Fatalf("first event %q, want ready", ev)
	}
	job := framework.SmallMPIJob(ns, "page-25")
	job.Spec.RunPolicy.Suspend = ptr.To(true)
	adminCreate(t, job)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), job) })
	if ev := next(); ev != "changed" {
		t.Fatalf("after a job was created: event %q, want changed", ev)
	}
	if r, after := listJobs(t, tn.alice, list+"?search=page-&sort=-name&perPage=1"); after.Total != 26 || len(after.Items) != 1 || after.Items[0].Name != "page-25" {
		t.Errorf("after the change: %s; want 26 jobs, page-25 last by name", r)
	}
}

// listJobs GETs a trainingjobs path as the holder of token and decodes a
// 200 answer (an empty list otherwise).
func listJobs(t *testing.T, token, path string) (response, backend.TrainingJobList) {
	t.Helper()
	var list backend.TrainingJobList
	r := call(t, token, http.MethodGet, path, nil)
	if r.code == http.StatusOK {
		r.decode(t, &list)
	}
	return r, list
}
