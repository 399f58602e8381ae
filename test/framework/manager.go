package framework

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// Manager is the platform's manager binary running against an e2e cluster.
type Manager struct {
	// MetricsURL is https (the manager's default, --metrics-secure): read
	// it with Metrics, Scrape or APIWrites, which bring a token the
	// shipped metrics-reader ClusterRole authorizes.
	MetricsURL string
	Log        string
	// Name is the replica's pod name (POD_NAME), when it has one.
	Name     string
	readyURL string
	argv     []string
	env      []string
	cluster  *Env
	cmd      *exec.Cmd
	done     chan struct{}
}

// StartManager builds ./operator/cmd/manager and runs it against env with
// the given extra flags, waiting until it reports healthy. Its log goes to
// the cluster's log folder.
//
// The manager runs as the product runs: as the ServiceAccount of its
// --role (default mpijob-controller) in its --namespace (default
// ProductNamespace), with the RBAC the product ships for that role
// (InstallIdentity) and a TokenRequest token. A caller that passes
// --kubeconfig brings its own identity (TokenKubeconfig, when the chart or
// the platform created the ServiceAccount); the cluster-admin kubeconfig is
// refused, and so is --role=all, which no installed product runs.
func StartManager(env *Env, args ...string) (*Manager, error) {
	return StartManagerReplica(env, "", args...)
}

// StartManagerReplica is StartManager for one replica of several: the
// process gets POD_NAME=name, as a pod of the Deployment would, which
// names it in its leader Lease and in its API user agent (so the audit
// log tells replicas apart).
func StartManagerReplica(env *Env, name string, args ...string) (*Manager, error) {
	bin, err := managerBinary()
	if err != nil {
		return nil, err
	}
	return StartManagerBinary(env, bin, name, args...)
}

// StartManagerBinary is StartManagerReplica with a manager binary built
// elsewhere (an earlier release: BuildRelease).
func StartManagerBinary(env *Env, bin, name string, args ...string) (*Manager, error) {
	kubeconfig, err := env.managerKubeconfig(args)
	if err != nil {
		return nil, err
	}
	ports, err := cluster.FreePorts(2)
	if err != nil {
		return nil, err
	}
	base := []string{bin}
	if kubeconfig != "" {
		base = append(base, "--kubeconfig="+kubeconfig)
	}
	m := &Manager{
		MetricsURL: fmt.Sprintf("https://127.0.0.1:%d/metrics", ports[0]),
		cluster:    env,
		Log:        filepath.Join(env.Cluster.Dir, "logs", managerLogName(args)),
		Name:       name,
		readyURL:   fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[1]),
		argv: append(append(base,
			"--metrics-bind-address=127.0.0.1:"+strconv.Itoa(ports[0]),
			"--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(ports[1]),
		), args...),
	}
	if name != "" {
		m.env = []string{"POD_NAME=" + name}
	}
	if err := m.start(); err != nil {
		return nil, err
	}
	return m, nil
}

var managerBuild struct {
	once sync.Once
	bin  string
	err  error
}

// removeManagerBinary deletes the binary managerBinary built (54 MB a
// test package; left in the temp folder they once filled a disk).
func removeManagerBinary() {
	if managerBuild.bin != "" {
		_ = os.RemoveAll(filepath.Dir(managerBuild.bin))
	}
}

// managerBinary builds the manager once per test process.
func managerBinary() (string, error) {
	managerBuild.once.Do(func() {
		repo, _, err := paths()
		if err != nil {
			managerBuild.err = err
			return
		}
		binDir, err := os.MkdirTemp("", "manager-")
		if err != nil {
			managerBuild.err = err
			return
		}
		bin := filepath.Join(binDir, "manager")
		build := exec.Command("go", "build", "-o", bin, "./operator/cmd/manager")
		build.Dir = repo
		if out, err := build.CombinedOutput(); err != nil {
			managerBuild.err = fmt.Errorf("building the manager: %w: %s", err, out)
			return
		}
		managerBuild.bin = bin
	})
	return managerBuild.bin, managerBuild.err
}

