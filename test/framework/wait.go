package framework

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// DefaultTimeout is how long Eventually waits unless told otherwise. It is
// a failure bound, never a performance assertion.
const DefaultTimeout = 90 * time.Second

// Eventually polls cond every 100 ms until it returns true or timeout passes,
// then fails the test with the last detail cond gave.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) (bool, string, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var detail string
	for {
		ok, d, err := cond(ctx)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		detail = d
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s; last state: %s", timeout, what, detail)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// CreateNamespace creates a uniquely named namespace for one test and
// deletes it when the test ends.
func (e *Env) CreateNamespace(t testing.TB, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: prefix + "-" + rand.String(5)}}
	if err := e.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() { _ = e.Client.Delete(context.Background(), ns) })
	return ns.Name
}

// CreateRealNamespace is CreateNamespace for pods that must really run:
// every pod of the namespace goes to the cluster's process nodes (see
// ClusterOptions.ProcessNodes), whatever its manifest says.
func (e *Env) CreateRealNamespace(t testing.TB, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: prefix + "-" + rand.String(5), Annotations: cluster.RealNamespaceAnnotations()}}
	if err := e.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() { _ = e.Client.Delete(context.Background(), ns) })
	return ns.Name
}
