package kubelet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// podWorker runs one pod: its network, volumes and containers, and reports
// its status. Everything but update and writeHosts runs on its own
// goroutine.
type podWorker struct {
	k         *Kubelet
	uid       types.UID
	namespace string
	name      string
	subdomain string
	search    []string // DNS search path
	dir       string

	mu   sync.Mutex
	pod  *corev1.Pod
	gone bool
	wake chan struct{}
	logs map[string]logInfo // what the logs API may read, per container

	exits chan exitEvent

	// Owned by run.
	ip         string
	hostname   string
	ready      bool // network and volumes are in place
	setupErr   error
	waitReason string
	retryAt    time.Time
	startTime  *metav1.Time
	refreshAt  time.Time // next sync of configMap and secret volumes
	ctrs       []*ctr
	pushed     *corev1.PodStatus

	hostsMu    sync.Mutex
	hostsLines []dnsEntry
	hostsIP    string // set once the network is in place
}

type logInfo struct {
	run     int32 // the current run's number (restarts so far)
	running bool  // the current run may still write
}

type ctr struct {
	spec       corev1.Container
	init       bool
	profile    *Profile
	profileDir string // its build under the cache
	cgroup     *containerCgroup
	probes     *probeResults      // of the current run; nil: none yet
	stopProbes context.CancelFunc // ends the current run's probes
	restarts   int32
	cmd        *exec.Cmd
	startedAt  metav1.Time
	term       *corev1.ContainerStateTerminated
	last       *corev1.ContainerStateTerminated
	done       bool
	restartAt  time.Time
}

type exitEvent struct {
	c    *ctr
	cmd  *exec.Cmd
	code int32
	at   time.Time
}

func newPodWorker(k *Kubelet, pod *corev1.Pod) *podWorker {
	w := &podWorker{
		k: k, uid: pod.UID, namespace: pod.Namespace, name: pod.Name, subdomain: pod.Spec.Subdomain, search: searchPath(pod),
		logs:  map[string]logInfo{},
		dir:   filepath.Join(k.opts.Dir, "pods", string(pod.UID)),
		pod:   pod,
		wake:  make(chan struct{}, 1),
		exits: make(chan exitEvent, 64),
	}
	w.hostname = pod.Spec.Hostname
	if w.hostname == "" {
		w.hostname = pod.Name
	}
	if len(w.hostname) > 63 {
		w.hostname = strings.TrimRight(w.hostname[:63], "-.")
	}
	for _, c := range pod.Spec.InitContainers {
		w.ctrs = append(w.ctrs, &ctr{spec: c, init: true})
	}
	for _, c := range pod.Spec.Containers {
		w.ctrs = append(w.ctrs, &ctr{spec: c})
	}
	return w
}

func (w *podWorker) update(pod *corev1.Pod, gone bool) {
	w.mu.Lock()
	if pod != nil {
		w.pod = pod
	}
	if gone {
		w.gone = true
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *podWorker) snapshot() (*corev1.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod, w.gone
}

func (w *podWorker) logf(format string, args ...any) {
	log.Printf("pod %s/%s: %s", w.namespace, w.name, fmt.Sprintf(format, args...))
}

func (w *podWorker) run(ctx context.Context) {
	defer w.teardown()
	pod, _ := w.snapshot()
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		// Finished before this kubelet started (a restart of the runtime):
		// nothing runs any more; only deletion is left to do.
		for _, c := range w.ctrs {
			c.done = true
		}
		w.pushed = pod.Status.DeepCopy()
	}
	for {
		pod, gone := w.snapshot()
		if gone || ctx.Err() != nil {
			w.killAll(0)
			return
		}
		if pod.DeletionTimestamp != nil {
			grace := time.Duration(ptr.Deref(pod.DeletionGracePeriodSeconds, 30)) * time.Second
			w.killAll(grace)
			w.finalDelete(ctx, pod)
			return
		}
		next := w.progress(ctx, pod)
		w.pushStatus(ctx, pod)
		var timer <-chan time.Time
		if !next.IsZero() {
			timer = time.After(time.Until(next))
		}
		select {
		case <-ctx.Done():
		case <-w.wake:
		case ev := <-w.exits:
			w.exited(ev, pod)
		case <-timer:
		}
	}
}

