package cluster

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// buildRecipe changes whenever the way binaries are built changes, so that
// cached binaries built by an older recipe are rebuilt.
const buildRecipe = "2"

// buildFlags are shared by every build (tools and tests) so that the Go build
// cache is reused: a cgo build would not share objects with a CGO_ENABLED=0 one.
var buildEnv = []string{"CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-trimpath -buildvcs=false"}

type binary struct {
	name string // file name in the cache
	pkg  string // Go package to build
}

// toolModule is one pinned wrapper module under tools/cluster.
type toolModule struct {
	name       string
	mainModule string // the module whose version keys the cache
	binaries   []binary
	ldflags    func(version string) string
	// extra copies non-Go assets (manifests) out of the module cache.
	extra func(ctx context.Context, moduleDir, out string) error
}

var toolModules = []toolModule{
	{
		name:       "etcd",
		mainModule: "go.etcd.io/etcd/server/v3",
		binaries:   []binary{{"etcd", "go.etcd.io/etcd/server/v3"}},
	},
	{
		name:       KubeCurrent,
		mainModule: "k8s.io/kubernetes",
		binaries:   append(controlPlane, binary{"kubectl", "k8s.io/kubernetes/cmd/kubectl"}),
		ldflags:    kubeLDFlags,
	},
	{
		name:       "kwok",
		mainModule: "sigs.k8s.io/kwok",
		binaries:   []binary{{"kwok", "sigs.k8s.io/kwok/cmd/kwok"}},
	},
	{
		name:       "kueue",
		mainModule: "sigs.k8s.io/kueue",
		binaries:   []binary{{"kueue", "sigs.k8s.io/kueue/cmd/kueue"}},
		extra:      copyKueueManifests,
	},
}

// The Kubernetes builds a cluster can run: the current one (tools/cluster/kube,
// every test) and the oldest minor the product claims to support
// (tools/cluster/kube-oldest, a core subset of the e2e suites; see
// docs/operations/install.md). The oldest build has no kubectl of its own:
// clusters of either version use the current kubectl.
const (
	KubeCurrent = "kube"
	KubeOldest  = "kube-oldest"
)

// KubeEnv selects the Kubernetes build for test clusters: "oldest" runs
// them on tools/cluster/kube-oldest, empty or "current" on the current one.
const KubeEnv = "MPIJOB_KUBE"

// KubeFromEnv reads KubeEnv; anything but the two names is an error, so a
// typo never silently tests the wrong version.
func KubeFromEnv() (string, error) {
	switch v := os.Getenv(KubeEnv); v {
	case "", "current":
		return KubeCurrent, nil
	case "oldest":
		return KubeOldest, nil
	default:
		return "", fmt.Errorf("%s=%q: want current or oldest", KubeEnv, v)
	}
}

var controlPlane = []binary{
	{"kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver"},
	{"kube-controller-manager", "k8s.io/kubernetes/cmd/kube-controller-manager"},
	{"kube-scheduler", "k8s.io/kubernetes/cmd/kube-scheduler"},
}

var oldestKube = toolModule{
	name:       KubeOldest,
	mainModule: "k8s.io/kubernetes",
	binaries:   controlPlane,
	ldflags:    kubeLDFlags,
}

// kubeLDFlags stamps the version the way Kubernetes' own build does, so that
// clients see v1.37.2 rather than v0.0.0 (and kubectl does not warn about skew).
func kubeLDFlags(version string) string {
	major, minor := "1", ""
	if parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3); len(parts) >= 2 {
		major, minor = parts[0], parts[1]
	}
	var b strings.Builder
	b.WriteString("-s -w")
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		fmt.Fprintf(&b, " -X %s.gitVersion=%s -X %s.gitMajor=%s -X %s.gitMinor=%s -X %s.gitTreeState=clean",
			pkg, version, pkg, major, pkg, minor, pkg)
	}
	return b.String()
}

// Binaries are the paths of the built control-plane binaries.
type Binaries struct {
	Etcd                  string
	KubeAPIServer         string
	KubeControllerManager string
	KubeScheduler         string
	Kubectl               string
	Kwok                  string
	Kueue                 string
	// KueueManifests holds Kueue's CRDs (crds/) and webhook manifests
	// (webhooks.yaml), copied from the module it was built from.
	KueueManifests string
	// Assets is a folder with etcd, kube-apiserver and kubectl, suitable for
	// controller-runtime envtest's KUBEBUILDER_ASSETS.
	Assets string
	// Versions maps each tool module to the version it was built at.
	Versions map[string]string
	// KubeVersion is the version of the control plane (kube-apiserver,
	// kube-controller-manager, kube-scheduler).
	KubeVersion string
}

