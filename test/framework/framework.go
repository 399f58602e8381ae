package framework

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// startTimeout bounds a control plane's start once its binaries are built.
const startTimeout = 5 * time.Minute

// Env is a running control plane and clients for it.
type Env struct {
	Config    *rest.Config
	Client    client.Client
	Clientset kubernetes.Interface
	// Kubeconfig is a file for the admin identity (e2e clusters only).
	Kubeconfig string
	// Cluster is the dev cluster (e2e only); nil for envtest control planes.
	Cluster *cluster.Cluster
	// Kubectl is the kubectl built with the control plane.
	Kubectl string
	// AuditLog records the requests of ServiceAccounts (e2e clusters only).
	AuditLog string
	// productUsers are the identities the product was started as.
	productUsers *productUsers
	// restarts remembers when the API server was restarted on purpose.
	restarts *restarts
	// metricsReader scrapes the managers' /metrics.
	metricsReader metricsReader
}

// Scheme knows the built-in types and CRDs; suites add their own types.
var Scheme = runtime.NewScheme()

func init() {
	// Warnings from the apiserver (pruned fields, deprecations) go to the
	// test's output, where a failing test shows them.
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	if err := clientgoscheme.AddToScheme(Scheme); err != nil {
		panic(err)
	}
	if err := apiextensionsv1.AddToScheme(Scheme); err != nil {
		panic(err)
	}
}

// ClusterOptions configure an e2e cluster.
type ClusterOptions struct {
	GPUNodes, CPUNodes int  // default 4 and 2
	WithoutKueue       bool // skip Kueue
	// ProcessNodes are nodes whose pods really run (the dev cluster's
	// process runtime; see Env.CreateRealNamespace). Default none.
	ProcessNodes int
	// CRDDirs are installed before Kueue starts (paths relative to the
	// repository root).
	CRDDirs []string
	// APIServerArgs are extra kube-apiserver flags.
	APIServerArgs []string
	// Setup runs once the cluster is ready (e.g. to start a controller in
	// the test process); the function it returns runs before the cluster
	// stops.
	Setup func(env *Env) (teardown func(), err error)
}

// paths finds the repository and the shared binary cache.
func paths() (repo, cache string, err error) {
	repo, err = cluster.FindRepoRoot()
	if err != nil {
		return "", "", err
	}
	return repo, cluster.DefaultCacheDir(repo), nil
}

// RunWithCluster is a TestMain body: it starts a dev cluster for the test
// package, publishes it through *env, runs the tests and stops the cluster.
//
//	var env *framework.Env
//	func TestMain(m *testing.M) { os.Exit(framework.RunWithCluster(m, framework.ClusterOptions{}, &env)) }
func RunWithCluster(m *testing.M, opts ClusterOptions, env **Env) int {
	repo, cache, err := paths()
	if err != nil {
		fmt.Fprintln(os.Stderr, "framework:", err)
		return 1
	}
	if opts.GPUNodes == 0 && opts.CPUNodes == 0 {
		opts.GPUNodes, opts.CPUNodes = cluster.DefaultGPUNodes, cluster.DefaultCPUNodes
	}
	if err := os.MkdirAll(filepath.Join(cache, "e2e"), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "framework:", err)
		return 1
	}
	dir, err := os.MkdirTemp(filepath.Join(cache, "e2e"), "cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "framework:", err)
		return 1
	}
	var crdDirs []string
	for _, d := range opts.CRDDirs {
		crdDirs = append(crdDirs, filepath.Join(repo, d))
	}
	// The cluster owns dir (it starts from an empty one): the audit policy
	// and log live beside it.
	auditDir := dir + "-audit"
	if err := os.MkdirAll(auditDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "framework:", err)
		return 1
	}
	audit, auditLog, err := auditArgs(auditDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "framework:", err)
		return 1
	}
	// MPIJOB_KUBE=oldest runs the package on the oldest Kubernetes the
	// product supports (make test runs a core subset of packages so).
	kube, err := cluster.KubeFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "framework:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout()+startTimeout)
	c, err := cluster.Start(ctx, cluster.Options{
		Dir: dir, RepoRoot: repo, CacheDir: cache, Kube: kube,
		GPUNodes: opts.GPUNodes, CPUNodes: opts.CPUNodes, ProcessNodes: opts.ProcessNodes, WithoutKueue: opts.WithoutKueue,
		CRDDirs: crdDirs, APIServerArgs: append(audit, opts.APIServerArgs...), Progress: os.Stderr,
	})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "framework: starting the dev cluster:", err)
		return 1
	}
	code := 1
	defer func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "framework: stopping the dev cluster:", err)
			code = 1
		}
		if code == 0 {
			_ = os.RemoveAll(dir)
			_ = os.RemoveAll(auditDir)
		} else {
			fmt.Fprintf(os.Stderr, "framework: tests failed; component logs kept in %s\n", filepath.Join(dir, "logs"))
		}
	}()
	*env, err = newEnv(c.Config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "framework:", err)
		return 1
	}
	if err := checkServerVersion((*env).Clientset, c.Binaries.KubeVersion); err != nil {
		fmt.Fprintln(os.Stderr, "framework:", err)
		return 1
	}
	(*env).Cluster, (*env).Kubeconfig, (*env).Kubectl, (*env).AuditLog = c, c.Kubeconfig, c.Binaries.Kubectl, auditLog
	var teardown func()
	if opts.Setup != nil {
		if teardown, err = opts.Setup(*env); err != nil {
			fmt.Fprintln(os.Stderr, "framework: setup:", err)
			return 1
		}
	}
	code = m.Run()
	if teardown != nil {
		teardown()
	}
	removeManagerBinary()
	// The product runs as its own ServiceAccounts: any request the
	// apiserver refused them is a permission the chart and the bundle do
	// not ship, whether or not a test noticed.
	denied, err := forbiddenRequests(auditLog, (*env).productUsers.list(), (*env).restarts.authorizerWarming)
	if err != nil {
		fmt.Fprintln(os.Stderr, "framework: reading the audit log:", err)
		code = 1
	}
	for _, d := range denied {
		fmt.Fprintln(os.Stderr, "framework: the apiserver refused the product (403):", d)
		code = 1
	}
	if err := recordExercised(cache, auditLog, (*env).productUsers.list()); err != nil {
		fmt.Fprintln(os.Stderr, "framework: recording what the product did:", err)
		code = 1
	}
	return code
}

