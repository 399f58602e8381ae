package framework

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// Balancer stands in for the webhook Service: a TCP proxy on 127.0.0.1
// that spreads connections over the endpoints it is given, round-robin,
// as kube-proxy does for a Service's ready endpoints. With no endpoints it
// refuses connections, as a Service without endpoints does.
type Balancer struct {
	Addr string
	ln   net.Listener

	mu        sync.Mutex
	endpoints []string
	next      int
	conns     map[net.Conn]bool
}

// NewBalancer listens on a free loopback port.
func NewBalancer() (*Balancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &Balancer{Addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]bool{}}
	go b.serve()
	return b, nil
}

// SetEndpoints replaces the endpoints; open connections stay.
func (b *Balancer) SetEndpoints(addrs ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.endpoints = append([]string(nil), addrs...)
}

// Close stops listening and closes every proxied connection.
func (b *Balancer) Close() {
	_ = b.ln.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.conns {
		_ = c.Close()
	}
}

func (b *Balancer) pick() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.endpoints) == 0 {
		return ""
	}
	b.next = (b.next + 1) % len(b.endpoints)
	return b.endpoints[b.next]
}

func (b *Balancer) track(c net.Conn, open bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if open {
		b.conns[c] = true
	} else {
		delete(b.conns, c)
	}
}

func (b *Balancer) serve() {
	for {
		in, err := b.ln.Accept()
		if err != nil {
			return
		}
		go b.proxy(in)
	}
}

func (b *Balancer) proxy(in net.Conn) {
	defer in.Close()
	addr := b.pick()
	if addr == "" {
		return // no endpoints: the connection is closed at once
	}
	out, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return
	}
	defer out.Close()
	b.track(in, true)
	b.track(out, true)
	defer b.track(in, false)
	defer b.track(out, false)
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(out, in)
	go cp(in, out)
	<-done
	<-done
}

// Replicas are the MPIJob controller's replicas as the platform runs them:
// each its own process with leader election and the admission webhooks,
// all behind one webhook address (Webhooks).
type Replicas struct {
	Managers []*Manager
	Webhooks *Balancer
	hookAddr map[*Manager]string
}

// StartControllerReplicas starts n replicas of the MPIJob controller
// (role mpijob-controller, --leader-elect=true, webhooks on) named
// mpijob-controller-0..n-1, registers the platform's webhook
// configurations at a Balancer in front of their webhook ports, and
// waits until each is ready. args go to every replica.
func StartControllerReplicas(env *Env, n int, args ...string) (*Replicas, error) {
	lb, err := NewBalancer()
	if err != nil {
		return nil, err
	}
	if err := env.installWebhooksAt("https://" + lb.Addr); err != nil {
		lb.Close()
		return nil, err
	}
	r := &Replicas{Webhooks: lb, hookAddr: map[*Manager]string{}}
	ports, err := cluster.FreePorts(n)
	if err != nil {
		lb.Close()
		return nil, err
	}
	for i := range n {
		certDir, err := os.MkdirTemp(env.Cluster.Dir, "webhook-certs-")
		if err != nil {
			r.Stop()
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(ports[i])
		m, err := StartManagerReplica(env, fmt.Sprintf("%s-%d", RoleController, i), append([]string{
			"--role=" + RoleController,
			"--leader-elect=true",
			"--webhook-bind-address=" + addr,
			"--webhook-cert-dir=" + certDir,
			"--webhook-cert-secret=" + WebhookNamespace + "/mpijob-webhook-cert",
			"--webhook-cert-names=127.0.0.1",
		}, args...)...)
		if err != nil {
			r.Stop()
			return nil, err
		}
		r.Managers = append(r.Managers, m)
		r.hookAddr[m] = addr
	}
	r.ServeAll()
	return r, nil
}

// ServeAll makes every replica that runs a webhook endpoint again.
func (r *Replicas) ServeAll() {
	var addrs []string
	for _, m := range r.Managers {
		select {
		case <-m.Exited():
		default:
			addrs = append(addrs, r.hookAddr[m])
		}
	}
	r.Webhooks.SetEndpoints(addrs...)
}

// Serve sets the webhook endpoints to the given replicas only (a drained
// node's replica is no endpoint; none is a Service without endpoints).
func (r *Replicas) Serve(ms ...*Manager) {
	var addrs []string
	for _, m := range ms {
		addrs = append(addrs, r.hookAddr[m])
	}
	r.Webhooks.SetEndpoints(addrs...)
}

// Leader returns the replica whose name holds the controller's Lease, as
// the API server has it.
func (r *Replicas) Leader(ctx context.Context, env *Env) (*Manager, error) {
	holder, err := LeaseHolder(ctx, env, RoleController)
	if err != nil {
		return nil, err
	}
	for _, m := range r.Managers {
		if holderIs(holder, m.Name) {
			return m, nil
		}
	}
	return nil, fmt.Errorf("the Lease is held by %q, none of the replicas", holder)
}

// LeaseHolder is the holder identity of role's leader Lease in
// ProductNamespace ("" when free or absent).
func LeaseHolder(ctx context.Context, env *Env, role string) (string, error) {
	l, err := env.Clientset.CoordinationV1().Leases(ProductNamespace).Get(ctx, role+".mpijob.io", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if l.Spec.HolderIdentity == nil {
		return "", nil
	}
	return *l.Spec.HolderIdentity, nil
}

// holderIs reports whether a Lease holder identity (POD_NAME_uuid) is the
// replica's.
func holderIs(holder, name string) bool { return strings.HasPrefix(holder, name+"_") }

// Stop stops every replica and the balancer.
func (r *Replicas) Stop() {
	var wg sync.WaitGroup
	for _, m := range r.Managers {
		wg.Add(1)
		go func() { defer wg.Done(); m.Stop() }()
	}
	wg.Wait()
	r.Webhooks.Close()
}
