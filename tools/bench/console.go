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
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mpijob-platform/mpijob-platform/config"
	"github.com/mpijob-platform/mpijob-platform/console/backend"
	"github.com/mpijob-platform/mpijob-platform/console/frontend"
	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// consoleOptions size the console benchmark.
type consoleOptions struct {
	Jobs, Runs int
}

// benchConsole measures the console on a fresh dev cluster holding
// o.Jobs suspended MPIJobs (no pods needed) in one namespace, as a member
// of that namespace (a ServiceAccount token with the edit role): the
// backend's list latency (GET .../trainingjobs, what the list page
// fetches, and GET .../mpijobs) and, in headless Chromium, the time from
// navigation to the list rendered (the first page of 20 rows, with the
// pagination showing the total).
func benchConsole(ctx context.Context, o consoleOptions) error {
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

	fmt.Printf("bench: console, %d suspended MPIJobs in one namespace (fresh cluster)...\n", o.Jobs)
	c, err := w.kueueCluster(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Stop() }()
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), kubeflow.AddToScheme(scheme)); err != nil {
		return err
	}
	cl, err := client.New(c.Config, client.Options{Scheme: scheme})
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
	start := time.Now()
	if err := createSuspendedJobs(ctx, cl, ns, o.Jobs); err != nil {
		return err
	}
	fmt.Printf("bench: created %d MPIJobs in %.1f s\n", o.Jobs, time.Since(start).Seconds())

	srv := httptest.NewServer(backend.New(backend.Options{
		Clients: backend.NewClientFactory(c.Config),
		Static:  frontend.Handler(frontend.Dir(filepath.Join(fe, "web", "dist"))),
		Version: "bench",
	}).Handler())
	defer srv.Close()

	for _, path := range []string{"/api/v1/namespaces/" + ns + "/trainingjobs", "/api/v1/namespaces/" + ns + "/mpijobs"} {
		lat, size, err := apiLatency(ctx, srv.URL+path, token, o.Jobs, 3*o.Runs)
		if err != nil {
			return err
		}
		fmt.Printf("console: GET %s (%d jobs, %d KiB): p50 %.0f ms, p99 %.0f ms over %d requests\n",
			path, o.Jobs, size/1024, percentile(lat, 50), percentile(lat, 99), len(lat))
	}

	cmd := exec.CommandContext(ctx, "node", filepath.Join(fe, "e2e", "bench.mjs"))
	cmd.Dir = fe
	cmd.Env = append(os.Environ(), "CONSOLE_URL="+srv.URL, "TOKEN="+token, "NAMESPACE="+ns,
		fmt.Sprintf("EXPECT=%d", o.Jobs), fmt.Sprintf("RUNS=%d", o.Runs), "CHROMIUM="+chromium)
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
	fmt.Printf("console: navigation to the list rendered in Chromium (first page of %d rows, pagination total %s): p50 %.0f ms, p99 %.0f ms over %d runs (target < 1000 ms)\n",
		res.Rows, strings.TrimSpace(res.Total), percentile(res.MS, 50), percentile(res.MS, 99), len(res.MS))
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
	tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "member", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	// Role aggregation is asynchronous: wait until the member may list MPIJobs.
	deadline := time.Now().Add(time.Minute)
	for {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "system:serviceaccount:" + ns + ":member", Groups: []string{"system:serviceaccounts", "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "list", Group: kubeflow.GroupName, Resource: "mpijobs"},
		}}
		got, err := kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err == nil && got.Status.Allowed {
			return tr.Status.Token, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("the bench member may not list MPIJobs after a minute: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func createSuspendedJobs(ctx context.Context, cl client.Client, ns string, n int) error {
	jobs := make(chan int)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := cl.Create(ctx, suspendedJob(ns, fmt.Sprintf("job-%04d", i))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
	for i := 0; i < n && err == nil; i++ {
		select {
		case jobs <- i:
		case err = <-errs:
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for e := range errs {
		err = errors.Join(err, e)
	}
	return err
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
// and the body's size; every answer must be 200 and hold want items.
func apiLatency(ctx context.Context, url, token string, want, n int) ([]float64, int, error) {
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
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(body, &list); err != nil || len(list.Items) != want {
			return nil, 0, fmt.Errorf("GET %s: %d items, want %d (%w)", url, len(list.Items), want, err)
		}
		lat = append(lat, float64(elapsed.Microseconds())/1000)
		size = len(body)
	}
	return lat, size, nil
}
