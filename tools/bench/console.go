package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mpijob-platform/mpijob-platform/config"
	"github.com/mpijob-platform/mpijob-platform/console/backend"
	"github.com/mpijob-platform/mpijob-platform/console/frontend"
	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// consoleOptions size the console benchmark: Jobs MPIJobs in the
// member's namespace, ClusterJobs in all (the rest spread over namespaces
// of 1000).
type consoleOptions struct {
	Jobs, ClusterJobs, Runs int
}

// benchConsole measures the console on a fresh dev cluster holding
// suspended MPIJobs (no pods needed): o.Jobs in one namespace and
// o.ClusterJobs in all. It runs the console's job index as shipped (fed
// with an identity that may list and watch MPIJobs), then measures, as a
// member of that namespace (a ServiceAccount token with the edit role) and
// as a platform admin (every namespace): the backend's latency for the
// list page's first page (GET .../trainingjobs?page=1&perPage=20) and, in
// headless Chromium, the time from navigation to the first page rendered
// (20 rows, with the pagination showing the total).
func benchConsole(ctx context.Context, o consoleOptions) error {
	if o.ClusterJobs < o.Jobs {
		o.ClusterJobs = o.Jobs
	}
	w, err := newWorkspace("console")
	if err != nil {
		return err
	}
	defer w.done()
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		if chromium, err = exec.LookPath("chromium"); err != nil {
			return errors.New("the console benchmark needs Chromium: apt-get install chromium (or set CHROMIUM)")
		}
	}
	fe := filepath.Join(w.repo, "console", "frontend")
	fmt.Println("bench: console, building the front end...")
	if _, err := os.Stat(filepath.Join(fe, "node_modules", "playwright-core")); err != nil {
		if err := npm(ctx, fe, "ci", "--no-audit", "--no-fund", "--loglevel=error"); err != nil {
			return err
		}
	}
	if err := npm(ctx, fe, "run", "build"); err != nil {
		return err
	}

	fmt.Printf("bench: console, %d suspended MPIJobs in one namespace, %d in all (fresh cluster)...\n", o.Jobs, o.ClusterJobs)
	c, err := cluster.Start(ctx, cluster.Options{
		Dir: filepath.Join(w.dir, "cluster"), RepoRoot: w.repo, CacheDir: w.cache, GPUNodes: 1, WithoutKueue: true,
		CRDDirs: []string{filepath.Join(w.repo, "config", "crd", "bases")}, Progress: os.Stderr,
	})
	if err != nil {
		return err
	}
	defer func() { _ = c.Stop() }()
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), kubeflow.AddToScheme(scheme)); err != nil {
		return err
	}
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	cl, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	const ns = "bench"
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	token, err := memberToken(ctx, cl, kube, ns)
	if err != nil {
		return err
	}
	admin, err := adminToken(ctx, cl, kube, ns)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := createSuspendedJobs(ctx, cl, ns, o.Jobs, o.ClusterJobs); err != nil {
		return err
	}
	fmt.Printf("bench: created %d MPIJobs in %.1f s\n", o.ClusterJobs, time.Since(start).Seconds())

	// The index, as the console runs it; its memory is the bench's heap
	// growth.
	var before goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&before)
	start = time.Now()
	jobs := backend.StartJobIndex(ctx, c.Config, logr.Discard())
	if jobs == nil || !jobs.WaitSynced(ctx) {
		return errors.New("the console's job index did not start")
	}
	var after goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&after)
	fmt.Printf("console: job index of %d MPIJobs synced in %.1f s, %.0f MiB of heap (%.1f KiB per job)\n", jobs.Len(), time.Since(start).Seconds(),
		float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), float64(after.HeapAlloc-before.HeapAlloc)/1024/float64(jobs.Len()))

	srv := httptest.NewServer(backend.New(backend.Options{
		Clients: backend.NewClientFactory(c.Config),
		Static:  frontend.Handler(frontend.Dir(filepath.Join(fe, "web", "dist"))),
		Version: "bench",
		Jobs:    jobs,
	}).Handler())
	defer srv.Close()

	views := []struct {
		who, token, namespace, path string
		total                       int
	}{
		{"a member of " + ns, token, ns, "/api/v1/namespaces/" + ns + "/trainingjobs", o.Jobs},
		{"a platform admin, all namespaces", admin, "", "/api/v1/trainingjobs", o.ClusterJobs},
	}
	for _, v := range views {
		for _, query := range []string{"?page=1&perPage=20", "?page=1&perPage=20&sort=name&search=job-00"} {
			lat, size, err := apiLatency(ctx, srv.URL+v.path+query, v.token, 3*o.Runs)
			if err != nil {
				return err
			}
			fmt.Printf("console: GET %s%s as %s (%d jobs; %d KiB): p50 %.1f ms, p99 %.1f ms over %d requests\n",
				v.path, query, v.who, v.total, size/1024, percentile(lat, 50), percentile(lat, 99), len(lat))
		}
	}
	for _, v := range views {
		if err := browserList(ctx, fe, chromium, srv.URL, v.token, v.namespace, v.total, o.Runs, v.who); err != nil {
			return err
		}
	}
	return nil
}

