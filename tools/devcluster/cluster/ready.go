package cluster

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// readyTimeout bounds every wait of the start sequence.
const readyTimeout = 2 * time.Minute

// poll calls check every 100 ms until it reports done, fails, or readyTimeout
// passes; the last detail it gave ends up in the timeout error.
func poll(ctx context.Context, what string, check func() (done bool, detail string, err error)) error {
	deadline := time.Now().Add(readyTimeout)
	var detail string
	for {
		done, d, err := check()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		detail = d
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s: %s", readyTimeout, what, detail)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (%s)", what, ctx.Err(), detail)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitReady waits for what workloads need: every node Ready and the default
// service account, without which the apiserver refuses pods.
func (r *runner) waitReady(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(r.c.Config)
	if err != nil {
		return err
	}
	want := r.opts.GPUNodes + r.opts.CPUNodes + r.opts.ProcessNodes
	if err := poll(ctx, "nodes Ready", func() (bool, string, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		ready := CountReadyNodes(nodes.Items)
		return ready >= want, fmt.Sprintf("%d of %d nodes Ready", ready, want), nil
	}); err != nil {
		return err
	}
	return poll(ctx, "the default service account", func() (bool, string, error) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		return true, "", nil
	})
}

// CountReadyNodes counts nodes whose Ready condition is True.
func CountReadyNodes(nodes []corev1.Node) int {
	n := 0
	for _, node := range nodes {
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n
}

func (p *pki) caBundle() string { return base64.StdEncoding.EncodeToString(p.CAPEM) }

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
