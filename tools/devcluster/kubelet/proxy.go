package kubelet

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// podProxy serves GET /podProxy/<namespace>/<pod>/<port>/<path>: an HTTP
// request to the pod's address and port, made from inside the pod network
// (which the host cannot route to). It is how a scraper on 127.0.0.1 (the
// observability e2e's Prometheus) reaches what a pod serves, the role the
// API server's pod proxy plays in a real cluster.
func (k *Kubelet) podProxy(rw http.ResponseWriter, r *http.Request) {
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/podProxy/"), "/", 4)
	if len(parts) < 3 {
		http.Error(rw, "want /podProxy/<namespace>/<pod>/<port>/<path>", http.StatusBadRequest)
		return
	}
	port, err := strconv.Atoi(parts[2])
	if err != nil || port <= 0 || port > 65535 {
		http.Error(rw, fmt.Sprintf("port %q is not a port number", parts[2]), http.StatusBadRequest)
		return
	}
	w := k.worker(parts[0], parts[1])
	if w == nil {
		http.Error(rw, fmt.Sprintf("pod %s/%s is not on this node", parts[0], parts[1]), http.StatusNotFound)
		return
	}
	w.hostsMu.Lock()
	ip := w.hostsIP
	w.hostsMu.Unlock()
	if ip == "" {
		http.Error(rw, fmt.Sprintf("pod %s/%s has no address yet", parts[0], parts[1]), http.StatusServiceUnavailable)
		return
	}
	netns := "/run/netns/" + k.net.podNetns(string(w.uid))
	target := &url.URL{Scheme: "http", Host: net.JoinHostPort(ip, strconv.Itoa(port))}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialInNetns(netns, network, addr)
		},
		DisableKeepAlives: true,
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/"
	if len(parts) == 4 {
		r2.URL.Path += parts[3]
	}
	r2.URL.RawPath = ""
	proxy.ServeHTTP(rw, r2)
}

// dialInNetns opens a TCP connection from inside a network namespace: the
// socket is made while this goroutine's thread has entered the namespace,
// and a socket stays in the namespace it was made in.
func dialInNetns(netns, network, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	host, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer host.Close()
	target, err := os.Open(netns)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("entering %s: %w", netns, err)
	}
	conn, dialErr := net.DialTimeout(network, addr, 5*time.Second)
	if err := unix.Setns(int(host.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread is stuck in the pod's network: keep it locked, so
		// that it ends with this goroutine instead of serving others.
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("leaving %s: %w", netns, err)
	}
	runtime.UnlockOSThread()
	return conn, dialErr
}