// BuildOptions says where the sources and the cache are.
type BuildOptions struct {
	RepoRoot string    // holds tools/cluster/*
	CacheDir string    // binaries go to CacheDir/bin
	Progress io.Writer // long builds report here; nil is quiet
	// Kube is KubeCurrent (the default when empty) or KubeOldest.
	Kube string
}

// EnsureBinaries builds every control-plane binary that is not yet cached for
// its pinned version and returns their paths. Concurrent callers (parallel
// test packages) serialise on a lock file; the first builds, the others reuse.
func EnsureBinaries(ctx context.Context, opts BuildOptions) (*Binaries, error) {
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	binRoot := filepath.Join(opts.CacheDir, "bin")
	if err := os.MkdirAll(binRoot, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockFile(filepath.Join(binRoot, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	modules := toolModules
	switch opts.Kube {
	case "", KubeCurrent:
	case KubeOldest:
		modules = append(slices.Clone(toolModules), oldestKube)
	default:
		return nil, fmt.Errorf("unknown Kubernetes build %q: want %s or %s", opts.Kube, KubeCurrent, KubeOldest)
	}
	bins := &Binaries{Versions: map[string]string{}}
	dirs := map[string]string{}
	for _, m := range modules {
		dir, version, err := ensureModule(ctx, opts.RepoRoot, binRoot, m, progress)
		if err != nil {
			return nil, err
		}
		dirs[m.name] = dir
		bins.Versions[m.name] = version
	}
	controlPlaneDir := dirs[KubeCurrent]
	bins.KubeVersion = bins.Versions[KubeCurrent]
	if opts.Kube == KubeOldest {
		controlPlaneDir = dirs[KubeOldest]
		bins.KubeVersion = bins.Versions[KubeOldest]
	}
	bins.Etcd = filepath.Join(dirs["etcd"], "etcd")
	bins.KubeAPIServer = filepath.Join(controlPlaneDir, "kube-apiserver")
	bins.KubeControllerManager = filepath.Join(controlPlaneDir, "kube-controller-manager")
	bins.KubeScheduler = filepath.Join(controlPlaneDir, "kube-scheduler")
	bins.Kubectl = filepath.Join(dirs[KubeCurrent], "kubectl")
	bins.Kwok = filepath.Join(dirs["kwok"], "kwok")
	bins.Kueue = filepath.Join(dirs["kueue"], "kueue")
	bins.KueueManifests = filepath.Join(dirs["kueue"], "manifests")

	bins.Assets = filepath.Join(binRoot, "assets-"+filepath.Base(controlPlaneDir)+"-"+filepath.Base(dirs["etcd"]))
	// Builds of either Kubernetes pin stay, whichever this caller asked
	// for: a suite on the other version may be running from them.
	keep := map[string]bool{bins.Assets: true}
	prefixes := []string{"assets-"}
	for _, m := range append(slices.Clone(toolModules), oldestKube) {
		dir, _, _, err := pinnedDir(opts.RepoRoot, binRoot, m)
		if err != nil {
			dir = dirs[m.name] // a checkout without the module keeps what it built
		}
		keep[dir] = true
		if m.name == KubeCurrent || m.name == KubeOldest {
			keep[filepath.Join(binRoot, "assets-"+filepath.Base(dir)+"-"+filepath.Base(dirs["etcd"]))] = true
		}
		prefixes = append(prefixes, m.name+"-v")
	}
	pruneStale(binRoot, prefixes, keep, progress)
	if err := os.MkdirAll(bins.Assets, 0o755); err != nil {
		return nil, err
	}
	for name, target := range map[string]string{"etcd": bins.Etcd, "kube-apiserver": bins.KubeAPIServer, "kubectl": bins.Kubectl} {
		link := filepath.Join(bins.Assets, name)
		if cur, err := os.Readlink(link); err == nil && cur == target {
			continue
		}
		_ = os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return nil, err
		}
	}
	return bins, nil
}

// pruneStale removes binaries built for versions no longer pinned (each
// Kubernetes build is ~500 MB) and leftovers of interrupted builds. Callers
// hold the cache lock, so no build is in progress.
func pruneStale(binRoot string, prefixes []string, keep map[string]bool, progress io.Writer) {
	entries, err := os.ReadDir(binRoot)
	if err != nil {
		return
	}
	for _, e := range entries {
		path := filepath.Join(binRoot, e.Name())
		if !e.IsDir() || keep[path] || !hasAnyPrefix(e.Name(), prefixes) {
			continue
		}
		if err := os.RemoveAll(path); err == nil {
			fmt.Fprintf(progress, "removed stale build %s\n", e.Name())
		}
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// upstreamMPIOperator is built only for benchmarks and compatibility runs.
var upstreamMPIOperator = toolModule{
	name:       "mpi-operator",
	mainModule: "github.com/kubeflow/mpi-operator",
	binaries:   []binary{{"mpi-operator", "github.com/kubeflow/mpi-operator/cmd/mpi-operator"}},
	extra: func(ctx context.Context, moduleDir, out string) error {
		src, err := goModDir(ctx, moduleDir, "github.com/kubeflow/mpi-operator")
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(out, "crd"), 0o755); err != nil {
			return err
		}
		return copyFile(filepath.Join(src, "manifests", "base", "kubeflow.org_mpijobs.yaml"), filepath.Join(out, "crd", "kubeflow.org_mpijobs.yaml"))
	},
}

// EnsureUpstreamMPIOperator builds Kubeflow's mpi-operator at the version
// pinned in tools/cluster/mpi-operator and returns the binary and the folder
// holding its CRD.
func EnsureUpstreamMPIOperator(ctx context.Context, opts BuildOptions) (binary, crdDir string, err error) {
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	binRoot := filepath.Join(opts.CacheDir, "bin")
	if err := os.MkdirAll(binRoot, 0o755); err != nil {
		return "", "", err
	}
	unlock, err := lockFile(filepath.Join(binRoot, ".lock"))
	if err != nil {
		return "", "", err
	}
	defer unlock()
	dir, _, err := ensureModule(ctx, opts.RepoRoot, binRoot, upstreamMPIOperator, progress)
	if err != nil {
		return "", "", err
	}
	pruneStale(binRoot, []string{upstreamMPIOperator.name + "-v"}, map[string]bool{dir: true}, progress)
	return filepath.Join(dir, "mpi-operator"), filepath.Join(dir, "crd"), nil
}

var requireLine = regexp.MustCompile(`(?m)^\s*(?:require\s+)?(\S+)\s+(v[0-9][^\s]*)`)

// moduleVersion reads the version of want from a go.mod's require lines.
func moduleVersion(gomod []byte, want string) (string, error) {
	inReplace := false
	for _, line := range strings.Split(string(gomod), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "replace"):
			inReplace = strings.HasSuffix(trimmed, "(")
			continue
		case inReplace && trimmed == ")":
			inReplace = false
			continue
		case inReplace:
			continue
		}
		if m := requireLine.FindStringSubmatch(line); m != nil && m[1] == want {
			return m[2], nil
		}
	}
	return "", fmt.Errorf("go.mod does not require %s", want)
}

// cacheKey identifies a build: pinned module graph, Go version and recipe.
func cacheKey(gomod, gosum []byte, ldflags string) string {
	h := sha256.New()
	for _, part := range [][]byte{gomod, gosum, []byte(runtime.Version()), []byte(strings.Join(buildEnv, " ")), []byte(ldflags), []byte(buildRecipe)} {
		h.Write(part)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// pinnedDir is where the build of m at its pinned version lives in the
// cache, with the version and the linker flags it is built with.
func pinnedDir(repoRoot, binRoot string, m toolModule) (out, version, ldflags string, err error) {
	modDir := filepath.Join(repoRoot, "tools", "cluster", m.name)
	gomod, err := os.ReadFile(filepath.Join(modDir, "go.mod"))
	if err != nil {
		return "", "", "", fmt.Errorf("reading the pinned %s module: %w (is the repository root %q right?)", m.name, err, repoRoot)
	}
	gosum, err := os.ReadFile(filepath.Join(modDir, "go.sum"))
	if err != nil {
		return "", "", "", fmt.Errorf("reading %s/go.sum: %w", modDir, err)
	}
	version, err = moduleVersion(gomod, m.mainModule)
	if err != nil {
		return "", "", "", fmt.Errorf("%s/go.mod: %w", modDir, err)
	}
	ldflags = "-s -w"
	if m.ldflags != nil {
		ldflags = m.ldflags(version)
	}
	return filepath.Join(binRoot, fmt.Sprintf("%s-%s-%s", m.name, version, cacheKey(gomod, gosum, ldflags))), version, ldflags, nil
}

func ensureModule(ctx context.Context, repoRoot, binRoot string, m toolModule, progress io.Writer) (string, string, error) {
	modDir := filepath.Join(repoRoot, "tools", "cluster", m.name)
	out, version, ldflags, err := pinnedDir(repoRoot, binRoot, m)
	if err != nil {
		return "", "", err
	}
	if _, err := os.Stat(filepath.Join(out, ".complete")); err == nil {
		return out, version, nil
	}

	tmp := out + ".partial"
	if err := os.RemoveAll(tmp); err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", "", err
	}
	names := make([]string, 0, len(m.binaries))
	for _, b := range m.binaries {
		names = append(names, b.name)
	}
	fmt.Fprintf(progress, "building %s %s (%s); a first build takes minutes (the whole control plane 20-30 minutes on 2 cores), later ones seconds\n",
		m.mainModule, version, strings.Join(names, ", "))
	start := time.Now()
	for _, b := range m.binaries {
		args := []string{"build", "-v", "-ldflags", ldflags, "-o", filepath.Join(tmp, b.name), b.pkg}
		if err := runGoWithProgress(ctx, modDir, args, m.name+"/"+b.name, progress); err != nil {
			return "", "", err
		}
	}
	if m.extra != nil {
		if err := m.extra(ctx, modDir, tmp); err != nil {
			return "", "", fmt.Errorf("collecting %s assets: %w", m.name, err)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), []byte(version+"\n"), 0o644); err != nil {
		return "", "", err
	}
	if err := os.RemoveAll(out); err != nil {
		return "", "", err
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", "", err
	}
	fmt.Fprintf(progress, "built %s %s in %s\n", m.name, version, time.Since(start).Round(time.Second))
	return out, version, nil
}

// runGoWithProgress runs the go command and, every 20 s, reports how many
// packages it has compiled so far (go build -v names each one it compiles).
func runGoWithProgress(ctx context.Context, dir string, args []string, label string, progress io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), buildEnv...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting go build for %s: %w", label, err)
	}
	var compiled atomic.Int64
	tail := newLineRing(40)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			compiled.Add(1)
			tail.add(sc.Text())
		}
	}()
	start := time.Now()
	ticker := time.NewTicker(20 * time.Second)
	defer ticker.Stop()
	waitErr := make(chan error, 1)
	go func() { <-done; waitErr <- cmd.Wait() }()
	for {
		select {
		case err := <-waitErr:
			if err != nil {
				return fmt.Errorf("go %s failed for %s: %w\n%s", args[0], label, err, tail.String())
			}
			return nil
		case <-ticker.C:
			fmt.Fprintf(progress, "  %s: %d packages compiled, %s elapsed\n", label, compiled.Load(), time.Since(start).Round(time.Second))
		}
	}
}

