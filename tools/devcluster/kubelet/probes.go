package kubelet

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Probes: readiness, liveness and startup probes of the running containers,
// as the kubelet runs them. tcpSocket and httpGet connect from inside the
// pod's network namespace; exec runs the command in the container's
// namespaces (nsenter) as the container's user.

// probeResults is what the probes of one container run found so far.
type probeResults struct {
	mu      sync.Mutex
	ready   bool // readiness (true when there is no readiness probe)
	started bool // startup (true when there is no startup probe)
}

func (r *probeResults) get() (ready, started bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready, r.started
}

// startProbes runs the container's probes until ctx ends. onChange is
// called when readiness changes; kill is called when liveness (or startup)
// fails failureThreshold times in a row.
func (w *podWorker) startProbes(ctx context.Context, c *ctr, pid int, uid, gid uint32, onChange, kill func()) *probeResults {
	res := &probeResults{ready: c.spec.ReadinessProbe == nil, started: c.spec.StartupProbe == nil}
	run := func(p *corev1.Probe, kind string) {
		if p == nil {
			return
		}
		go w.probeLoop(ctx, c, p, kind, pid, uid, gid, res, onChange, kill)
	}
	run(c.spec.StartupProbe, "startup")
	run(c.spec.ReadinessProbe, "readiness")
	run(c.spec.LivenessProbe, "liveness")
	return res
}

func (w *podWorker) probeLoop(ctx context.Context, c *ctr, p *corev1.Probe, kind string, pid int, uid, gid uint32,
	res *probeResults, onChange, kill func()) {
	period := time.Duration(max(p.PeriodSeconds, 1)) * time.Second
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	success, failure := int(max(p.SuccessThreshold, 1)), int(max(p.FailureThreshold, 3))
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Duration(p.InitialDelaySeconds) * time.Second):
	}
	okRun, failRun := 0, 0
	for {
		if kind != "startup" {
			// Readiness and liveness wait for the startup probe.
			if _, started := res.get(); !started {
				select {
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
		}
		err := w.probeOnce(ctx, c, p, pid, uid, gid, timeout)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			okRun, failRun = okRun+1, 0
		} else {
			okRun, failRun = 0, failRun+1
		}
		switch kind {
		case "readiness":
			res.mu.Lock()
			before := res.ready
			if okRun >= success {
				res.ready = true
			} else if failRun >= failure {
				res.ready = false
			}
			changed := before != res.ready
			res.mu.Unlock()
			if changed {
				onChange()
			}
		case "startup":
			if okRun >= 1 {
				res.mu.Lock()
				res.started = true
				res.mu.Unlock()
				onChange()
				return
			}
			if failRun >= failure {
				w.logf("container %s: startup probe failed %d times: %v", c.spec.Name, failRun, err)
				kill()
				return
			}
		case "liveness":
			if failRun >= failure {
				w.logf("container %s: liveness probe failed %d times: %v", c.spec.Name, failRun, err)
				kill()
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(period):
		}
	}
}

// probeOnce runs one check of the probe.
func (w *podWorker) probeOnce(ctx context.Context, c *ctr, p *corev1.Probe, pid int, uid, gid uint32, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	w.hostsMu.Lock()
	ip := w.hostsIP
	w.hostsMu.Unlock()
	netns := "/run/netns/" + w.k.net.podNetns(string(w.uid))
	switch {
	case p.TCPSocket != nil:
		port, err := probePort(c, p.TCPSocket.Port)
		if err != nil {
			return err
		}
		host := p.TCPSocket.Host
		if host == "" {
			host = ip
		}
		conn, err := dialInNetns(netns, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	case p.HTTPGet != nil:
		port, err := probePort(c, p.HTTPGet.Port)
		if err != nil {
			return err
		}
		host := p.HTTPGet.Host
		if host == "" {
			host = ip
		}
		scheme := "http"
		if p.HTTPGet.Scheme == corev1.URISchemeHTTPS {
			return fmt.Errorf("httpGet probes over HTTPS are not supported by the process runtime")
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port))+p.HTTPGet.Path, nil)
		if err != nil {
			return err
		}
		for _, h := range p.HTTPGet.HTTPHeaders {
			req.Header.Add(h.Name, h.Value)
		}
		client := &http.Client{Transport: &http.Transport{
			DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
				return dialInNetns(netns, network, addr)
			},
			DisableKeepAlives: true,
		}}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	case p.Exec != nil:
		if len(p.Exec.Command) == 0 {
			return fmt.Errorf("exec probe without a command")
		}
		args := append([]string{"--target", strconv.Itoa(pid), "--mount", "--uts", "--ipc", "--net", "--pid",
			"--setuid", strconv.Itoa(int(uid)), "--setgid", strconv.Itoa(int(gid)), "--"}, p.Exec.Command...)
		out, err := exec.CommandContext(ctx, "nsenter", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}
	return fmt.Errorf("probe without a handler (exec, httpGet or tcpSocket)")
}

// probePort resolves a probe's port, by number or by the container's port
// name.
func probePort(c *ctr, port intstr.IntOrString) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	for _, p := range c.spec.Ports {
		if p.Name == port.StrVal {
			return int(p.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("container %s has no port named %q", c.spec.Name, port.StrVal)
}