// progress sets up the pod and starts what should run now. It returns when
// it wants to be called again (a restart or retry due), or zero.
func (w *podWorker) progress(ctx context.Context, pod *corev1.Pod) time.Time {
	if w.startTime == nil {
		w.startTime = ptr.To(metav1.Now())
	}
	if !w.ready {
		if w.waitReason == "ErrImagePull" {
			return time.Time{} // an image without a profile will not get one
		}
		if time.Now().Before(w.retryAt) {
			return w.retryAt
		}
		if err := w.setup(ctx, pod); err != nil {
			w.setupErr = err
			w.waitReason = "ContainerCreating"
			var ve errVolume
			switch {
			case errors.Is(err, errNoProfile):
				w.waitReason = "ErrImagePull"
				return time.Time{}
			case errors.As(err, &ve), strings.Contains(err.Error(), "not found"), strings.Contains(err.Error(), "has no key"):
				w.waitReason = "CreateContainerConfigError"
			}
			w.logf("not ready: %v", err)
			w.retryAt = time.Now().Add(2 * time.Second)
			return w.retryAt
		}
		w.ready, w.setupErr, w.waitReason = true, nil, ""
		w.k.refreshHosts(w.namespace)
		// Like a kubelet, report the pod's address once its sandbox exists,
		// before its containers start.
		w.pushStatus(ctx, pod)
	}
	var next time.Time
	due := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if w.hasRefreshable(pod) {
		if now := time.Now(); !now.Before(w.refreshAt) {
			m := &materializer{cs: w.k.cs, pod: pod, dir: filepath.Join(w.dir, "volumes"), refresh: true}
			if err := m.all(ctx); err != nil && ctx.Err() == nil {
				w.logf("volume sync: %v", err)
			}
			w.refreshAt = now.Add(volumeSyncPeriod)
		}
		due(w.refreshAt)
	}
	// Init containers one at a time, in order.
	for _, c := range w.ctrs {
		if !c.init {
			continue
		}
		if c.done {
			if c.term != nil && c.term.ExitCode != 0 {
				return time.Time{} // failed for good: the pod failed
			}
			continue
		}
		if c.cmd == nil {
			if time.Now().Before(c.restartAt) {
				return c.restartAt
			}
			w.start(ctx, pod, c)
		}
		return time.Time{}
	}
	for _, c := range w.ctrs {
		if c.init || c.done || c.cmd != nil {
			continue
		}
		if time.Now().Before(c.restartAt) {
			due(c.restartAt)
			continue
		}
		w.start(ctx, pod, c)
	}
	return next
}

// volumeSyncPeriod is how often configMap and secret volumes of running
// pods follow their sources (the kubelet's is about a minute; tests of the
// elastic contract want seconds).
const volumeSyncPeriod = 2 * time.Second

func (w *podWorker) hasRefreshable(pod *corev1.Pod) bool {
	running := false
	for _, c := range w.ctrs {
		running = running || c.cmd != nil
	}
	if !running {
		return false
	}
	for _, v := range pod.Spec.Volumes {
		if refreshable(v) {
			return true
		}
	}
	return false
}

