// Package gang_test runs MPIJobs end to end with gang scheduling on the dev
// cluster: our manager with gangScheduling, our MPIJob CRD, scheduler-
// plugins' PodGroup CRD from the module version upstream mpi-operator pins,
// and no Volcano CRD. The real garbage collector removes PodGroups with
// their jobs. Each test starts its own manager and stops it when it ends:
// two controllers at once would fight over the same jobs.
package gang_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

var env *framework.Env

func init() {
	if err := kubeflow.AddToScheme(framework.Scheme); err != nil {
		panic(err)
	}
}

func TestMain(m *testing.M) {
	// One GPU node (8 GPUs) and one CPU node hold every job here; gang
	// scheduling needs no Kueue, and no CRD but the MPIJob's and the
	// PodGroup's.
	os.Exit(framework.RunWithCluster(m, framework.ClusterOptions{
		WithoutKueue: true,
		GPUNodes:     1,
		CPUNodes:     1,
		Setup: func(e *framework.Env) (func(), error) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			repo, err := cluster.FindRepoRoot()
			if err != nil {
				return nil, err
			}
			dir, err := framework.SchedulerPluginsDir(ctx)
			if err != nil {
				return nil, err
			}
			for _, path := range []string{
				filepath.Join(repo, "config", "crd", "bases", "kubeflow.org_mpijobs.yaml"),
				filepath.Join(dir, "config", "crd", "bases", "scheduling.x-k8s.io_podgroups.yaml"),
			} {
				if err := installCRD(ctx, e, path); err != nil {
					return nil, err
				}
			}
			return func() {}, nil
		},
	}, &env))
}

// installCRD creates the CRD in path and waits until it is served.
func installCRD(ctx context.Context, e *framework.Env, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(data, crd); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := e.Client.Create(ctx, crd); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating CRD %s: %w", crd.Name, err)
	}
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := e.Client.Get(ctx, client.ObjectKeyFromObject(crd), crd); err != nil {
			return false, err
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("CRD %s not established: %w", crd.Name, err)
	}
	return nil
}
