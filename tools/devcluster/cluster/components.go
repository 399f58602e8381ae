package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// runner starts the components in dependency order.
type runner struct {
	opts     Options
	bins     *Binaries
	c        *Cluster
	progress io.Writer
	pki      *pki
	ports    map[string]int
	logDir   string
	files    map[string]string // generated files by role
}

var portNames = []string{"etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok", "kueue-webhook", "kueue-health", "kueue-metrics", "process-runtime"}

func (r *runner) run(ctx context.Context) error {
	dir := r.opts.Dir
	r.logDir = filepath.Join(dir, "logs")
	if err := os.MkdirAll(r.logDir, 0o755); err != nil {
		return err
	}
	ports, err := FreePorts(len(portNames))
	if err != nil {
		return err
	}
	r.ports = map[string]int{}
	for i, n := range portNames {
		r.ports[n] = ports[i]
	}
	if err := r.writeCredentials(); err != nil {
		return fmt.Errorf("generating certificates: %w", err)
	}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"etcd", r.startEtcd},
		{"kube-apiserver", r.startAPIServer},
		{"controllers, scheduler and kwok", r.startControllers},
		{"nodes", r.createNodes},
		{"process runtime", r.startProcessRuntime},
		{"CRDs and Kueue", r.startKueue},
		{"readiness", r.waitReady},
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if err := r.c.saveState(); err != nil {
			return err
		}
		fmt.Fprintf(r.progress, "  %-32s %s\n", s.name, time.Since(start).Round(10*time.Millisecond))
	}
	return nil
}

func (r *runner) writeCredentials() error {
	p, err := newPKI(filepath.Join(r.opts.Dir, "pki"))
	if err != nil {
		return err
	}
	r.pki = p
	r.files = map[string]string{}
	loopback := []net.IP{net.ParseIP("127.0.0.1")}
	type ident struct {
		role, cn string
		orgs     []string
	}
	serving := map[string]certRequest{
		"apiserver": {cn: "kube-apiserver", ips: append(loopback, net.ParseIP("10.96.0.1")),
			dns: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}},
		"kueue-webhook": {cn: "kueue-webhook", ips: loopback, dns: []string{"localhost"}},
		// kwok serves the kubelet API (logs) for every node on one port.
		"kwok": {cn: "kwok-kubelet", ips: loopback, dns: []string{"localhost"}},
		// The process runtime serves the kubelet API of the process nodes.
		"process-runtime": {cn: "process-kubelet", ips: loopback, dns: []string{"localhost"}},
	}
	for name, req := range serving {
		req.name, req.server = name+"-serving", true
		crt, key, err := p.issue(req)
		if err != nil {
			return err
		}
		r.files[name+".crt"], r.files[name+".key"] = crt, key
	}
	server := "https://" + hostPort(r.ports["apiserver"])
	r.c.State.APIServer = server
	// Controllers get the identities that Kubernetes' bootstrap RBAC expects;
	// kwok and Kueue act for the whole cluster in this dev setup.
	for _, id := range []ident{
		{"admin", "devcluster-admin", []string{"system:masters"}},
		{"controller-manager", "system:kube-controller-manager", nil},
		{"scheduler", "system:kube-scheduler", nil},
		{"kwok", "kwok-controller", []string{"system:masters"}},
		{"kueue", "kueue-controller-manager", []string{"system:masters"}},
	} {
		crt, key, err := p.issue(certRequest{name: id.role + "-client", cn: id.cn, orgs: id.orgs, client: true})
		if err != nil {
			return err
		}
		kc := filepath.Join(r.opts.Dir, id.role+".kubeconfig")
		if id.role == "admin" {
			kc = filepath.Join(r.opts.Dir, "kubeconfig")
		}
		if err := writeKubeconfig(kc, server, p.CAPEM, crt, key, id.cn); err != nil {
			return err
		}
		r.files[id.role+".kubeconfig"] = kc
	}
	r.c.Kubeconfig = r.files["admin.kubeconfig"]
	r.c.State.Kubeconfig = r.c.Kubeconfig
	cfg, err := clientcmd.BuildConfigFromFlags("", r.c.Kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 200, 400
	r.c.Config = cfg
	r.files["sa.pub"], r.files["sa.key"], err = p.serviceAccountKeys()
	if err != nil {
		return err
	}
	// A static token for the admin, for clients that cannot use certificates
	// (browsers, curl); users of later suites are added through RBAC.
	tokens := filepath.Join(r.opts.Dir, "pki", "tokens.csv")
	if err := os.WriteFile(tokens, []byte(randomToken()+",devcluster-admin,devcluster-admin,system:masters\n"), 0o600); err != nil {
		return err
	}
	r.files["tokens"] = tokens
	return nil
}

