package framework

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// Venv is the Python virtual environment in which the SDK (sdk/python) is
// installed in editable mode with its test extras.
type Venv struct {
	// Dir is the environment's folder, <repo>/.cache/python/venv.
	Dir string
	// Python is its interpreter.
	Python string
	// Repo is the repository root.
	Repo string
	// CacheDir holds tool caches (mypy) outside the source tree.
	CacheDir string
}

// venvStampVersion changes when what PythonVenv installs changes in a way the
// pyproject.toml hash does not show.
const venvStampVersion = "1"

// PythonVenv returns the SDK's virtual environment, creating it when it is
// missing or when sdk/python/pyproject.toml (or the system python3) changed
// since it was made: python3 -m venv, then pip install -e 'sdk/python[test]'
// from PyPI. A warm call only hashes a file. Concurrent test binaries take
// turns through a lock file. PYTHON names another interpreter than python3.
func PythonVenv(ctx context.Context, progress io.Writer) (*Venv, error) {
	repo, err := cluster.FindRepoRoot()
	if err != nil {
		return nil, err
	}
	if progress == nil {
		progress = io.Discard
	}
	cache := filepath.Join(repo, ".cache", "python")
	v := &Venv{Dir: filepath.Join(cache, "venv"), Python: filepath.Join(cache, "venv", "bin", "python"), Repo: repo, CacheDir: cache}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockFile(ctx, filepath.Join(cache, "venv.lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	system := os.Getenv("PYTHON")
	if system == "" {
		system = "python3"
	}
	systemPath, err := exec.LookPath(system)
	if err != nil {
		return nil, fmt.Errorf("the Python SDK's tests need %s (3.10 or newer) on PATH: install it (Debian: apt-get install python3 python3-venv): %w", system, err)
	}
	version, err := exec.CommandContext(ctx, systemPath, "-c", "import sys; print(sys.version); assert sys.version_info >= (3, 10), 'Python 3.10 or newer is required'").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", systemPath, err, version)
	}
	project, err := os.ReadFile(filepath.Join(repo, "sdk", "python", "pyproject.toml"))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(venvStampVersion + "\n" + systemPath + "\n" + string(version) + "\n" + string(project)))
	stamp := hex.EncodeToString(sum[:])
	stampFile := filepath.Join(v.Dir, ".sdk-stamp")
	if old, err := os.ReadFile(stampFile); err == nil && strings.TrimSpace(string(old)) == stamp {
		if _, err := os.Stat(v.Python); err == nil {
			return v, nil
		}
	}

	start := time.Now()
	fmt.Fprintf(progress, "python: creating %s (python3 -m venv, pip install -e sdk/python[test]; a minute or two the first time)\n", v.Dir)
	if err := os.RemoveAll(v.Dir); err != nil {
		return nil, err
	}
	steps := [][]string{
		{systemPath, "-m", "venv", v.Dir},
		{v.Python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--upgrade", "pip"},
		{v.Python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "-e", filepath.Join(repo, "sdk", "python") + "[test]"},
	}
	for _, s := range steps {
		cmd := exec.CommandContext(ctx, s[0], s[1:]...)
		cmd.Dir = repo
		cmd.Env = v.Env()
		out, err := cmd.CombinedOutput()
		if err != nil {
			hint := ""
			if strings.Contains(string(out), "ensurepip") {
				hint = " (Debian and Ubuntu ship venv separately: apt-get install python3-venv)"
			}
			_ = os.RemoveAll(v.Dir)
			return nil, fmt.Errorf("%s: %w%s:\n%s", strings.Join(s, " "), err, hint, out)
		}
	}
	if err := os.WriteFile(stampFile, []byte(stamp+"\n"), 0o644); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "python: %s ready in %s\n", v.Dir, time.Since(start).Round(time.Second))
	return v, nil
}

// Env is the environment for commands run in the venv: its bin first on
// PATH, and no bytecode written into the source tree.
func (v *Venv) Env(extra ...string) []string {
	env := []string{}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE":
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"PATH="+filepath.Join(v.Dir, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"VIRTUAL_ENV="+v.Dir,
		"PYTHONDONTWRITEBYTECODE=1",
	)
	return append(env, extra...)
}

// Command runs a program of the venv (python, pytest, mypy...) in dir, or
// in sdk/python when dir is empty.
func (v *Venv) Command(ctx context.Context, dir string, name string, args ...string) *exec.Cmd {
	bin := filepath.Join(v.Dir, "bin", name)
	cmd := exec.CommandContext(ctx, bin, args...)
	if dir == "" {
		dir = filepath.Join(v.Repo, "sdk", "python")
	}
	cmd.Dir = dir
	cmd.Env = v.Env()
	// A test that times out must not leave a Python process (or the kernel
	// a notebook started) behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}

// lockFile takes an exclusive flock on path, waiting until ctx ends.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for %s: %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