// setup prepares everything the containers share: profiles, the network
// namespace, volumes, hosts and resolv.conf.
func (w *podWorker) setup(ctx context.Context, pod *corev1.Pod) error {
	for _, c := range w.ctrs {
		p, err := ProfileFor(c.spec.Image)
		if err != nil {
			return fmt.Errorf("%w: %w", errNoProfile, err)
		}
		dir, err := p.Built(w.k.opts.CacheDir)
		if err != nil {
			return err
		}
		c.profile, c.profileDir = p, dir
		for _, m := range c.spec.VolumeMounts {
			if err := CheckMountPath(m.MountPath); err != nil {
				return errVolume{fmt.Sprintf("container %s: %v", c.spec.Name, err)}
			}
		}
	}
	for _, d := range []string{"volumes", "logs", "containers"} {
		if err := os.MkdirAll(filepath.Join(w.dir, d), 0o755); err != nil {
			return err
		}
	}
	m := &materializer{cs: w.k.cs, pod: pod, dir: filepath.Join(w.dir, "volumes")}
	if err := m.all(ctx); err != nil {
		return err
	}
	if w.ip == "" {
		ip, err := w.k.net.add(ctx, string(w.uid))
		if err != nil {
			return err
		}
		w.ip = ip
	}
	fqdn := w.hostname
	if pod.Spec.Subdomain != "" {
		fqdn = fmt.Sprintf("%s.%s.%s.svc.%s", w.hostname, pod.Spec.Subdomain, pod.Namespace, ClusterDomain)
	}
	w.hostsMu.Lock()
	w.hostsIP = w.ip
	w.hostsMu.Unlock()
	w.writeHosts(nil)
	resolv := fmt.Sprintf("search %s\nnameserver 127.0.0.1\noptions ndots:5 attempts:1 timeout:1\n", strings.Join(w.search, " "))
	if err := os.WriteFile(filepath.Join(w.dir, "resolv.conf"), []byte(resolv), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(w.dir, "hostname"), []byte(w.hostname+"\n"), 0o644); err != nil {
		return err
	}
	w.logf("ready: ip %s, hostname %s (%s)", w.ip, w.hostname, fqdn)
	return nil
}

