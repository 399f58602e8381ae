package cluster

import (
	"bytes"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProcessState is what the state file remembers of one running component.
type ProcessState struct {
	Name    string   `json:"name"`
	PID     int      `json:"pid"`
	Binary  string   `json:"binary"`
	Log     string   `json:"log"`
	Ports   []int    `json:"ports,omitempty"`
	Command []string `json:"command"`
}

type processSpec struct {
	name  string
	path  string   // the binary itself (what /proc/PID/exe must point at)
	argv  []string // full command line; argv[0] may be a wrapper such as unshare
	ports []int
	// appendLog continues the log of an earlier run (a restart).
	appendLog bool
}

// startProcess starts a component with its output in logDir/<name>.log.
// Detached processes get a session of their own and outlive the caller
// (make cluster-up); attached ones die with the caller (tests) through
// Pdeathsig, so a crashed test binary leaves nothing behind.
func startProcess(spec processSpec, logDir string, detach bool) (*ProcessState, error) {
	logPath := filepath.Join(logDir, spec.name+".log")
	mode := os.O_TRUNC
	if spec.appendLog {
		mode = os.O_APPEND
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|mode, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(spec.argv[0], spec.argv[1:]...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Stdin = nil
	if detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", spec.name, err)
	}
	st := &ProcessState{Name: spec.name, PID: cmd.Process.Pid, Binary: spec.path, Log: logPath, Ports: spec.ports, Command: spec.argv}
	// Reap the child when it exits so that liveness checks see it gone.
	go func() { _ = cmd.Wait() }()
	return st, nil
}

// Alive reports whether the process still runs the binary it was started
// with (a recycled PID belongs to someone else).
func (p *ProcessState) Alive() bool {
	if p.PID <= 0 {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return false
	}
	// The state letter follows the parenthesised command name.
	if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID))
	if err != nil {
		return false
	}
	// While a process execs (unshare -> sh -> kueue) its command line reads
	// empty for a moment; it is still ours.
	return len(cmdline) == 0 || bytes.Contains(cmdline, []byte(p.Binary))
}

// stop sends SIGTERM to the process group, waits up to grace, then SIGKILLs it.
func (p *ProcessState) stop(grace time.Duration) error {
	if !p.Alive() {
		return nil
	}
	_ = syscall.Kill(-p.PID, syscall.SIGTERM)
	_ = syscall.Kill(p.PID, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !p.Alive() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	_ = syscall.Kill(p.PID, syscall.SIGKILL)
	for i := 0; i < 100; i++ {
		if !p.Alive() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.Name, p.PID)
}

// logTail returns the last lines of the component's log, for error messages.
func (p *ProcessState) logTail(n int) string {
	data, err := os.ReadFile(p.Log)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FreePorts returns n distinct loopback ports that are free now, chosen
// below the kernel's ephemeral range (ip_local_port_range). A port from
// that range can be taken at any moment as the source port of some
// outgoing connection, and then a component that binds it, at start or
// when a fault test restarts it, fails with "address already in use";
// below the range only another server can take it. When the range leaves
// too little room below it, the kernel picks (port 0).
func FreePorts(n int) ([]int, error) {
	lo := ephemeralLow()
	const floor = 10000
	ports := make([]int, 0, n)
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		addr := "127.0.0.1:0"
		if lo-floor >= 1000 && tries < 1000 {
			addr = "127.0.0.1:" + strconv.Itoa(floor+mrand.IntN(lo-floor))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if addr != "127.0.0.1:0" {
				continue // taken: draw another
			}
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// when it cannot be read).
func ephemeralLow() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return 32768
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return lo
}

// Listening returns the TCP ports on which the process listens, read from
// /proc (used by status and by tests that prove down leaves nothing behind).
func (p *ProcessState) Listening() ([]int, error) {
	pid := p.PID
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, err
	}
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	var ports []int
	for _, table := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A = LISTEN
				continue
			}
			if i := strings.LastIndexByte(f[1], ':'); i > 0 {
				if port, err := strconv.ParseInt(f[1][i+1:], 16, 32); err == nil {
					ports = append(ports, int(port))
				}
			}
		}
	}
	return ports, nil
}

// ListeningSockets lists every listening TCP socket on the machine as
// "addr:port" strings in /proc's hex notation decoded; tests use it to prove
// that components bind loopback only and that down frees their ports.
func ListeningSockets() (map[int]string, error) {
	out := map[int]string{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 4 || f[3] != "0A" {
				continue
			}
			i := strings.LastIndexByte(f[1], ':')
			port, err := strconv.ParseInt(f[1][i+1:], 16, 32)
			if err != nil {
				continue
			}
			out[int(port)] = f[1][:i]
		}
	}
	return out, nil
}
