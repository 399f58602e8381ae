package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
)

// Process returns the running component called name (etcd, apiserver,
// controller-manager, scheduler, kwok, kueue, ...), or nil.
func (c *Cluster) Process(name string) *ProcessState {
	for _, p := range c.State.Processes {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Restart kills component name with sig (SIGTERM for a clean stop, SIGKILL
// for a crash), waits until it is gone, starts it again with the same
// command line, ports and data, and waits until it serves again. Its log
// goes on in the same file. Fault tests use it; the cluster's other
// components are left alone and must cope.
func (c *Cluster) Restart(ctx context.Context, name string, sig syscall.Signal) error {
	p := c.Process(name)
	if p == nil {
		return fmt.Errorf("cluster: no component %q", name)
	}
	_ = syscall.Kill(-p.PID, sig)
	_ = syscall.Kill(p.PID, sig)
	if err := waitGone(p, 15*time.Second); err != nil {
		if err := p.stop(0); err != nil {
			return err
		}
	}
	spec := processSpec{name: p.Name, path: p.Binary, argv: p.Command, ports: p.Ports, appendLog: true}
	next, err := startProcess(spec, filepath.Dir(p.Log), false)
	if err != nil {
		return err
	}
	*p = *next
	if err := c.saveState(); err != nil {
		return err
	}
	return c.waitServing(ctx, p)
}

func waitGone(p *ProcessState, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for p.Alive() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s (pid %d) still runs", p.Name, p.PID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// waitServing waits for a restarted component's health endpoint, where it
// has one the cluster knows; others must stay alive for a second.
func (c *Cluster) waitServing(ctx context.Context, p *ProcessState) error {
	insecure := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // local health endpoints with self-signed serving certs
	switch p.Name {
	case "etcd":
		return waitHTTP(ctx, p, "http://"+hostPort(p.Ports[0])+"/health", nil, time.Minute)
	case "kueue":
		return waitHTTP(ctx, p, "http://"+hostPort(p.Ports[1])+"/readyz", nil, time.Minute)
	case "controller-manager", "scheduler", "kwok":
		return waitHTTP(ctx, p, "https://"+hostPort(p.Ports[0])+"/healthz", insecure, time.Minute)
	case "apiserver":
		hc, err := rest.HTTPClientFor(c.Config)
		if err != nil {
			return err
		}
		deadline := time.Now().Add(time.Minute)
		for {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.State.APIServer+"/readyz", nil)
			if err != nil {
				return err
			}
			if resp, err := hc.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
			if !p.Alive() {
				return fmt.Errorf("apiserver exited after its restart:\n%s", p.logTail(20))
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("apiserver not ready a minute after its restart:\n%s", p.logTail(20))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Second):
	}
	if !p.Alive() {
		return fmt.Errorf("%s exited after its restart:\n%s", p.Name, p.logTail(20))
	}
	return nil
}