func (r *runner) start(name, binary string, args ...string) (*ProcessState, error) {
	return r.startWrapped(name, binary, nil, args...)
}

// startWrapped starts binary, optionally behind a wrapper command line that
// ends by exec'ing it (see kueue.go), and records it in the state.
func (r *runner) startWrapped(name, binary string, wrapper []string, args ...string) (*ProcessState, error) {
	argv := append(append(append([]string{}, wrapper...), binary), args...)
	var ports []int
	for _, pn := range portNames {
		if strings.HasPrefix(pn, name) {
			ports = append(ports, r.ports[pn])
		}
	}
	st, err := startProcess(processSpec{name: name, path: binary, argv: argv, ports: ports}, r.logDir, r.opts.Detach)
	if err != nil {
		return nil, err
	}
	r.c.State.Processes = append(r.c.State.Processes, st)
	return st, nil
}

func (r *runner) startEtcd(ctx context.Context) error {
	client := "http://" + hostPort(r.ports["etcd"])
	peer := "http://" + hostPort(r.ports["etcd-peer"])
	p, err := r.start("etcd", r.bins.Etcd,
		"--name=devcluster",
		"--data-dir="+filepath.Join(r.opts.Dir, "etcd-data"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=devcluster="+peer,
		"--unsafe-no-fsync", // a throwaway test database: speed over durability
		"--quota-backend-bytes=8589934592",
		"--log-level=warn")
	if err != nil {
		return err
	}
	return waitHTTP(ctx, p, client+"/health", nil, 30*time.Second)
}

func (r *runner) startAPIServer(ctx context.Context) error {
	args := []string{
		"--etcd-servers=http://" + hostPort(r.ports["etcd"]),
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(r.ports["apiserver"]),
		// Loopback may not be advertised, and no endpoints reconciler is
		// needed for a single apiserver nobody reaches through a Service.
		"--endpoint-reconciler-type=none",
		"--tls-cert-file=" + r.files["apiserver.crt"],
		"--tls-private-key-file=" + r.files["apiserver.key"],
		"--client-ca-file=" + r.pki.CAFile,
		"--token-auth-file=" + r.files["tokens"],
		"--authorization-mode=Node,RBAC",
		// Refuse what OpenShift refuses: an owner reference with
		// blockOwnerDeletion needs update on the owner's finalizers, and
		// (on by default) Pod Security admission enforces namespace labels.
		// PodNodeSelector and PodTolerationRestriction let a namespace send
		// its pods to the process nodes (RealNamespaceAnnotations), as
		// OpenShift's project node selectors do.
		"--enable-admission-plugins=OwnerReferencesPermissionEnforcement,PodSecurity,PodNodeSelector,PodTolerationRestriction",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + r.files["sa.pub"],
		"--service-account-signing-key-file=" + r.files["sa.key"],
		"--service-cluster-ip-range=10.96.0.0/16",
		"--allow-privileged=true",
		// Nodes' host names do not resolve; their InternalIP is kwok's.
		"--kubelet-preferred-address-types=InternalIP",
		"--max-requests-inflight=1600",
		"--max-mutating-requests-inflight=800",
		"--shutdown-delay-duration=0s",
		"--shutdown-send-retry-after=false",
		"--profiling=false",
		"--v=0",
	}
	p, err := r.start("apiserver", r.bins.KubeAPIServer, append(args, r.opts.APIServerArgs...)...)
	if err != nil {
		return err
	}
	return waitHTTP(ctx, p, r.c.State.APIServer+"/readyz", r.adminTLS(), 60*time.Second)
}

func (r *runner) startControllers(ctx context.Context) error {
	kcm, err := r.start("controller-manager", r.bins.KubeControllerManager,
		"--kubeconfig="+r.files["controller-manager.kubeconfig"],
		"--authentication-kubeconfig="+r.files["controller-manager.kubeconfig"],
		"--authorization-kubeconfig="+r.files["controller-manager.kubeconfig"],
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(r.ports["controller-manager"]),
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+r.files["sa.key"],
		"--root-ca-file="+r.pki.CAFile,
		"--cluster-signing-cert-file="+r.pki.CAFile,
		"--cluster-signing-key-file="+r.pki.CAKey,
		"--kube-api-qps=200", "--kube-api-burst=400",
		"--concurrent-job-syncs=20",
		"--concurrent-gc-syncs=40",
		"--v=0")
	if err != nil {
		return err
	}
	schedConfig := filepath.Join(r.opts.Dir, "scheduler-config.yaml")
	if err := os.WriteFile(schedConfig, []byte(schedulerConfig(r.files["scheduler.kubeconfig"])), 0o644); err != nil {
		return err
	}
	sched, err := r.start("scheduler", r.bins.KubeScheduler,
		"--config="+schedConfig,
		"--authentication-kubeconfig="+r.files["scheduler.kubeconfig"],
		"--authorization-kubeconfig="+r.files["scheduler.kubeconfig"],
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(r.ports["scheduler"]),
		"--v=0")
	if err != nil {
		return err
	}
	containerLog := filepath.Join(r.opts.Dir, "kwok-container.log")
	if err := os.WriteFile(containerLog, []byte(containerLogCRI()), 0o644); err != nil {
		return err
	}
	kwokConfig := filepath.Join(r.opts.Dir, "kwok-stages.yaml")
	if err := os.WriteFile(kwokConfig, []byte(kwokStages+clusterLogs(containerLog)), 0o644); err != nil {
		return err
	}
	kwok, err := r.start("kwok", r.bins.Kwok,
		"--kubeconfig="+r.files["kwok.kubeconfig"],
		"--config="+kwokConfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector="+KwokNodeAnnotation+"=fake",
		"--server-address="+hostPort(r.ports["kwok"]),
		"--tls-cert-file="+r.files["kwok.crt"],
		"--tls-private-key-file="+r.files["kwok.key"],
		"--cidr=10.0.0.1/16",
		// Every node's kubelet endpoint is kwok's server, so the apiserver
		// reaches it for pod logs (ClusterLogs in the config).
		"--node-ip=127.0.0.1",
		"--node-port="+strconv.Itoa(r.ports["kwok"]),
		"--node-lease-duration-seconds=40")
	if err != nil {
		return err
	}
	insecure := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // local health endpoints with self-signed serving certs
	if err := waitHTTP(ctx, kcm, "https://"+hostPort(r.ports["controller-manager"])+"/healthz", insecure, 60*time.Second); err != nil {
		return err
	}
	if err := waitHTTP(ctx, sched, "https://"+hostPort(r.ports["scheduler"])+"/healthz", insecure, 60*time.Second); err != nil {
		return err
	}
	return waitHTTP(ctx, kwok, "https://"+hostPort(r.ports["kwok"])+"/healthz", insecure, 60*time.Second)
}

func schedulerConfig(kubeconfig string) string {
	return `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: ` + kubeconfig + `
  qps: 300
  burst: 600
leaderElection:
  leaderElect: false
`
}

func (r *runner) adminTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(r.pki.CAPEM)
	cert, err := tls.LoadX509KeyPair(filepath.Join(r.pki.dir, "admin-client.crt"), filepath.Join(r.pki.dir, "admin-client.key"))
	if err != nil {
		return &tls.Config{RootCAs: pool}
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}
}

// waitHTTP polls url until it answers 200, the process dies or timeout passes.
func waitHTTP(ctx context.Context, p *ProcessState, url string, tlsConfig *tls.Config, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	deadline := time.Now().Add(timeout)
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		if !p.Alive() {
			return fmt.Errorf("%s exited during start; last lines of %s:\n%s", p.Name, p.Log, p.logTail(20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy at %s after %s (%s); last lines of %s:\n%s", p.Name, url, timeout, last, p.Log, p.logTail(20))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