// browserList measures in headless Chromium the list page of namespace
// ("" every namespace) as the holder of token, which holds total jobs.
func browserList(ctx context.Context, fe, chromium, url, token, namespace string, total, runs int, who string) error {
	cmd := exec.CommandContext(ctx, "node", filepath.Join(fe, "e2e", "bench.mjs"))
	cmd.Dir = fe
	cmd.Env = append(os.Environ(), "CONSOLE_URL="+url, "TOKEN="+token, "NAMESPACE="+namespace,
		fmt.Sprintf("EXPECT=%d", total), fmt.Sprintf("RUNS=%d", runs), "CHROMIUM="+chromium)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("the browser measurement: %w", err)
	}
	var res struct {
		MS     []float64            `json:"ms"`
		Rows   int                  `json:"rows"`
		Total  string               `json:"total"`
		Phases map[string][]float64 `json:"phases"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("decoding %q: %w", out, err)
	}
	fmt.Printf("console: as %s, navigation to the list rendered in Chromium (first page of %d rows, pagination total %s): p50 %.0f ms, p99 %.0f ms over %d runs (target < 1000 ms)\n",
		who, res.Rows, strings.TrimSpace(res.Total), percentile(res.MS, 50), percentile(res.MS, 99), len(res.MS))
	p50 := func(k string) float64 { return percentile(res.Phases[k], 50) }
	fmt.Printf("console: p50 since navigation start: script %.0f ms, stylesheet %.0f ms, document loaded %.0f ms, who-am-I answered %.0f ms, list answered %.0f ms, rows on screen %.0f ms\n",
		p50("script"), p50("stylesheet"), p50("domContentLoaded"), p50("whoami"), p50("list"), p50("rendered"))
	return nil
}

func npm(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "npm", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CI=true", "NO_COLOR=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// adminToken makes a ServiceAccount in ns bound to the shipped platform
// admin role (cluster-wide) and returns its token, once the authorizer
// lets it list MPIJobs in every namespace.
func adminToken(ctx context.Context, cl client.Client, kube kubernetes.Interface, ns string) (string, error) {
	objs := []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "admin"}},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "bench-platform-admin"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "admin"}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "mpijob-platform-admin"},
		},
	}
	for _, o := range objs {
		if err := cl.Create(ctx, o); err != nil {
			return "", fmt.Errorf("creating %s: %w", o.GetName(), err)
		}
	}
	return tokenWhenAllowed(ctx, kube, ns, "admin", "")
}

// memberToken makes a ServiceAccount with the edit role (which our
// aggregated user roles extend to MPIJobs) in ns and returns its token,
// once the authorizer lets it list MPIJobs.
func memberToken(ctx context.Context, cl client.Client, kube kubernetes.Interface, ns string) (string, error) {
	roles, err := config.UserRoles()
	if err != nil {
		return "", err
	}
	objs := []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}}
	for i := range roles {
		objs = append(objs, &roles[i])
	}
	objs = append(objs,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "member"}},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "member-edit"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "member"}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
		})
	for _, o := range objs {
		if err := cl.Create(ctx, o); err != nil {
			return "", fmt.Errorf("creating %s: %w", o.GetName(), err)
		}
	}
	return tokenWhenAllowed(ctx, kube, ns, "member", ns)
}

// tokenWhenAllowed returns a token of ServiceAccount ns/name once the
// authorizer lets it list MPIJobs in listNS ("" every namespace): role
// aggregation is asynchronous.
func tokenWhenAllowed(ctx context.Context, kube kubernetes.Interface, ns, name, listNS string) (string, error) {
	tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "system:serviceaccount:" + ns + ":" + name, Groups: []string{"system:serviceaccounts", "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: listNS, Verb: "list", Group: kubeflow.GroupName, Resource: "mpijobs"},
		}}
		got, err := kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err == nil && got.Status.Allowed {
			return tr.Status.Token, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("the bench's %s may not list MPIJobs after a minute: %w", name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// createSuspendedJobs creates inNS suspended MPIJobs in ns and the rest of
// total in namespaces team-NN of 1000 each, printing progress.
func createSuspendedJobs(ctx context.Context, cl client.Client, ns string, inNS, total int) error {
	spread := func(i int) (string, string) {
		if i < inNS {
			return ns, fmt.Sprintf("job-%05d", i)
		}
		i -= inNS
		return fmt.Sprintf("team-%02d", i/1000), fmt.Sprintf("job-%05d", i%1000)
	}
	for i := inNS; i < total; i += 1000 {
		team, _ := spread(i)
		if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: team}}); err != nil {
			return err
		}
	}
	var done atomic.Int64
	start := time.Now()
	return forEach(total, 32, func(i int) error {
		jobNS, name := spread(i)
		if err := cl.Create(ctx, suspendedJob(jobNS, name)); err != nil {
			return fmt.Errorf("creating %s/%s: %w", jobNS, name, err)
		}
		if n := done.Add(1); n%10000 == 0 {
			fmt.Fprintf(os.Stderr, "bench: %d of %d MPIJobs created (%.0f/s)\n", n, total, float64(n)/time.Since(start).Seconds())
		}
		return nil
	})
}

func suspendedJob(ns, name string) *kubeflow.MPIJob {
	container := corev1.Container{Name: "mpi", Image: "example.invalid/mpi:1"}
	container.Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
	return &kubeflow.MPIJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: kubeflow.MPIJobSpec{
			RunPolicy: kubeflow.RunPolicy{Suspend: ptr.To(true)},
			MPIReplicaSpecs: map[kubeflow.MPIReplicaType]*kubeflow.ReplicaSpec{
				kubeflow.MPIReplicaTypeLauncher: {Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "mpi", Image: "example.invalid/mpi:1"}}}}},
				kubeflow.MPIReplicaTypeWorker:   {Replicas: ptr.To[int32](4), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{container}}}},
			},
		},
	}
}

// apiLatency GETs url n times with token and returns the latencies in ms
// and the body's size; every answer must be 200.
func apiLatency(ctx context.Context, url, token string, n int) ([]float64, int, error) {
	var lat []float64
	size := 0
	for range n {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, 0, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, 0, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		elapsed := time.Since(start)
		if err != nil {
			return nil, 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, 0, fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, body)
		}
		lat = append(lat, float64(elapsed.Microseconds())/1000)
		size = len(body)
	}
	return lat, size, nil
}
