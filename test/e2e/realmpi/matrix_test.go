package realmpi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1alpha1 "github.com/mpijob-platform/mpijob-platform/operator/api/config/v1alpha1"
	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

// TestSSHKeyTypes runs the pi job with each key type the controller can
// make, against real sshd: the worker's sshd uses the Secret's private key
// as its host key and its public key as authorized_keys.
func TestSSHKeyTypes(t *testing.T) {
	for _, tc := range []struct{ keyType, publicPrefix string }{
		{"ecdsa", "ecdsa-sha2-nistp521 "},
		{"rsa", "ssh-rsa "},
		{"ed25519", "ssh-ed25519 "},
	} {
		t.Run(tc.keyType, func(t *testing.T) {
			restartManager(t, func(c *configv1alpha1.ControllerConfiguration) { c.SSHKeyType = tc.keyType })
			ns := env.CreateRealNamespace(t, "keys-"+tc.keyType)
			job := framework.UpstreamExample(t, "pi/pi.yaml")
			job.Namespace = ns
			log := runToSuccess(t, job)
			checkPi(t, log, "Open MPI v4.", job.Name, 2)
			secret := &corev1.Secret{}
			if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: job.Name + "-ssh"}, secret); err != nil {
				t.Fatal(err)
			}
			if pub := string(secret.Data["ssh-publickey"]); !strings.HasPrefix(pub, tc.publicPrefix) {
				t.Errorf("public key %q is not %s", pub, strings.TrimSpace(tc.publicPrefix))
			}
		})
	}
}