// writeHosts rewrites the pod's /etc/hosts in place (a bind mount follows
// the file, not its name): localhost, the pod itself, and the pods of
// headless Services in its namespace.
func (w *podWorker) writeHosts(entries []dnsEntry) {
	w.hostsMu.Lock()
	defer w.hostsMu.Unlock()
	if w.hostsIP == "" {
		return
	}
	if entries == nil {
		entries = w.hostsLines
	}
	w.hostsLines = entries
	var b strings.Builder
	b.WriteString("# Written by the dev cluster's process runtime.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	own := w.hostname
	if w.subdomain != "" {
		own = fmt.Sprintf("%s.%s.%s.svc.%s %s", w.hostname, w.subdomain, w.namespace, ClusterDomain, w.hostname)
	}
	fmt.Fprintf(&b, "%s\t%s\n", w.hostsIP, own)
	for _, e := range entries {
		b.WriteString(hostsLine(e, w.search) + "\n")
	}
	path := filepath.Join(w.dir, "hosts")
	if old, err := os.ReadFile(path); err == nil && string(old) == b.String() {
		return
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		w.logf("writing hosts: %v", err)
	}
}

// start runs one container: `ip netns exec <pod netns> devcluster pod-init
// <spec>` in new UTS and PID namespaces, its output appended to its log.
func (w *podWorker) start(ctx context.Context, pod *corev1.Pod, c *ctr) {
	if err := w.startErr(ctx, pod, c); err != nil {
		w.logf("container %s: %v", c.spec.Name, err)
		// A container that cannot start counts as one that failed.
		c.term = &corev1.ContainerStateTerminated{ExitCode: exitSetupFailed, Reason: "StartError", Message: err.Error(),
			StartedAt: metav1.Now(), FinishedAt: metav1.Now()}
		w.afterExit(c, pod)
	}
}

func (w *podWorker) startErr(ctx context.Context, pod *corev1.Pod, c *ctr) error {
	uid, gid, groups, home := w.identity(pod, c)
	base := map[string]string{
		"PATH":     "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOSTNAME": w.hostname,
		"HOME":     home,
		// What the kubelet tells every container about the API server's
		// Service (programs use it to know they run in Kubernetes).
		"KUBERNETES_SERVICE_HOST": "10.96.0.1",
		"KUBERNETES_SERVICE_PORT": "443",
		"KUBERNETES_PORT":         "tcp://10.96.0.1:443",
	}
	// The downward API sees the addresses this runtime gave the pod, even
	// before the status that reports them reached the API server.
	pod = pod.DeepCopy()
	pod.Status.PodIP, pod.Status.HostIP = w.ip, "127.0.0.1"
	env, err := containerEnv(ctx, w.k.cs, pod, &c.spec, base)
	if err != nil {
		return err
	}
	vals := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vals[k] = v
	}
	var command []string
	for _, s := range append(append([]string{}, c.spec.Command...), c.spec.Args...) {
		command = append(command, expand(s, vals))
	}
	scratch := filepath.Join(w.dir, "roots", fmt.Sprintf("%s-%d", c.spec.Name, c.restarts))
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		return err
	}
	spec := InitSpec{Hostname: w.hostname, Profile: filepath.Join(c.profileDir, "root"), Scratch: scratch,
		Command: command, Env: env, Dir: c.spec.WorkingDir, UID: uid, GID: gid, Groups: groups}
	readOnlyVolume := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		readOnlyVolume[v.Name] = v.EmptyDir == nil
	}
	for _, m := range c.spec.VolumeMounts {
		src := filepath.Join(w.dir, "volumes", m.Name, m.SubPath)
		if m.SubPathExpr != "" {
			src = filepath.Join(w.dir, "volumes", m.Name, expand(m.SubPathExpr, vals))
		}
		if _, err := os.Stat(src); err != nil {
			if m.SubPath == "" && m.SubPathExpr == "" {
				return fmt.Errorf("volume %q of mount %s is not in the pod", m.Name, m.MountPath)
			}
			if err := os.MkdirAll(src, 0o755); err != nil {
				return err
			}
		}
		spec.Binds = append(spec.Binds, Bind{Source: src, Target: m.MountPath, ReadOnly: m.ReadOnly || readOnlyVolume[m.Name]})
	}
	for _, f := range []string{"hosts", "hostname", "resolv.conf"} {
		spec.Binds = append(spec.Binds, Bind{Source: filepath.Join(w.dir, f), Target: "/etc/" + f})
	}
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	specPath := filepath.Join(w.dir, "containers", fmt.Sprintf("%s-%d.json", c.spec.Name, c.restarts))
	if err := os.WriteFile(specPath, data, 0o600); err != nil {
		return err
	}
	logDir := filepath.Join(w.dir, "logs", c.spec.Name)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	logFile, err := os.OpenFile(filepath.Join(logDir, fmt.Sprintf("%d.log", c.restarts)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	goR, goW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer goW.Close()
	startedR, startedW, err := os.Pipe()
	if err != nil {
		goR.Close()
		return err
	}
	defer startedR.Close()
	cmd := exec.Command("ip", "netns", "exec", w.k.net.podNetns(string(w.uid)), w.k.opts.Self, "pod-init", specPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.ExtraFiles = []*os.File{goR, startedW} // fds 3 and 4 of pod-init
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUTS | syscall.CLONE_NEWPID,
		Pdeathsig:  syscall.SIGKILL,
	}
	err = cmd.Start()
	goR.Close()
	startedW.Close()
	if err != nil {
		return err
	}
	if w.k.cg != nil {
		// pod-init waits for the go-ahead below before it starts the
		// command, so the command's memory counts from its first page.
		name := fmt.Sprintf("%s-%s-%d", string(w.uid)[:8], c.spec.Name, c.restarts)
		limit := c.spec.Resources.Limits.Memory().Value()
		if c.cgroup, err = w.k.cg.add(name, limit, cmd.Process.Pid); err != nil {
			w.logf("container %s runs without its memory limit: %v", c.spec.Name, err)
		}
	}
	_, _ = goW.Write([]byte{1})
	// Like a CRI runtime's StartContainer, return once the command has been
	// executed (a byte) or pod-init has exited (end of file; its exit is
	// reported as the container's). Setup takes milliseconds; the limit
	// only guards against a wedged mount.
	_ = startedR.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := startedR.Read(make([]byte, 1)); err != nil && !errors.Is(err, io.EOF) {
		w.logf("container %s: no word from pod-init that the command started: %v", c.spec.Name, err)
	}
	c.cmd, c.startedAt, c.restartAt = cmd, metav1.Now(), time.Time{}
	w.publishLogs(c)
	probeCtx, cancel := context.WithCancel(ctx)
	c.stopProbes = cancel
	c.probes = w.startProbes(probeCtx, c, cmd.Process.Pid, uid, gid,
		func() { w.update(nil, false) },
		func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
	w.logf("container %s started (pid %d, restart %d): %s", c.spec.Name, cmd.Process.Pid, c.restarts, strings.Join(command, " "))
	go func() {
		_ = cmd.Wait()
		code := int32(cmd.ProcessState.ExitCode())
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int32(ws.Signal())
		}
		w.exits <- exitEvent{c: c, cmd: cmd, code: code, at: time.Now()}
	}()
	return nil
}

// identity is the user, group, supplementary groups and home directory
// of a container, from its security context and the profile's accounts.
func (w *podWorker) identity(pod *corev1.Pod, c *ctr) (uid, gid uint32, groups []uint32, home string) {
	psc := pod.Spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	csc := c.spec.SecurityContext
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	u := ptr.Deref(csc.RunAsUser, ptr.Deref(psc.RunAsUser, 0))
	uid = uint32(u)
	home = "/"
	primary := int64(-1)
	if data, err := os.ReadFile(filepath.Join(c.profileDir, "root", "etc/passwd")); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Split(line, ":")
			if len(f) >= 6 && f[2] == strconv.FormatInt(u, 10) {
				home = f[5]
				primary, _ = strconv.ParseInt(f[3], 10, 64)
				break
			}
		}
	}
	g := ptr.Deref(csc.RunAsGroup, ptr.Deref(psc.RunAsGroup, primary))
	if g < 0 {
		g = 0
	}
	gid = uint32(g)
	for _, sg := range psc.SupplementalGroups {
		groups = append(groups, uint32(sg))
	}
	if psc.FSGroup != nil {
		groups = append(groups, uint32(*psc.FSGroup))
	}
	return uid, gid, groups, home
}

