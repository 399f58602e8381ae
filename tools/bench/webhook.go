package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// webhookOptions configure the admission benchmark.
type webhookOptions struct {
	Rate     int           // requests per second, open loop
	Duration time.Duration // per measurement
}

// latencies are one measurement's request latencies, in milliseconds.
type latencies struct {
	values []float64
	errors int
	warm   int   // calls of the warm-up, not measured
	first  error // the first failure, to say what went wrong
}

// p is the q-quantile (0.5, 0.99) in milliseconds.
func (l *latencies) p(q float64) float64 { return percentile(l.values, q*100) }

// benchWebhooks measures the MPIJob admission webhooks on a fresh dev
// cluster with Kueue: the webhooks alone (AdmissionReviews posted over TLS
// at a fixed rate, as the API server sends them) and a server-side dry-run
// create through the API server without and with the webhooks registered.
func benchWebhooks(ctx context.Context, o webhookOptions) error {
	w, err := newWorkspace("webhook")
	if err != nil {
		return err
	}
	defer w.done()
	repo, dir := w.repo, w.dir
	fmt.Printf("bench: admission webhooks at %d requests/s for %s per measurement (fresh cluster with Kueue)...\n", o.Rate, o.Duration)

	c, err := w.kueueCluster(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Stop() }()
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), kubeflow.AddToScheme(scheme), kueue.AddToScheme(scheme)); err != nil {
		return err
	}
	cfg := *c.Config
	cfg.QPS, cfg.Burst = 10000, 10000
	cl, err := client.New(&cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	if err := webhookFixtures(ctx, cl); err != nil {
		return err
	}

	calls := map[*latencies]string{}
	// apiDrive drives dry-run creates of job(i) and notes the webhook calls
	// the API server made per create (warm-up included in both counts).
	apiDrive := func(job func(int) *kubeflow.MPIJob) *latencies {
		before, err := webhookCalls(ctx, c.Config)
		l := drive(ctx, o, func(ctx context.Context, i int) error {
			return cl.Create(ctx, job(i), client.DryRunAll)
		})
		after, errAfter := webhookCalls(ctx, c.Config)
		if err = errors.Join(err, errAfter); err != nil {
			calls[l] = "unknown (" + err.Error() + ")"
		} else {
			calls[l] = callsPerRequest(before, after, len(l.values)+l.errors+l.warm)
		}
		return l
	}
	withoutAPI := apiDrive(webhookBenchJob)
	// The floor: two webhooks that do nothing, then the same with the
	// mutating one setting a label.
	stopNoop, err := noopWebhooks(ctx, cl, false)
	if err != nil {
		return err
	}
	noopAPI := apiDrive(webhookBenchJob)
	stopNoop()
	if stopNoop, err = noopWebhooks(ctx, cl, true); err != nil {
		return err
	}
	patchingAPI := apiDrive(webhookBenchJob)
	stopNoop()

	// Start the manager with its webhooks, as the e2e tests do.
	ports, err := cluster.FreePorts(1)
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mpijob-system"}}); err != nil {
		return err
	}
	if err := cluster.InstallLocalWebhooks(ctx, c.Config, repo, "https://"+addr); err != nil {
		return err
	}
	bin, err := w.buildManager(ctx)
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(dir, "manager.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	mgr := exec.Command(bin, "--kubeconfig="+c.Kubeconfig, "--metrics-bind-address=0", "--health-probe-bind-address=0",
		"--webhook-bind-address="+addr, "--webhook-cert-dir="+filepath.Join(dir, "certs"),
		"--webhook-cert-secret=mpijob-system/mpijob-webhook-cert", "--webhook-cert-names=127.0.0.1")
	mgr.Stdout, mgr.Stderr = logFile, logFile
	mgr.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := mgr.Start(); err != nil {
		return err
	}
	defer func() { _ = mgr.Process.Kill(); _ = mgr.Wait() }()
	if err := waitWebhooksServing(ctx, cl); err != nil {
		return fmt.Errorf("%w; see %s", err, logFile.Name())
	}

	withAPI := apiDrive(webhookBenchJob)
	defaultQueue := apiDrive(unqueuedBenchJob)
	direct, err := directClient(ctx, cl)
	if err != nil {
		return err
	}
	validate := drive(ctx, o, func(ctx context.Context, i int) error {
		return direct.review(ctx, "https://"+addr+"/validate-kubeflow-org-v2beta1-mpijob", webhookBenchJob(i))
	})
	mutate := drive(ctx, o, func(ctx context.Context, i int) error {
		return direct.review(ctx, "https://"+addr+"/mutate-kubeflow-org-v2beta1-mpijob", webhookBenchJob(i))
	})

	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "admission (ms)\tp50\tp99\trequests\terrors\t")
	for _, r := range []struct {
		name string
		l    *latencies
	}{
		{"validating webhook alone", validate},
		{"mutating webhook alone", mutate},
		{"API dry-run create, no webhooks", withoutAPI},
		{"API dry-run create, two no-op webhooks (the floor)", noopAPI},
		{"API dry-run create, two no-op webhooks, one setting a label", patchingAPI},
		{"API dry-run create, with webhooks", withAPI},
		{"API dry-run create, with webhooks, queue from the namespace's default", defaultQueue},
	} {
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%d\t%d\t\n", r.name, r.l.p(0.5), r.l.p(0.99), len(r.l.values), r.l.errors)
	}
	_ = tw.Flush()
	for _, r := range []struct {
		name string
		l    *latencies
	}{{"no webhooks", withoutAPI}, {"two no-op webhooks", noopAPI}, {"two no-op webhooks, one setting a label", patchingAPI}, {"with webhooks", withAPI}, {"with webhooks, default queue", defaultQueue}} {
		fmt.Printf("webhook calls per create, %s: %s\n", r.name, calls[r.l])
	}
	if withoutAPI.p(0.5) > 0 && withoutAPI.p(0.99) > 0 {
		fmt.Printf("webhooks' cost on an API create: p50 %.2fx, p99 %.2fx (with/without); any two webhooks' (no-op): p50 %.2fx, p99 %.2fx; ours/no-op: p50 %.2fx, p99 %.2fx\n",
			withAPI.p(0.5)/withoutAPI.p(0.5), withAPI.p(0.99)/withoutAPI.p(0.99),
			noopAPI.p(0.5)/withoutAPI.p(0.5), noopAPI.p(0.99)/withoutAPI.p(0.99),
			withAPI.p(0.5)/noopAPI.p(0.5), withAPI.p(0.99)/noopAPI.p(0.99))
	}
	for _, l := range []*latencies{validate, mutate, withAPI, withoutAPI, noopAPI, patchingAPI, defaultQueue} {
		if l.first != nil {
			return fmt.Errorf("%d admission requests failed, the first with: %w", l.errors, l.first)
		}
	}
	return nil
}

