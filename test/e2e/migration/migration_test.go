// Package migration_test proves that a cluster running Kubeflow's
// mpi-operator v0.8.0 switches to our controller without restarting its
// running jobs: the real upstream controller (built from its Go module)
// starts a job, is stopped, our CRD replaces upstream's, our manager starts
// and adopts the children upstream made; no pod is recreated and the job
// finishes under our controller.
//
// Upstream's health server binds :8080 on every interface with no flag to
// change it, so the whole suite (cluster included) re-runs itself inside a
// network namespace that has only a loopback interface, as `make bench`
// does. The Go module proxy is out of reach there: every build and download
// (the control plane, upstream's binary and module, the manager's modules)
// happens before, and the run inside gets GOPROXY=off and the paths.
package migration_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// insideEnv marks the run inside the network namespace; the outer run
// passes upstream's paths in the other three.
const (
	insideEnv         = "MIGRATION_TEST_NETNS"
	upstreamBinaryEnv = "MIGRATION_UPSTREAM_BINARY"
	upstreamCRDDirEnv = "MIGRATION_UPSTREAM_CRD_DIR"
	upstreamModuleEnv = "MIGRATION_UPSTREAM_MODULE_DIR"
)

var env *framework.Env

func init() {
	if err := kubeflow.AddToScheme(framework.Scheme); err != nil {
		panic(err)
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(insideEnv) == "" {
		upstream, err := framework.PrepareForNetns(context.Background(), true, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "migration: building before entering the network namespace:", err)
			os.Exit(1)
		}
		os.Exit(reexecInNetns(upstream))
	}
	// No Kueue and no CRDs: the test installs upstream's CRD first, as a
	// cluster running mpi-operator has it.
	os.Exit(framework.RunWithCluster(m, framework.ClusterOptions{
		WithoutKueue: true, GPUNodes: 1, CPUNodes: 1,
		// A namespace with only loopback has no address to advertise.
		APIServerArgs: []string{"--advertise-address=10.255.255.254"},
	}, &env))
}

// reexecInNetns runs this test binary again in a new network namespace with
// only loopback up, and returns its exit code.
func reexecInNetns(upstream *framework.Upstream) int {
	args := []string{"--net"}
	if os.Geteuid() != 0 {
		args = append(args, "--map-root-user")
	}
	args = append(args, "sh", "-c", `ip link set lo up && exec "$0" "$@"`)
	args = append(args, os.Args...)
	cmd := exec.Command("unshare", args...)
	cmd.Stdout, cmd.Stderr, cmd.Stdin = os.Stdout, os.Stderr, os.Stdin
	cmd.Env = append(os.Environ(), insideEnv+"=1", framework.OfflineGoEnv,
		upstreamBinaryEnv+"="+upstream.Binary, upstreamCRDDirEnv+"="+upstream.CRDDir, upstreamModuleEnv+"="+upstream.ModuleDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "migration: running the suite in a network namespace:", err)
		return 1
	}
	return 0
}

func applyCRD(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(data, crd); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	existing := &apiextensionsv1.CustomResourceDefinition{}
	err = env.Client.Get(ctx, client.ObjectKeyFromObject(crd), existing)
	switch {
	case apierrors.IsNotFound(err):
		err = env.Client.Create(ctx, crd)
	case err == nil:
		crd.ResourceVersion = existing.ResourceVersion
		err = env.Client.Update(ctx, crd)
	}
	if err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, framework.DefaultTimeout, "the CRD established", func(ctx context.Context) (bool, string, error) {
		got := &apiextensionsv1.CustomResourceDefinition{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(crd), got); err != nil {
			return false, "", err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return got.Generation == got.Status.ObservedGeneration || got.Status.ObservedGeneration == 0, "", nil
			}
		}
		return false, "not established", nil
	})
}

// podUIDs maps the job's pod names to their UIDs.
func podUIDs(t *testing.T, job string) map[string]types.UID {
	t.Helper()
	pods := &corev1.PodList{}
	if err := env.Client.List(context.Background(), pods, client.InNamespace("default"), client.MatchingLabels{kubeflow.JobNameLabel: job}); err != nil {
		t.Fatal(err)
	}
	out := map[string]types.UID{}
	for _, p := range pods.Items {
		out[p.Name] = p.UID
	}
	return out
}

