// Package platform_test runs the platform operator end to end on the dev
// cluster, as installed: the platform operator and the MPIJob controller
// (with its webhooks) run as two managers, each as its own ServiceAccount
// with the RBAC the product ships; the operator installs every component
// from the MPIJobPlatform; the controller Deployment it
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
	"github.com/mpijob-platform/mpijob-platform/tools/packaging"
)

const platformNamespace = "mpijob-system"

var (
	env                  *framework.Env
	operator, controller *framework.Manager
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
			webhooks := "127.0.0.1:" + strconv.Itoa(ports[0])
			operator, err = framework.StartManager(e, "--role=platform", "--namespace="+platformNamespace,
				"--local-webhook-url=https://"+webhooks, "--manager-image="+packaging.DefaultImage)
			if err != nil {
				return nil, err
			}
			// The controller's identity is what the platform creates for it;
			// installed here as well so that it can start first.
			controller, err = framework.StartManager(e, "--role=mpijob-controller", "--namespace="+platformNamespace,
				"--webhook-bind-address="+webhooks, "--webhook-cert-dir="+certDir,
				"--webhook-cert-secret="+platformNamespace+"/mpijob-webhook-cert", "--webhook-cert-names=127.0.0.1")
			if err != nil {
				operator.Stop()
				return nil, err
			}
			return func() { controller.Stop(); operator.Stop() }, nil
		},
	}, &env))
}
