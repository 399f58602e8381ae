// Package faults_test breaks what the MPIJob controller depends on while
// jobs run, and checks that nothing is lost, duplicated or stuck: the
// controller killed and frozen, the API server and etcd restarted, the
// webhooks without endpoints or drained, Kueue restarted while it
// preempts, and a network that delays, cuts and fails requests.
//
// The controller runs as the platform ships it: two replicas, each as the
// mpijob-controller ServiceAccount with the shipped RBAC, leader election
// and the admission webhooks, behind one webhook address. Its requests go
// through a proxy the test owns (FaultProxy), which passes everything
// untouched except in the network case. Every case draws its choices from
// a fixed seed (FAULTS_SEED to replay another) and prints what it counted;
// FAULTS_JOBS and FAULTS_KILLS make the run longer (make soak).
package faults_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

var (
	env      *framework.Env
	replicas *framework.Replicas
	proxy    *framework.FaultProxy
)

func init() {
	if err := kubeflow.AddToScheme(framework.Scheme); err != nil {
		panic(err)
	}
}

func TestMain(m *testing.M) {
	code := framework.RunWithCluster(m, framework.ClusterOptions{
		CRDDirs: []string{"config/crd/bases"},
		Setup: func(e *framework.Env) (func(), error) {
			kc, err := e.ProductKubeconfig("--role=" + framework.RoleController)
			if err != nil {
				return nil, err
			}
			if proxy, err = framework.NewFaultProxy(e, seed()); err != nil {
				return nil, err
			}
			viaProxy, err := proxy.Kubeconfig(kc)
			if err != nil {
				return nil, err
			}
			if replicas, err = framework.StartControllerReplicas(e, 2, "--kubeconfig="+viaProxy); err != nil {
				return nil, err
			}
			return func() { replicas.Stop(); proxy.Close() }, nil
		},
	}, &env)
	printReports()
	os.Exit(code)
}

// seed is FAULTS_SEED, or the suite's fixed default.
func seed() uint64 {
	if s, err := strconv.ParseUint(os.Getenv("FAULTS_SEED"), 10, 64); err == nil {
		return s
	}
	return 20261207
}

// envInt is the integer in environment variable name, or def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// report is what one case counted.
type report struct {
	Case                       string
	Injected                   string
	Jobs                       int
	DuplicateCreates, PodsLeft int
	Stuck                      int
	WorstRecovery              string
	Extra                      string
}

var (
	reportsMu sync.Mutex
	reports   []report
)

func addReport(r report) {
	reportsMu.Lock()
	defer reportsMu.Unlock()
	reports = append(reports, r)
}

// printReports prints one table of every case's counts, for the issue
// note and docs/operations/faults.md.
func printReports() {
	reportsMu.Lock()
	defer reportsMu.Unlock()
	if len(reports) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nfault suite (seed %d):\n", seed())
	fmt.Fprintf(&b, "| case | injected | jobs | duplicate creates | pods left | jobs stuck | worst recovery | notes |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range reports {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %s | %s |\n", r.Case, r.Injected, r.Jobs, r.DuplicateCreates, r.PodsLeft, r.Stuck, r.WorstRecovery, r.Extra)
	}
	fmt.Fprint(os.Stderr, b.String())
}
