package realmpi_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

// The process runtime behaves like a kubelet where the product looks:
// statuses, restarts, logs, environment, volumes and deletion.

func createPod(t *testing.T, ns string, pod *corev1.Pod) {
	t.Helper()
	pod.Namespace = ns
	if _, err := env.Clientset.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitPod(t *testing.T, ns, name, what string, ok func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var got *corev1.Pod
	framework.Eventually(t, realTimeout, name+" "+what, func(ctx context.Context) (bool, string, error) {
		p, err := env.Clientset.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		got = p
		return ok(p), fmt.Sprintf("phase %s, statuses %+v", p.Status.Phase, p.Status.ContainerStatuses), nil
	})
	return got
}

func podLog(t *testing.T, ns, name string, opts *corev1.PodLogOptions) string {
	t.Helper()
	data, err := env.Clientset.CoreV1().Pods(ns).GetLogs(name, opts).DoRaw(context.Background())
	if err != nil {
		t.Fatalf("logs of %s: %v", name, err)
	}
	return string(data)
}

func TestRuntimeEnvironmentAndVolumes(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateRealNamespace(t, "runtime-env")
	if _, err := env.Clientset.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"mode": "fast", "file.txt": "from a configmap"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Clientset.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "token"}, Data: map[string][]byte{"value": []byte("s3cr3t")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	script := `echo "pod=$POD_NAME ns=$POD_NAMESPACE ip=$POD_IP mode=$MODE secret=$SECRET both=$BOTH host=$(hostname) uid=$(id -u) gid=$(id -g) groups=$(id -G) cwd=$(pwd)"
cat /config/file.txt; echo
ls -ln /secret/value | cut -d' ' -f1,3,4
cat /podinfo/labels
until [ -f /shared/ready ]; do sleep 0.1; done; cat /shared/ready`
	createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "env", Labels: map[string]string{"app": "probe"}},
		Spec: corev1.PodSpec{
			RestartPolicy:   corev1.RestartPolicyNever,
			SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000), FSGroup: ptr.To[int64](2000)},
			Containers: []corev1.Container{{
				Name: "main", Image: "busybox", Command: []string{"sh", "-c", script}, WorkingDir: "/workspace/run",
				Env: []corev1.EnvVar{
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
					{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
					{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "mode"}}},
					{Name: "SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "token"}, Key: "value"}}},
					{Name: "BOTH", Value: "$(MODE)-$(POD_NAME)"},
				},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "config", MountPath: "/config"}, {Name: "secret", MountPath: "/secret"},
					{Name: "podinfo", MountPath: "/podinfo"}, {Name: "shared", MountPath: "/shared"},
				},
			}, {
				Name: "helper", Image: "busybox", Command: []string{"sh", "-c", "echo written by the other container > /shared/ready; sleep 30"},
				VolumeMounts: []corev1.VolumeMount{{Name: "shared", MountPath: "/shared"}},
			}},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}},
				{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "token", DefaultMode: ptr.To[int32](0o600)}}},
				{Name: "podinfo", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
				{Name: "shared", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	})
	pod := waitPod(t, ns, "env", "with its main container done", func(p *corev1.Pod) bool {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name == "main" && cs.State.Terminated != nil {
				return true
			}
		}
		return false
	})
	log := podLog(t, ns, "env", &corev1.PodLogOptions{Container: "main"})
	for _, want := range []string{
		fmt.Sprintf("pod=env ns=%s ip=%s mode=fast secret=s3cr3t both=fast-env host=env uid=1000 gid=1000 groups=1000 2000 cwd=/workspace/run", ns, pod.Status.PodIP),
		"from a configmap",
		"-rw-r----- 0 2000", // defaultMode 0600 plus the fsGroup's read, owned by root:fsGroup
		`app="probe"`,
		"written by the other container",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the container's log lacks %q:\n%s", want, log)
		}
	}
	if !strings.HasPrefix(pod.Status.PodIP, "10.244.") {
		t.Errorf("pod IP %q is not on the runtime's private network", pod.Status.PodIP)
	}
}

func TestRuntimeRestartsAndLogs(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateRealNamespace(t, "runtime-logs")
	createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "crasher"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyOnFailure,
			Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sh", "-c",
				`n=$(ls /data | wc -l); touch /data/run-$n; echo "run $n"; echo line-a; echo line-b; echo line-c; [ "$n" -ge 2 ] && exec sleep 300; exit 7`},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	})
	pod := waitPod(t, ns, "crasher", "running after two failed runs", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount == 2 && p.Status.ContainerStatuses[0].State.Running != nil
	})
	cs := pod.Status.ContainerStatuses[0]
	if last := cs.LastTerminationState.Terminated; last == nil || last.ExitCode != 7 || last.Reason != "Error" {
		t.Errorf("last termination %+v; want exit code 7, reason Error", last)
	}
	if pod.Status.Phase != corev1.PodRunning {
		t.Errorf("phase %s, want Running", pod.Status.Phase)
	}
	// Running is reported when the process starts, before it prints.
	framework.Eventually(t, realTimeout, "the third run's whole output", func(ctx context.Context) (bool, string, error) {
		got := podLog(t, ns, "crasher", &corev1.PodLogOptions{})
		return strings.HasSuffix(got, "line-c\n"), got, nil
	})
	if got := podLog(t, ns, "crasher", &corev1.PodLogOptions{}); got != "run 2\nline-a\nline-b\nline-c\n" {
		t.Errorf("current log %q; want the third run's", got)
	}
	if got := podLog(t, ns, "crasher", &corev1.PodLogOptions{Previous: true}); !strings.HasPrefix(got, "run 1\n") {
		t.Errorf("previous log %q; want the second run's", got)
	}
	if got := podLog(t, ns, "crasher", &corev1.PodLogOptions{TailLines: ptr.To[int64](2)}); got != "line-b\nline-c\n" {
		t.Errorf("tail of 2 lines %q; want line-b and line-c", got)
	}
	// Following a running container streams until the client leaves.
	stream, err := env.Clientset.CoreV1().Pods(ns).GetLogs("crasher", &corev1.PodLogOptions{Follow: true}).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := io.ReadAtLeast(stream, buf, len("run 2\n"))
	stream.Close()
	if err != nil || !strings.HasPrefix(string(buf[:n]), "run 2\n") {
		t.Errorf("follow read %q, %v", buf[:n], err)
	}

	// Deleting the pod stops its process (SIGTERM, then SIGKILL after
	// the grace period) and removes it.
	if err := env.Clientset.CoreV1().Pods(ns).Delete(ctx, "crasher", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](2)}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, realTimeout, "the pod gone", func(ctx context.Context) (bool, string, error) {
		_, err := env.Clientset.CoreV1().Pods(ns).Get(ctx, "crasher", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err), nil
	})
}