// checkServerVersion makes sure the suite runs on the Kubernetes it asked
// for: a test that believes it ran on the oldest supported version but did
// not would prove nothing.
func checkServerVersion(cs kubernetes.Interface, want string) error {
	got, err := cs.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("reading the API server's version: %w", err)
	}
	if got.GitVersion != want {
		return fmt.Errorf("the API server is %s, want %s", got.GitVersion, want)
	}
	fmt.Fprintf(os.Stderr, "framework: dev cluster runs Kubernetes %s\n", got.GitVersion)
	return nil
}

// StartControlPlane starts etcd and kube-apiserver through envtest with the
// given CRDs (paths relative to the repository root) and registers their
// teardown with t. For suites that share one control plane, call it from
// TestMain through RunWithControlPlane instead.
func StartControlPlane(t testing.TB, crdDirs ...string) *Env {
	t.Helper()
	env, stop, err := startControlPlane(crdDirs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	return env
}

// RunWithControlPlane is a TestMain body for integration suites: one envtest
// control plane for the package.
func RunWithControlPlane(m *testing.M, env **Env, crdDirs ...string) int {
	e, stop, err := startControlPlane(crdDirs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "framework:", err)
		return 1
	}
	*env = e
	code := m.Run()
	if err := stop(); err != nil {
		fmt.Fprintln(os.Stderr, "framework: stopping the control plane:", err)
		return 1
	}
	return code
}

func startControlPlane(crdDirs []string) (*Env, func() error, error) {
	repo, cache, err := paths()
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout())
	defer cancel()
	bins, err := cluster.EnsureBinaries(ctx, cluster.BuildOptions{RepoRoot: repo, CacheDir: cache, Progress: os.Stderr})
	if err != nil {
		return nil, nil, err
	}
	te := &envtest.Environment{
		BinaryAssetsDirectory: bins.Assets,
		ErrorIfCRDPathMissing: true,
		Scheme:                Scheme,
	}
	for _, d := range crdDirs {
		te.CRDDirectoryPaths = append(te.CRDDirectoryPaths, filepath.Join(repo, d))
	}
	cfg, err := te.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("starting envtest with binaries from %s: %w", bins.Assets, err)
	}
	env, err := newEnv(cfg)
	if err != nil {
		_ = te.Stop()
		return nil, nil, err
	}
	env.Kubectl = bins.Kubectl
	return env, te.Stop, nil
}

func newEnv(cfg *rest.Config) (*Env, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 200, 400
	c, err := client.New(cfg, client.Options{Scheme: Scheme})
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Env{Config: cfg, Client: c, Clientset: cs, productUsers: &productUsers{}, restarts: &restarts{}}, nil
}

// buildTimeout leaves room for a cold build of the control plane (~20 min on
// two cores) when a test is the first to need it.
func buildTimeout() time.Duration { return 40 * time.Minute }