// restartManager runs the suite's controller with another configuration
// until the test ends, then as before.
func restartManager(t *testing.T, mutate func(*configv1alpha1.ControllerConfiguration)) {
	t.Helper()
	config := func(mutate func(*configv1alpha1.ControllerConfiguration)) string {
		arg, err := framework.ControllerConfig(func(c *configv1alpha1.ControllerConfiguration) {
			c.NetworkPolicy = true
			if mutate != nil {
				mutate(c)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return arg
	}
	manager.Stop()
	m, err := framework.StartManager(env, "--role=mpijob-controller", config(mutate))
	if err != nil {
		t.Fatal(err)
	}
	manager = m
	t.Cleanup(func() {
		manager.Stop()
		m, err := framework.StartManager(env, "--role=mpijob-controller", config(nil))
		if err != nil {
			t.Fatal(err)
		}
		manager = m
	})
}

// TestNonRootWithFSGroup runs the pi job as mpiuser with an fsGroup: the
// Secret's files are group-owned by it, and both ssh (private key) and
// sshd (host key, authorized_keys) accept them.
func TestNonRootWithFSGroup(t *testing.T) {
	ns := env.CreateRealNamespace(t, "fsgroup")
	job := framework.UpstreamExample(t, "pi/pi.yaml")
	job.Namespace = ns
	for _, spec := range job.Spec.MPIReplicaSpecs {
		spec.Template.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr.To[int64](1000), RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](1000)}
	}
	log := runToSuccess(t, job)
	checkPi(t, log, "Open MPI v4.", job.Name, 2)
}

// TestRunLauncherAsWorker makes the launcher a rank too: three ranks on the
// launcher and two workers.
func TestRunLauncherAsWorker(t *testing.T) {
	ns := env.CreateRealNamespace(t, "launcher-worker")
	job := framework.UpstreamExample(t, "pi/pi.yaml")
	job.Namespace = ns
	job.Spec.RunLauncherAsWorker = ptr.To(true)
	launcher := &job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Spec.Containers[0]
	launcher.Args = []string{"-n", "3", "/home/mpiuser/pi"}
	log := runToSuccess(t, job)
	checkPiHosts(t, log, "Open MPI v4.", job.Name, 3, job.Name+"-")
	if !strings.Contains(log, "on host "+job.Name+"-launcher\n") {
		t.Errorf("no rank ran on the launcher:\n%s", log)
	}
}

// TestWorkerFailureDiagnosed: a worker process that exits non-zero fails
// the job with the controller's diagnosis, naming the worker and its code.
func TestWorkerFailureDiagnosed(t *testing.T) {
	ns := env.CreateRealNamespace(t, "worker-fails")
	job := framework.UpstreamExample(t, "pi/pi.yaml")
	job.Namespace = ns
	worker := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker]
	worker.RestartPolicy = kubeflow.RestartPolicyNever
	c := &worker.Template.Spec.Containers[0]
	c.Command = []string{"sh", "-c", "echo loading shard failed >&2; sleep 2; exit 3"}
	c.Args = nil
	c.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	launcher := &job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Spec.Containers[0]
	launcher.Command, launcher.Args = []string{"sleep", "300"}, nil
	if err := env.Client.Create(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	failed := waitFailed(t, job)
	if failed.Reason != "WorkerFailed" || !strings.Contains(failed.Message, "exited with code 3") || !strings.Contains(failed.Message, "loading shard failed") {
		t.Errorf("Failed condition %s: %q; want WorkerFailed naming exit code 3 and the worker's last words", failed.Reason, failed.Message)
	}
}

// waitFailed waits until the job has failed and returns its Failed
// condition.
func waitFailed(t *testing.T, job *kubeflow.MPIJob) *kubeflow.JobCondition {
	t.Helper()
	var failed *kubeflow.JobCondition
	framework.Eventually(t, realTimeout, "MPIJob "+job.Name+" Failed", func(ctx context.Context) (bool, string, error) {
		got := &kubeflow.MPIJob{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(job), got); err != nil {
			return false, "", err
		}
		for i, c := range got.Status.Conditions {
			if c.Type == kubeflow.JobFailed && c.Status == corev1.ConditionTrue {
				failed = &got.Status.Conditions[i]
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("conditions %+v", got.Status.Conditions), nil
	})
	return failed
}

// TestElasticDiscoverHosts: while the launcher runs, scaling the workers
// changes what discover_hosts.sh prints inside it (the ConfigMap volume
// follows the ConfigMap), and the launcher is never restarted: Horovod's
// elastic contract.
func TestElasticDiscoverHosts(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateRealNamespace(t, "elastic")
	job := framework.UpstreamExample(t, "pi/pi.yaml")
	job.Namespace = ns
	launcher := &job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Spec.Containers[0]
	launcher.Command = []string{"sh", "-c", `while true; do echo "hosts: $(/etc/mpi/discover_hosts.sh | sort | tr '\n' ' ')"; sleep 0.5; done`}
	launcher.Args = nil
	if err := env.Client.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	host := func(i int) string { return fmt.Sprintf("%s-worker-%d.%s.%s.svc", job.Name, i, job.Name, ns) }
	launcherPod := func() *corev1.Pod {
		pods := &corev1.PodList{}
		if err := env.Client.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{kubeflow.JobRoleLabel: kubeflow.RoleLauncher}); err != nil || len(pods.Items) != 1 {
			return nil
		}
		return &pods.Items[0]
	}
	waitHosts := func(want ...string) {
		t.Helper()
		line := "hosts: " + strings.Join(want, " ") + " "
		framework.Eventually(t, realTimeout, "discover_hosts.sh printing "+strings.Join(want, ","), func(ctx context.Context) (bool, string, error) {
			p := launcherPod()
			if p == nil {
				return false, "no launcher pod", nil
			}
			data, err := env.Clientset.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{TailLines: ptr.To[int64](1)}).DoRaw(ctx)
			if err != nil {
				return false, err.Error(), nil
			}
			return strings.TrimRight(string(data), "\n") == strings.TrimRight(line, "\n"), string(data), nil
		})
	}
	waitHosts(host(0), host(1))
	first := launcherPod()
	scale := func(n int32) {
		t.Helper()
		cur := &kubeflow.MPIJob{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(job), cur); err != nil {
			t.Fatal(err)
		}
		cur.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Replicas = ptr.To(n)
		if err := env.Client.Update(ctx, cur); err != nil {
			t.Fatal(err)
		}
	}
	scale(3)
	waitHosts(host(0), host(1), host(2))
	scale(1)
	waitHosts(host(0))
	last := launcherPod()
	if last == nil || last.UID != first.UID {
		t.Fatalf("the launcher pod was replaced while the workers were scaled")
	}
	for _, cs := range last.Status.ContainerStatuses {
		if cs.RestartCount != 0 || cs.State.Running == nil {
			t.Errorf("launcher container %s: restarts %d, state %+v; want running without restarts", cs.Name, cs.RestartCount, cs.State)
		}
	}
	if err := env.Client.Delete(ctx, job); err != nil {
		t.Fatal(err)
	}
}