func TestRuntimeImageWithoutProfile(t *testing.T) {
	ns := env.CreateRealNamespace(t, "runtime-image")
	createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "unknown"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.invalid/team/trainer:v3", Command: []string{"true"}}}},
	})
	pod := waitPod(t, ns, "unknown", "waiting with ErrImagePull", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
			p.Status.ContainerStatuses[0].State.Waiting.Reason == "ErrImagePull"
	})
	msg := pod.Status.ContainerStatuses[0].State.Waiting.Message
	for _, want := range []string{`"example.invalid/team/trainer:v3"`, "mpioperator/mpi-pi:openmpi", "mpioperator/mpi-pi:intel"} {
		if !strings.Contains(msg, want) {
			t.Errorf("waiting message %q does not name %s", msg, want)
		}
	}
}

// TestRuntimeOOMKilled: a worker that allocates beyond its memory limit is
// killed by the kernel (the runtime puts each container in a memory cgroup
// with its limit), reported OOMKilled, and the controller's diagnosis names
// the limit and the remedy.
func TestRuntimeOOMKilled(t *testing.T) {
	ns := env.CreateRealNamespace(t, "oom")
	job := framework.UpstreamExample(t, "pi/pi.yaml")
	job.Namespace = ns
	worker := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker]
	worker.RestartPolicy = kubeflow.RestartPolicyNever
	c := &worker.Template.Spec.Containers[0]
	c.Command = []string{"python3", "-c", "import time; time.sleep(1); data = b'x' * (256 << 20); time.sleep(30)"}
	c.Args = nil
	c.Resources.Limits[corev1.ResourceMemory] = resource.MustParse("64Mi")
	launcher := &job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Spec.Containers[0]
	launcher.Command, launcher.Args = []string{"sleep", "300"}, nil
	if err := env.Client.Create(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	failed := waitFailed(t, job)
	if failed.Reason != "OOMKilled" || !strings.Contains(failed.Message, "OOMKilled at 64Mi") {
		t.Errorf("Failed condition %s: %q; want OOMKilled at the 64Mi limit", failed.Reason, failed.Message)
	}
}

// TestRuntimeProbes: readiness (httpGet, tcpSocket) gates the pod's Ready
// condition until the servers listen; a failing liveness probe (exec, run
// in the container's namespaces) restarts its container.
func TestRuntimeProbes(t *testing.T) {
	ns := env.CreateRealNamespace(t, "probes")
	probe := func(h corev1.ProbeHandler, failures int32) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: h, PeriodSeconds: 1, FailureThreshold: failures}
	}
	createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "probed"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{
				Name: "web", Image: "busybox", Command: []string{"sh", "-c", "sleep 3; exec python3 -m http.server 8080"},
				Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				ReadinessProbe: probe(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}}, 1),
			},
			{
				Name: "tcp", Image: "busybox", Command: []string{"sh", "-c", "sleep 3; exec python3 -m http.server 9000"},
				ReadinessProbe: probe(corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9000)}}, 1),
			},
			{
				Name: "flaky", Image: "busybox", Command: []string{"sh", "-c", "touch /tmp/alive; sleep 2; rm /tmp/alive; exec sleep 600"},
				LivenessProbe: probe(corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/tmp/alive"}}}, 2),
			},
		}},
	})
	readyCondition := func(p *corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				return c.Status == corev1.ConditionTrue
			}
		}
		return false
	}
	running := waitPod(t, ns, "probed", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if readyCondition(running) {
		t.Errorf("the pod is Ready before its servers listen")
	}
	waitPod(t, ns, "probed", "Ready once both servers listen", readyCondition)
	pod := waitPod(t, ns, "probed", "with flaky restarted by its liveness probe", func(p *corev1.Pod) bool {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name == "flaky" && cs.RestartCount >= 1 {
				return true
			}
		}
		return false
	})
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == "flaky" {
			if last := cs.LastTerminationState.Terminated; last == nil || last.ExitCode != 137 {
				t.Errorf("flaky's last termination %+v; want a SIGKILL (137) from the liveness probe", last)
			}
		}
	}
}