// start runs the process (its log appended to m.Log) and waits until
// /readyz answers 200.
func (m *Manager) start() error {
	logFile, err := os.OpenFile(m.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(m.argv[0], m.argv[1:]...)
	cmd.Env = append(os.Environ(), m.env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	done := make(chan struct{})
	m.cmd, m.done = cmd, done
	go func() { _ = cmd.Wait(); logFile.Close(); close(done) }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		resp, err := http.Get(m.readyURL) //nolint:gosec // a loopback URL of a manager we started
		if err == nil {
			resp.Body.Close()
			// Ready, and /metrics listening: it starts beside the probes,
			// not before them (its certificate is made at start).
			if resp.StatusCode == http.StatusOK && m.metricsListening() {
				return nil
			}
		}
		select {
		case <-done:
			data, _ := os.ReadFile(m.Log)
			return fmt.Errorf("manager exited during start:\n%s", tail(string(data), 40))
		case <-ctx.Done():
			m.Stop()
			return fmt.Errorf("manager not ready after a minute; see %s", m.Log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// metricsListening says whether the manager's metrics port accepts
// connections.
func (m *Manager) metricsListening() bool {
	u, err := url.Parse(m.MetricsURL)
	if err != nil {
		return false
	}
	c, err := net.DialTimeout("tcp", u.Host, time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// Kill ends the process with SIGKILL, as a crash or an OOM kill would, and
// waits until it is gone.
func (m *Manager) Kill() {
	_ = m.cmd.Process.Signal(syscall.SIGCONT) // a frozen process dies too
	_ = m.cmd.Process.Kill()
	<-m.done
}

// Freeze stops the process (SIGSTOP) without its knowledge: a stalled
// node, a long pause. Thaw lets it go on.
func (m *Manager) Freeze() error { return m.cmd.Process.Signal(syscall.SIGSTOP) }

// Thaw continues a frozen process (SIGCONT).
func (m *Manager) Thaw() error { return m.cmd.Process.Signal(syscall.SIGCONT) }

// Exited is closed when the process has ended.
func (m *Manager) Exited() <-chan struct{} { return m.done }

// Restart starts the process again, with the same flags, identity and
// ports, after it ended (Kill, or an exit of its own); it kills a process
// that still runs.
func (m *Manager) Restart() error {
	select {
	case <-m.done:
	default:
		m.Kill()
	}
	return m.start()
}

// Stop ends the manager (SIGTERM, then SIGKILL after 10 s).
func (m *Manager) Stop() {
	_ = m.cmd.Process.Signal(syscall.SIGCONT)
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}

// WebhookNamespace holds the self-managed webhook certificate Secret of
// managers started by StartManagerWithWebhooks.
const WebhookNamespace = "mpijob-system"

// StartManagerWithWebhooks is StartManager with the admission webhooks
// on: it registers the platform's webhook configurations pointed at a
// free port on 127.0.0.1, and the manager serves them with a self-managed
// certificate (Secret mpijob-system/mpijob-webhook-cert) whose CA it puts
// into the configurations' caBundle. Every MPIJob created afterwards goes
// through the webhooks over TLS.
func StartManagerWithWebhooks(env *Env, args ...string) (*Manager, error) {
	ports, err := cluster.FreePorts(1)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	if err := env.installWebhooksAt("https://" + addr); err != nil {
		return nil, err
	}
	certDir, err := os.MkdirTemp(env.Cluster.Dir, "webhook-certs-")
	if err != nil {
		return nil, err
	}
	return StartManager(env, append([]string{
		"--webhook-bind-address=" + addr,
		"--webhook-cert-dir=" + certDir,
		"--webhook-cert-secret=" + WebhookNamespace + "/mpijob-webhook-cert",
		"--webhook-cert-names=127.0.0.1",
	}, args...)...)
}

// installWebhooksAt registers the platform's webhook configurations with
// url as their endpoint, and makes the namespace of the self-managed
// certificate's Secret.
func (e *Env) installWebhooksAt(url string) error {
	repo, _, err := paths()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: WebhookNamespace}}
	if err := e.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return cluster.InstallLocalWebhooks(ctx, e.Config, repo, url)
}

// APIWrites sums the POST, PUT, PATCH and DELETE requests a manager
// serving plain-HTTP metrics (--metrics-secure=false) made, from
// client-go's rest_client_requests_total on its /metrics.
func APIWrites(metricsURL string) (int, error) {
	body, err := scrape(context.Background(), metricsURL, "")
	if err != nil {
		return 0, err
	}
	return apiWrites(body)
}

// APIWrites is the package function for a manager the framework started.
func (m *Manager) APIWrites() (int, error) {
	body, err := m.Scrape(context.Background())
	if err != nil {
		return 0, err
	}
	return apiWrites(body)
}

func apiWrites(body string) (int, error) {
	series, err := parseMetrics(body)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		for k, v := range series {
			if strings.HasPrefix(k, "rest_client_requests_total{") && strings.Contains(k, `method="`+method+`"`) {
				total += int(v)
			}
		}
	}
	return total, nil
}

// Metrics reads the manager's /metrics: each series as printed (name and
// labels) with its value; it fails the test when they cannot be read.
func (m *Manager) Metrics(t testing.TB) map[string]float64 {
	t.Helper()
	body, err := m.Scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	series, err := parseMetrics(body)
	if err != nil {
		t.Fatal(err)
	}
	return series
}

// SumSeries adds up the series whose printed form starts with prefix, e.g.
// `mpijob_jobs{namespace="team"`.
func SumSeries(series map[string]float64, prefix string) float64 {
	var sum float64
	for k, v := range series {
		if strings.HasPrefix(k, prefix) {
			sum += v
		}
	}
	return sum
}

// Scrape reads the manager's /metrics as Prometheus would: over HTTPS,
// with the token of a ServiceAccount bound to the shipped
// mpijob-platform-metrics-reader ClusterRole. A manager of an earlier
// release, which served plain HTTP, is read over HTTP.
func (m *Manager) Scrape(ctx context.Context) (string, error) {
	token, err := m.cluster.MetricsReaderToken(ctx)
	if err != nil {
		return "", err
	}
	body, err := scrape(ctx, m.MetricsURL, token)
	if err != nil && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		m.MetricsURL = "http" + strings.TrimPrefix(m.MetricsURL, "https")
		return scrape(ctx, m.MetricsURL, "")
	}
	return body, err
}

// ScrapeStatus is the HTTP status a scrape of url with token (none when
// empty) gets, for tests of who may read /metrics.
func ScrapeStatus(ctx context.Context, url, token string) (int, error) {
	resp, err := metricsRequest(ctx, url, token)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func metricsRequest(ctx context.Context, url, token string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// The managers make their serving certificate at start; what is
	// tested here is who may read, not the certificate.
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // loopback, self-signed
	return c.Do(req)
}

func scrape(ctx context.Context, url, token string) (string, error) {
	resp, err := metricsRequest(ctx, url, token)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return string(body), nil
}

// parseMetrics reads Prometheus' text format: series -> value.
func parseMetrics(body string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		out[line[:i]] = v
	}
	return out, nil
}

// ManagerWithWebhooks is a ClusterOptions.Setup that starts our manager
// with its admission webhooks (StartManagerWithWebhooks, with args) and
// publishes it through *m; it stops with the cluster.
func ManagerWithWebhooks(m **Manager, args ...string) func(*Env) (func(), error) {
	return func(e *Env) (func(), error) {
		started, err := StartManagerWithWebhooks(e, args...)
		if err != nil {
			return nil, err
		}
		*m = started
		return started.Stop, nil
	}
}

// flagValue is the value of --name in args (the last one wins, as with
// the flag package), or fallback.
func flagValue(args []string, name, fallback string) string {
	v := fallback
	for _, a := range args {
		if rest, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			v = rest
		}
	}
	return v
}

// managerLogName is manager-<role>.log, numbered when the role already
// has a log in this cluster (a restarted or second manager).
func managerLogName(args []string) string {
	return "manager-" + flagValue(args, "role", RoleController) + "-" + strconv.Itoa(int(managerCount.Add(1))) + ".log"
}

var managerCount atomic.Int32

// ProductKubeconfig is the kubeconfig for a manager started with args
// outside StartManager: a token of the ServiceAccount of its --role, with
// the RBAC the product ships for it.
func (e *Env) ProductKubeconfig(args ...string) (string, error) {
	if flagValue(args, "kubeconfig", "") != "" {
		return "", fmt.Errorf("ProductKubeconfig: args already name a --kubeconfig")
	}
	return e.managerKubeconfig(args)
}

// managerKubeconfig is the kubeconfig a manager started with args runs
// with: the caller's --kubeconfig (never the cluster-admin one), or a
// token of the role's ServiceAccount, installed with the product's RBAC.
func (e *Env) managerKubeconfig(args []string) (string, error) {
	role := flagValue(args, "role", RoleController)
	if kc := flagValue(args, "kubeconfig", ""); kc != "" {
		if e.isAdminKubeconfig(kc) {
			return "", fmt.Errorf("refusing to run the manager (--role=%s) as cluster-admin: a suite that passes as cluster-admin proves the code, not the product; let StartManager pick the role's ServiceAccount, or pass env.TokenKubeconfig(...)", role)
		}
		return "", nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := flagValue(args, "namespace", ProductNamespace)
	sa, err := e.InstallIdentity(ctx, role, ns)
	if err != nil {
		return "", err
	}
	return e.TokenKubeconfig(ns, sa)
}