const webhookBenchNamespace = "bench"

// webhookFixtures give the webhooks real work: a namespace with a default
// queue, a ClusterQueue and a ResourceQuota to pre-check against.
func webhookFixtures(ctx context.Context, cl client.Client) error {
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: webhookBenchNamespace, Labels: map[string]string{"mpijob.io/default-queue": "gpus"}}},
		&kueue.ResourceFlavor{ObjectMeta: metav1.ObjectMeta{Name: "gpu"}},
		gpuClusterQueue("bench", "512", "4Ti", 64),
		&kueue.LocalQueue{ObjectMeta: metav1.ObjectMeta{Namespace: webhookBenchNamespace, Name: "gpus"}, Spec: kueue.LocalQueueSpec{ClusterQueue: "bench"}},
		&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: webhookBenchNamespace, Name: "compute"}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			"requests.nvidia.com/gpu": resource.MustParse("64"), corev1.ResourcePods: resource.MustParse("1000"),
		}}},
	}
	for _, o := range objs {
		if err := cl.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}

// webhookBenchJob is an 8-worker GPU job like those of the controller
// benchmark that names its Kueue queue, so that Kueue's webhooks do the
// same work whether ours are registered or not.
func webhookBenchJob(i int) *kubeflow.MPIJob {
	job := unqueuedBenchJob(i)
	job.Labels = map[string]string{"kueue.x-k8s.io/queue-name": "gpus"}
	return job
}