func (w *podWorker) exited(ev exitEvent, pod *corev1.Pod) {
	c := ev.c
	if c.cmd != ev.cmd {
		return // an older run's news
	}
	c.cmd = nil
	c.endProbes()
	reason := "Completed"
	if ev.code != 0 {
		reason = "Error"
	}
	if c.cgroup != nil {
		if ev.code != 0 && c.cgroup.oomKilled() {
			reason = "OOMKilled"
		}
		c.cgroup.remove()
		c.cgroup = nil
	}
	msg := ""
	logPath := filepath.Join(w.dir, "logs", c.spec.Name, fmt.Sprintf("%d.log", c.restarts))
	switch {
	case ev.code == exitSetupFailed:
		msg = lastLine(logPath)
	case ev.code != 0 && c.spec.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError:
		msg = logTail(logPath)
	}
	c.term = &corev1.ContainerStateTerminated{ExitCode: ev.code, Reason: reason, Message: msg, StartedAt: c.startedAt,
		FinishedAt: metav1.NewTime(ev.at), ContainerID: w.containerID(c)}
	w.logf("container %s exited with %d", c.spec.Name, ev.code)
	w.afterExit(c, pod)
}

// afterExit decides, by the restart policy, whether the container runs
// again (after a back-off) or is done.
func (w *podWorker) afterExit(c *ctr, pod *corev1.Pod) {
	policy := pod.Spec.RestartPolicy
	if c.init && policy == corev1.RestartPolicyAlways {
		policy = corev1.RestartPolicyOnFailure // init containers re-run only on failure
	}
	if c.init && c.spec.RestartPolicy != nil && *c.spec.RestartPolicy == corev1.ContainerRestartPolicyAlways {
		policy = corev1.RestartPolicyAlways // a sidecar
	}
	restart := policy == corev1.RestartPolicyAlways || (policy == corev1.RestartPolicyOnFailure && c.term.ExitCode != 0)
	defer w.publishLogs(c)
	if !restart {
		c.done = true
		return
	}
	backoff := time.Second << min(c.restarts, 4) // 1 s doubling to 16 s
	c.restartAt = time.Now().Add(backoff)
	c.last = c.term
	c.restarts++
}

// endProbes stops the probes of the container's ended run.
func (c *ctr) endProbes() {
	if c.stopProbes != nil {
		c.stopProbes()
		c.stopProbes = nil
	}
	c.probes = nil
}

// readyAndStarted is what the probes of a running container found.
func (c *ctr) readyAndStarted() (ready, started bool) {
	if c.probes == nil {
		return true, true
	}
	return c.probes.get()
}