func TestRunningJobsSurviveTheSwitchFromUpstream(t *testing.T) {
	ctx := context.Background()
	repo, err := cluster.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// Built and downloaded by TestMain outside the network namespace.
	bin, upstreamCRDs, upstreamModule := os.Getenv(upstreamBinaryEnv), os.Getenv(upstreamCRDDirEnv), os.Getenv(upstreamModuleEnv)
	if bin == "" || upstreamCRDs == "" || upstreamModule == "" {
		t.Fatalf("%s, %s and %s are unset: TestMain prepares them before entering the network namespace", upstreamBinaryEnv, upstreamCRDDirEnv, upstreamModuleEnv)
	}
	applyCRD(t, filepath.Join(upstreamCRDs, "kubeflow.org_mpijobs.yaml"))
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mpi-operator"}}); err != nil {
		t.Fatal(err)
	}

	// Upstream runs the job until all its workers and its launcher run.
	upstream := exec.Command(bin, "--kubeConfig="+env.Kubeconfig, "--lock-namespace=mpi-operator", "--threadiness=2")
	logFile, err := os.Create(filepath.Join(env.Cluster.Dir, "logs", "upstream-mpi-operator.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	upstream.Stdout, upstream.Stderr = logFile, logFile
	upstream.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := upstream.Start(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(upstreamModule, "examples", "v2beta1", "pi", "pi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	job := &kubeflow.MPIJob{}
	if err := yaml.UnmarshalStrict(data, job); err != nil {
		t.Fatal(err)
	}
	job.Namespace = "default"
	job.Spec.RunPolicy.TTLSecondsAfterFinished = nil
	// The launcher "runs" for 40 s once Running: long enough to switch controllers mid-run.
	job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Annotations = map[string]string{cluster.FinishAfterAnnotation: "40s"}
	if err := env.Client.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, framework.DefaultTimeout, "upstream runs the job: 2 workers and the launcher Running", func(ctx context.Context) (bool, string, error) {
		pods := &corev1.PodList{}
		if err := env.Client.List(ctx, pods, client.InNamespace("default"), client.MatchingLabels{kubeflow.JobNameLabel: job.Name}); err != nil {
			return false, "", err
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == 3, fmt.Sprintf("%d of 3 pods Running", running), nil
	})
	_ = upstream.Process.Signal(syscall.SIGTERM)
	_ = upstream.Wait()
	before := podUIDs(t, job.Name)

	// Switch: our CRD over upstream's, then our controller.
	applyCRD(t, filepath.Join(repo, "config", "crd", "bases", "kubeflow.org_mpijobs.yaml"))
	ours, err := framework.StartManager(env, "--role=mpijob-controller")
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Stop()

	framework.Eventually(t, 2*framework.DefaultTimeout, "our controller finishes the job upstream started", func(ctx context.Context) (bool, string, error) {
		got := &kubeflow.MPIJob{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(job), got); err != nil {
			return false, "", err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == kubeflow.JobSucceeded && c.Status == corev1.ConditionTrue {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("conditions %+v", got.Status.Conditions), nil
	})
	after := podUIDs(t, job.Name)
	// pi.yaml's cleanPodPolicy Running deletes the workers at the end; a pod
	// may be gone, never replaced.
	for name, uid := range before {
		if gone := after[name] == "" && ptr.Deref(job.Spec.RunPolicy.CleanPodPolicy, "") == kubeflow.CleanPodPolicyRunning; after[name] != uid && !gone {
			t.Errorf("pod %s was recreated or lost: %s before, %q after", name, uid, after[name])
		}
	}
	for name := range after {
		if _, existed := before[name]; !existed {
			t.Errorf("our controller created pod %s although upstream's were there", name)
		}
	}
	t.Logf("pods before the switch: %v; after the job finished: %v", before, after)
	if t.Failed() {
		events := &corev1.EventList{}
		if err := env.Client.List(ctx, events, client.InNamespace("default")); err == nil {
			for _, e := range events.Items {
				t.Logf("event %s %s/%s %s: %s (%s)", e.LastTimestamp.Format("15:04:05"), e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message, e.Source.Component+e.ReportingController)
			}
		}
	}
}
