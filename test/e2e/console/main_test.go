// Package console_test runs the web console's REST API (console/backend)
// against the dev cluster with our manager and its admission webhooks. The
// console acts with the bearer tokens the tests send: real ServiceAccount
// tokens (TokenRequest) of a team-a member, a team-b member and a platform
// admin, which the real apiserver authenticates and its RBAC authorizer
// judges; its job index runs as the console's own ServiceAccount with the
// RBAC the product ships for it.
package console_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mpijob-platform/mpijob-platform/console/backend"
	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

var (
	env     *framework.Env
	console *httptest.Server
)

func init() {
	if err := kubeflow.AddToScheme(framework.Scheme); err != nil {
		panic(err)
	}
}

// startJobIndex runs the console's job index as the console's
// ServiceAccount, with the RBAC the product ships for it.
func startJobIndex(ctx context.Context, e *framework.Env) (*backend.JobIndex, error) {
	const ns = "console-system"
	sa, err := e.InstallIdentity(ctx, framework.RoleConsole, ns)
	if err != nil {
		return nil, err
	}
	kubeconfig, err := e.TokenKubeconfig(ns, sa)
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	// The authorizer learns of the new binding asynchronously.
	deadline := time.Now().Add(time.Minute)
	for {
		if jobs := backend.StartJobIndex(ctx, cfg, logr.Discard()); jobs != nil {
			syncCtx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if !jobs.WaitSynced(syncCtx) {
				return nil, errors.New("the console's job index did not sync in a minute")
			}
			return jobs, nil
		}
		if time.Now().After(deadline) {
			return nil, errors.New("the console's ServiceAccount may not list and watch MPIJobs a minute after its binding")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestMain(m *testing.M) {
	// The isolation and quota checks need neither Kueue nor many nodes:
	// two GPU nodes run the small jobs, the webhooks' quota pre-check
	// reads ResourceQuotas.
	os.Exit(framework.RunWithCluster(m, framework.ClusterOptions{
		WithoutKueue: true,
		GPUNodes:     2,
		CPUNodes:     1,
		CRDDirs:      []string{"config/crd/bases"},
		Setup: func(e *framework.Env) (func(), error) {
			manager, err := framework.StartManagerWithWebhooks(e, "--role=mpijob-controller")
			if err != nil {
				return nil, err
			}
			// The job list is served, as shipped, from the index the
			// console feeds with its own ServiceAccount's token.
			ctx, stop := context.WithCancel(context.Background())
			jobs, err := startJobIndex(ctx, e)
			if err != nil {
				stop()
				manager.Stop()
				return nil, err
			}
			console = httptest.NewServer(backend.New(backend.Options{Clients: backend.NewClientFactory(e.Config), Jobs: jobs}).Handler())
			return func() { console.Close(); stop(); manager.Stop() }, nil
		},
	}, &env))
}