// publishLogs tells the logs API which run of the container to read.
func (w *podWorker) publishLogs(c *ctr) {
	w.mu.Lock()
	defer w.mu.Unlock()
	run := c.restarts
	if c.cmd == nil && !c.done && c.last != nil {
		run-- // backing off: the last run is the one to read
	}
	w.logs[c.spec.Name] = logInfo{run: run, running: c.cmd != nil}
}

// logTail is what the kubelet quotes from a log as a termination message:
// the last 80 lines, at most 2 KiB.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	data = tail(data, 80)
	if len(data) > 2048 {
		data = data[len(data)-2048:]
	}
	return string(data)
}

func lastLine(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return lines[len(lines)-1]
}

func (w *podWorker) containerID(c *ctr) string {
	return fmt.Sprintf("process://%s/%s/%d", w.uid, c.spec.Name, c.restarts)
}

// killAll stops every running container: SIGTERM, then SIGKILL after grace.
func (w *podWorker) killAll(grace time.Duration) {
	running := map[*exec.Cmd]*ctr{}
	for _, c := range w.ctrs {
		if c.cmd != nil && c.cmd.Process != nil {
			running[c.cmd] = c
		}
	}
	sig := syscall.SIGTERM
	if grace <= 0 {
		sig = syscall.SIGKILL
	}
	for cmd := range running {
		_ = cmd.Process.Signal(sig)
	}
	deadline := time.After(grace)
	killed := grace <= 0
	for len(running) > 0 {
		select {
		case ev := <-w.exits:
			if c, ok := running[ev.cmd]; ok {
				delete(running, ev.cmd)
				c.cmd = nil
				c.endProbes()
				if c.cgroup != nil {
					c.cgroup.remove()
					c.cgroup = nil
				}
				c.term = &corev1.ContainerStateTerminated{ExitCode: ev.code, Reason: "Error", StartedAt: c.startedAt, FinishedAt: metav1.NewTime(ev.at)}
				if ev.code == 0 {
					c.term.Reason = "Completed"
				}
				c.done = true
				w.publishLogs(c)
			}
		case <-deadline:
			if killed {
				w.logf("containers did not exit after SIGKILL")
				return
			}
			for cmd := range running {
				_ = cmd.Process.Signal(syscall.SIGKILL)
			}
			killed, deadline = true, time.After(10*time.Second)
		}
	}
}

// finalDelete reports the containers' end and removes the pod object, as
// the kubelet does once a deleted pod's containers are gone.
func (w *podWorker) finalDelete(ctx context.Context, pod *corev1.Pod) {
	w.pushStatus(ctx, pod)
	err := w.k.cs.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		w.logf("final delete: %v", err)
	}
}

func (w *podWorker) teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w.hostsMu.Lock()
	w.hostsIP = ""
	w.hostsMu.Unlock()
	if err := w.k.net.remove(ctx, string(w.uid), w.ip); err != nil {
		w.logf("removing network: %v", err)
	}
	if err := os.RemoveAll(w.dir); err != nil {
		w.logf("removing %s: %v", w.dir, err)
	}
}

