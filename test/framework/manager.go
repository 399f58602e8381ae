package framework

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// Manager is the platform's manager binary running against an e2e cluster.
type Manager struct {
	MetricsURL string
	Log        string
	cmd        *exec.Cmd
	done       chan struct{}
}

// StartManager builds ./operator/cmd/manager and runs it against env with
// the given extra flags, waiting until it reports healthy. Its log goes to
// the cluster's log folder.
func StartManager(env *Env, args ...string) (*Manager, error) {
	repo, _, err := paths()
	if err != nil {
		return nil, err
	}
	binDir, err := os.MkdirTemp("", "manager-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(binDir, "manager")
	build := exec.Command("go", "build", "-o", bin, "./operator/cmd/manager")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the manager: %w: %s", err, out)
	}
	ports, err := cluster.FreePorts(2)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(env.Cluster.Dir, "logs", "manager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{
		"--kubeconfig=" + env.Kubeconfig,
		"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(ports[0]),
		"--health-probe-bind-address=127.0.0.1:" + strconv.Itoa(ports[1]),
	}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	m := &Manager{MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[0]), Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logFile.Close(); close(m.done) }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[1]))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return m, nil
			}
		}
		select {
		case <-m.done:
			data, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("manager exited during start:\n%s", data)
		case <-ctx.Done():
			m.Stop()
			return nil, fmt.Errorf("manager not ready after a minute; see %s", logPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop ends the manager (SIGTERM, then SIGKILL after 10 s).
func (m *Manager) Stop() {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}