type lineRing struct {
	lines []string
	max   int
}

func newLineRing(max int) *lineRing { return &lineRing{max: max} }

func (r *lineRing) add(s string) {
	r.lines = append(r.lines, s)
	if len(r.lines) > r.max {
		r.lines = r.lines[1:]
	}
}

func (r *lineRing) String() string { return strings.Join(r.lines, "\n") }

// copyKueueManifests copies the CRDs and webhook manifests that ship in the
// Kueue module next to its binary, so that starting Kueue never needs the
// module cache.
func copyKueueManifests(ctx context.Context, moduleDir, out string) error {
	src, err := goModDir(ctx, moduleDir, "sigs.k8s.io/kueue")
	if err != nil {
		return err
	}
	dst := filepath.Join(out, "manifests")
	if err := os.MkdirAll(filepath.Join(dst, "crds"), 0o755); err != nil {
		return err
	}
	crds, err := filepath.Glob(filepath.Join(src, "config", "components", "crd", "bases", "*.yaml"))
	if err != nil {
		return err
	}
	if len(crds) == 0 {
		return fmt.Errorf("no Kueue CRDs under %s; has Kueue's layout changed?", src)
	}
	for _, f := range crds {
		if err := copyFile(f, filepath.Join(dst, "crds", filepath.Base(f))); err != nil {
			return err
		}
	}
	if err := copyFile(filepath.Join(src, "config", "components", "crd", "kustomization.yaml"), filepath.Join(dst, "crd-kustomization.yaml")); err != nil {
		return err
	}
	return copyFile(filepath.Join(src, "config", "components", "webhook", "manifests.yaml"), filepath.Join(dst, "webhooks.yaml"))
}

// goModDir returns the module cache folder of a dependency of the module in dir.
func goModDir(ctx context.Context, dir, module string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), buildEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w: %s", module, err, out)
	}
	path := strings.TrimSpace(string(out))
	if path == "" {
		return "", errors.New("module " + module + " is not downloaded")
	}
	return path, nil
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

// lockFile takes an exclusive advisory lock, waiting for other holders.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