// status is the pod's status as the kubelet would report it.
func (w *podWorker) status(pod *corev1.Pod) *corev1.PodStatus {
	st := pod.Status.DeepCopy()
	st.StartTime = w.startTime
	st.HostIP = "127.0.0.1"
	st.HostIPs = []corev1.HostIP{{IP: "127.0.0.1"}}
	if w.ip != "" {
		st.PodIP = w.ip
		st.PodIPs = []corev1.PodIP{{IP: w.ip}}
	}
	st.InitContainerStatuses, st.ContainerStatuses = nil, nil
	initDone, initFailed := true, false
	allRunning, allDone, anyFailed, anyStarted := true, true, false, false
	allReady := true // every running container passes its readiness probe
	for _, c := range w.ctrs {
		cs := corev1.ContainerStatus{Name: c.spec.Name, Image: c.spec.Image, RestartCount: c.restarts}
		if c.profile != nil {
			cs.ImageID = "profile://" + filepath.Base(c.profileDir)
		}
		if c.last != nil {
			cs.LastTerminationState.Terminated = c.last
		}
		switch {
		case c.cmd != nil:
			ready, started := c.readyAndStarted()
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: c.startedAt}
			cs.Started, cs.Ready, cs.ContainerID = ptr.To(started), !c.init && ready && started, w.containerID(c)
			if !c.init && !cs.Ready {
				allReady = false
			}
		case c.done:
			cs.State.Terminated = c.term
			cs.Started = ptr.To(false)
			if c.term != nil {
				cs.ContainerID = c.term.ContainerID
			}
		case c.term != nil:
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off restarting failed container %s in pod %s", c.spec.Name, pod.Name)}
			cs.Started = ptr.To(false)
		default:
			reason, msg := "ContainerCreating", ""
			if !w.ready && w.setupErr != nil {
				reason, msg = w.waitReason, w.setupErr.Error()
				msg = strings.TrimPrefix(msg, errNoProfile.Error()+": ")
			} else if c.init || !initDone {
				reason = "PodInitializing"
			}
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: msg}
			cs.Started = ptr.To(false)
		}
		if c.init {
			if !c.done || (c.term != nil && c.term.ExitCode != 0) {
				initDone = false
			}
			if c.done && c.term != nil && c.term.ExitCode != 0 {
				initFailed = true
			}
			st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
			continue
		}
		if c.cmd == nil {
			allRunning = false
		}
		if !c.done {
			allDone = false
		}
		if c.cmd != nil || c.term != nil {
			anyStarted = true
		}
		if c.done && c.term != nil && c.term.ExitCode != 0 {
			anyFailed = true
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	switch {
	case initFailed:
		st.Phase = corev1.PodFailed
	case initDone && allDone && anyFailed:
		st.Phase = corev1.PodFailed
	case initDone && allDone:
		st.Phase = corev1.PodSucceeded
	case initDone && anyStarted:
		st.Phase = corev1.PodRunning
	default:
		st.Phase = corev1.PodPending
	}
	ready := initDone && allRunning && allReady && st.Phase == corev1.PodRunning
	setCond := func(t corev1.PodConditionType, ok bool, reason string) {
		s := corev1.ConditionFalse
		if ok {
			s, reason = corev1.ConditionTrue, ""
		}
		for i := range st.Conditions {
			if st.Conditions[i].Type == t {
				if st.Conditions[i].Status != s {
					st.Conditions[i].Status, st.Conditions[i].LastTransitionTime = s, metav1.Now()
				}
				st.Conditions[i].Reason = reason
				return
			}
		}
		st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: s, Reason: reason, LastTransitionTime: metav1.Now()})
	}
	setCond(corev1.PodReadyToStartContainers, w.ready, "")
	setCond(corev1.PodInitialized, initDone, "ContainersNotInitialized")
	setCond(corev1.ContainersReady, ready, "ContainersNotReady")
	setCond(corev1.PodReady, ready, "ContainersNotReady")
	return st
}

// pushStatus writes the status when it changed.
func (w *podWorker) pushStatus(ctx context.Context, pod *corev1.Pod) {
	want := w.status(pod)
	if w.pushed != nil && sameStatus(w.pushed, want) {
		return
	}
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		cur, err := w.k.cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID != w.uid {
			return apierrors.NewNotFound(corev1.Resource("pods"), pod.Name)
		}
		next := w.status(cur)
		cur.Status = *next
		_, err = w.k.cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		if err == nil {
			w.pushed = next
		}
		return err
	})
	if apierrors.IsNotFound(err) {
		w.update(nil, true)
		return
	}
	if err != nil && ctx.Err() == nil {
		w.logf("status: %v", err)
	}
}

// sameStatus compares statuses without the transition times that status()
// stamps anew.
func sameStatus(a, b *corev1.PodStatus) bool {
	strip := func(s *corev1.PodStatus) *corev1.PodStatus {
		s = s.DeepCopy()
		for i := range s.Conditions {
			s.Conditions[i].LastTransitionTime = metav1.Time{}
			s.Conditions[i].LastProbeTime = metav1.Time{}
		}
		return s
	}
	return apiequality.Semantic.DeepEqual(strip(a), strip(b))
}