// unqueuedBenchJob names no queue: our mutating webhook gives it the
// namespace's default queue (and Kueue then handles a queued job).
func unqueuedBenchJob(i int) *kubeflow.MPIJob {
	job := benchJob(fmt.Sprintf("admit-%05d", i), options{Workers: 8, FinishAfter: time.Second})
	job.Namespace = webhookBenchNamespace
	return job
}

// waitWebhooksServing waits until the API server's dry-run creates go
// through the webhooks (the configurations carry the CA and the server
// answers): the mutating webhook adds the namespace's default queue.
func waitWebhooksServing(ctx context.Context, cl client.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var last error
	for {
		job := unqueuedBenchJob(0)
		last = cl.Create(ctx, job, client.DryRunAll)
		if last == nil && job.Labels["kueue.x-k8s.io/queue-name"] == "gpus" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("webhooks not serving after 2 minutes (last error: %w)", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// drive runs f at o.Rate per second for o.Duration, each call in its own
// goroutine (open loop: a slow answer does not slow the senders), and
// records every call's latency, after a warm-up of a fifth of that whose
// calls are not counted (caches filling, connections opening).
func drive(ctx context.Context, o webhookOptions, f func(ctx context.Context, i int) error) *latencies {
	warm := o
	warm.Duration = o.Duration / 5
	w := openLoop(ctx, warm, f)
	l := openLoop(ctx, o, f)
	l.warm = len(w.values) + w.errors
	return l
}

func openLoop(ctx context.Context, o webhookOptions, f func(ctx context.Context, i int) error) *latencies {
	var mu sync.Mutex
	var wg sync.WaitGroup
	res := &latencies{}
	tick := time.NewTicker(time.Second / time.Duration(o.Rate))
	defer tick.Stop()
	end := time.Now().Add(o.Duration)
	for i := 1; time.Now().Before(end); i++ {
		select {
		case <-ctx.Done():
			return res
		case <-tick.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			err := f(ctx, i)
			ms := float64(time.Since(start).Microseconds()) / 1000
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if res.errors == 0 {
					res.first = err
				}
				res.errors++
				return
			}
			res.values = append(res.values, ms)
		}()
	}
	wg.Wait()
	return res
}

// reviewer posts AdmissionReviews to the webhook server the way the API
// server does: TLS trusting the CA from the configurations' caBundle.
type reviewer struct{ http *http.Client }

func directClient(ctx context.Context, cl client.Client) (*reviewer, error) {
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := cl.Get(ctx, client.ObjectKey{Name: cluster.ValidatingWebhookConfiguration}, v); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if len(v.Webhooks) == 0 || !pool.AppendCertsFromPEM(v.Webhooks[0].ClientConfig.CABundle) {
		return nil, errors.New("the validating webhook configuration has no CA bundle")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 256}
	return &reviewer{http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}, nil
}

func (r *reviewer) review(ctx context.Context, url string, job *kubeflow.MPIJob) error {
	job.TypeMeta = metav1.TypeMeta{APIVersion: kubeflow.SchemeGroupVersion.String(), Kind: "MPIJob"}
	raw, err := json.Marshal(job)
	if err != nil {
		return err
	}
	gvk := kubeflow.SchemeGroupVersionKind
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID(job.Name),
			Kind:      metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
			Resource:  metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: "mpijobs"},
			Namespace: job.Namespace, Name: job.Name, Operation: admissionv1.Create,
			Object: runtime.RawExtension{Raw: raw},
			// As the API server sends it: the creator is always named.
			UserInfo: authenticationv1.UserInfo{Username: "bench-admin", Groups: []string{"system:masters", "system:authenticated"}},
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out := admissionv1.AdmissionReview{}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return err
	}
	if out.Response == nil || !out.Response.Allowed {
		return fmt.Errorf("webhook refused the bench job: %+v", out.Response)
	}
	return nil
}
