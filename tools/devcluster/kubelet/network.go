package kubelet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// The pod network: one network namespace per pod, each with a veth pair
// whose other end is a port of a bridge that lives in a private network
// namespace of its own. Pod addresses exist only inside these namespaces;
// nothing is routed to or from the host's interfaces.
type network struct {
	prefix string // names of this runtime's namespaces start with it
	bridge string // the bridge's namespace
	subnet *net.IPNet

	mu   sync.Mutex
	used map[string]bool // addresses in use
	next uint32
}

// PodCIDR is the pods' private range (a /16; .0.0 and .0.1 are skipped).
const PodCIDR = "10.244.0.0/16"

// NetnsPrefix is the prefix of every network namespace of the runtime
// whose state lives in dir: unique per cluster, so clusters side by side
// (parallel test packages) never share names.
func NetnsPrefix(dir string) string {
	sum := sha256.Sum256([]byte(filepath.Clean(dir)))
	return "dck" + hex.EncodeToString(sum[:])[:6] + "-"
}

func newNetwork(ctx context.Context, dir string) (*network, error) {
	_, subnet, _ := net.ParseCIDR(PodCIDR)
	n := &network{prefix: NetnsPrefix(dir), subnet: subnet, used: map[string]bool{}, next: 2}
	n.bridge = n.prefix + "br"
	// Whatever an earlier run of this runtime left goes first.
	if err := RemoveNetworks(ctx, dir); err != nil {
		return nil, err
	}
	if err := ipBatch(ctx, "", "netns add "+n.bridge); err != nil {
		return nil, fmt.Errorf("creating the pod network: %w", err)
	}
	if err := ipBatch(ctx, n.bridge, "link set lo up", "link add br0 type bridge", "link set br0 up"); err != nil {
		return nil, fmt.Errorf("creating the pod network: %w", err)
	}
	return n, nil
}

// podNetns is the name of a pod's network namespace.
func (n *network) podNetns(uid string) string { return n.prefix + uid[:8] }

// add creates the pod's namespace, wires it to the bridge and returns its
// address.
func (n *network) add(ctx context.Context, uid string) (string, error) {
	ip, err := n.allocate()
	if err != nil {
		return "", err
	}
	ns := n.podNetns(uid)
	host := "v" + strings.TrimPrefix(ns, "dck")
	if len(host) > 15 {
		host = host[:15]
	}
	ones, _ := n.subnet.Mask.Size()
	err = ipBatch(ctx, "", "netns add "+ns)
	if err == nil {
		err = ipBatch(ctx, n.bridge, "link add "+host+" type veth peer name eth0 netns "+ns, "link set "+host+" master br0 up")
	}
	if err == nil {
		err = ipBatch(ctx, ns, "link set lo up", fmt.Sprintf("addr add %s/%d dev eth0", ip, ones), "link set eth0 up")
	}
	if err != nil {
		_ = n.remove(ctx, uid, ip)
		return "", err
	}
	return ip, nil
}

// remove deletes the pod's namespace (which takes its veth pair with it)
// and frees the address.
func (n *network) remove(ctx context.Context, uid, ip string) error {
	n.mu.Lock()
	delete(n.used, ip)
	n.mu.Unlock()
	ns := n.podNetns(uid)
	if _, err := os.Stat(filepath.Join("/run/netns", ns)); err != nil {
		return nil
	}
	return ipBatch(ctx, "", "netns del "+ns)
}

func (n *network) allocate() (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	base := n.subnet.IP.To4()
	size := uint32(1) << 16
	for tries := uint32(0); tries < size; tries++ {
		off := n.next
		n.next++
		if n.next >= size-1 {
			n.next = 2
		}
		ip := net.IPv4(base[0], base[1], byte(off>>8), byte(off)).String()
		if off&0xff == 0 || off&0xff == 0xff || n.used[ip] {
			continue
		}
		n.used[ip] = true
		return ip, nil
	}
	return "", fmt.Errorf("pod network %s is full", PodCIDR)
}

// Networks lists the network namespaces of the runtime in dir.
func Networks(dir string) []string {
	prefix := NetnsPrefix(dir)
	entries, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// RemoveNetworks deletes every network namespace of the runtime in dir
// (cluster-down, and a new runtime's start, clean up after a crash).
func RemoveNetworks(ctx context.Context, dir string) error {
	var cmds []string
	for _, ns := range Networks(dir) {
		cmds = append(cmds, "netns del "+ns)
	}
	if len(cmds) == 0 {
		return nil
	}
	return ipBatch(ctx, "", cmds...)
}

// ipBatch runs ip commands in one process, in network namespace ns (the
// host's when empty).
func ipBatch(ctx context.Context, ns string, cmds ...string) error {
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(cmds, "; "), err, strings.TrimSpace(out.String()))
	}
	return nil
}
