// Package platform_test runs the platform operator end to end on the dev
// cluster: one manager process with --role=all (the platform reconciler,
// the MPIJob controller and its webhooks, as `make demo` runs it) installs
// every component from the MPIJobPlatform; the controller Deployment it
// creates runs on kwok nodes, its ClusterQueues become Active in the real
// Kueue, and MPIJobs run through the queues it made.
package platform_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

const platformNamespace = "mpijob-system"

var (
	env     *framework.Env
	manager *framework.Manager
)

func init() {
	if err := errors.Join(kubeflow.AddToScheme(framework.Scheme), kueue.AddToScheme(framework.Scheme), platformv1.AddToScheme(framework.Scheme)); err != nil {
		panic(err)
	}
}

func TestMain(m *testing.M) {
	os.Exit(framework.RunWithCluster(m, framework.ClusterOptions{
		CRDDirs: []string{"config/crd/bases"},
		Setup: func(e *framework.Env) (func(), error) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: platformNamespace}}
			if err := e.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
				return nil, err
			}
			ports, err := cluster.FreePorts(1)
			if err != nil {
				return nil, err
			}
			certDir, err := os.MkdirTemp("", "webhook-certs-")
			if err != nil {
				return nil, err
			}
			manager, err = framework.StartManager(e, "--role=all", "--namespace="+platformNamespace,
				"--webhook-bind-address=127.0.0.1:"+strconv.Itoa(ports[0]), "--webhook-cert-dir="+certDir,
				"--webhook-cert-secret="+platformNamespace+"/mpijob-webhook-cert", "--webhook-cert-names=127.0.0.1")
			if err != nil {
				return nil, err
			}
			return manager.Stop, nil
		},
	}, &env))
}
