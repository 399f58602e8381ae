package kubelet

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestProfileFor(t *testing.T) {
	for image, want := range map[string]string{
		"mpioperator/mpi-pi:openmpi":                   "openmpi4",
		"docker.example/mpioperator/mpi-pi:openmpi":    "openmpi4",
		"localhost:5000/mpioperator/mpi-pi:intel":      "intel",
		"mpioperator/mpi-pi:mpich@sha256:0123":         "mpich",
		"mpioperator/mpi-pi:openmpi5":                  "openmpi5",
		"mpioperator/openmpi:v0.8.0":                   "openmpi4",
		"busybox":                                      "shell",
		"library/busybox:1.36":                         "shell",
		"registry.example:443/library/debian:bookworm": "shell",
	} {
		p, err := ProfileFor(image)
		if err != nil || p.Name != want {
			t.Errorf("ProfileFor(%q) = %v, %v; want %s", image, p, err, want)
		}
	}
	_, err := ProfileFor("mpioperator/mpi-pi:cuda")
	if err == nil || !strings.Contains(err.Error(), `"mpioperator/mpi-pi:cuda"`) || !strings.Contains(err.Error(), "mpioperator/mpi-pi:openmpi,") {
		t.Errorf("unknown tag: %v; want an error naming the image and the known ones", err)
	}
}

func TestHostsLineFollowsTheSearchPath(t *testing.T) {
	worker := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "team"}, Spec: corev1.PodSpec{
		DNSConfig: &corev1.PodDNSConfig{Searches: []string{"pi.team.svc.cluster.local"}},
	}}
	e := dnsEntry{"10.244.0.9", "pi-launcher.pi.team.svc.cluster.local"}
	got := hostsLine(e, searchPath(worker))
	want := "10.244.0.9\tpi-launcher.pi.team.svc.cluster.local pi-launcher.pi pi-launcher.pi.team pi-launcher.pi.team.svc pi-launcher"
	if got != want {
		t.Errorf("worker sees\n%q\nwant\n%q", got, want)
	}
	launcher := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "team"}}
	if got := hostsLine(e, searchPath(launcher)); strings.HasSuffix(got, " pi-launcher") {
		t.Errorf("without the job's search domain the bare host name must not resolve: %q", got)
	}
}

func TestExpand(t *testing.T) {
	vals := map[string]string{"A": "1", "B": "two"}
	for in, want := range map[string]string{
		"$(A)-$(B)":  "1-two",
		"$$(A)":      "$(A)",
		"$(MISSING)": "$(MISSING)",
		"cost $5":    "cost $5",
		"$(A":        "$(A",
		"plain":      "plain",
		"$(A)$(A)$":  "11$",
		"x$(B)y$$z":  "xtwoy$z",
	} {
		if got := expand(in, vals); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckMountPath(t *testing.T) {
	for path, ok := range map[string]bool{
		"/etc/mpi": true, "/data": true, "/home/mpiuser/.ssh": true, "/var/run/secrets": true,
		"/": false, "/proc/x": false, "/sys": false, "/dev/shm/x": false, "relative": false,
	} {
		if err := CheckMountPath(path); (err == nil) != ok {
			t.Errorf("CheckMountPath(%q) = %v; want ok=%v", path, err, ok)
		}
	}
}

func TestResolveInStaysInsideTheRoot(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"run", "var", "data/real"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink("/run", filepath.Join(root, "var/run")))      // absolute: the container's /run
	must(os.Symlink("real", filepath.Join(root, "data/link")))    // relative
	must(os.Symlink("../../..", filepath.Join(root, "data/up")))  // tries to climb out
	must(os.Symlink("/proc/1", filepath.Join(root, "data/proc"))) // into what the runtime provides
	for in, want := range map[string]string{
		"/var/run/secrets/x": "/run/secrets/x",
		"/data/link/y":       "/data/real/y",
		"/data/up/etc":       "/etc",
		"/new/dir":           "/new/dir",
	} {
		got, err := resolveIn(root, in)
		if err != nil || got != filepath.Join(root, want) {
			t.Errorf("resolveIn(%q) = %q, %v; want %q", in, got, err, filepath.Join(root, want))
		}
	}
	if _, err := resolveIn(root, "/data/proc/x"); err == nil {
		t.Errorf("a link into /proc was accepted")
	}
}

func TestTail(t *testing.T) {
	data := []byte("a\nb\nc\n")
	for n, want := range map[int]string{0: "", 1: "c\n", 2: "b\nc\n", 5: "a\nb\nc\n"} {
		if got := string(tail(data, n)); got != want {
			t.Errorf("tail(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestKeyFilesModesAndMissingKeys(t *testing.T) {
	data := map[string][]byte{"ssh-privatekey": []byte("k"), "ssh-publickey": []byte("p")}
	mode := int32(0o600)
	files, err := keyFiles("secret", "s", data, []corev1.KeyToPath{
		{Key: "ssh-privatekey", Path: "id_rsa"}, {Key: "ssh-publickey", Path: "authorized_keys", Mode: &[]int32{0o644}[0]},
	}, mode, false)
	if err != nil || len(files) != 2 || files[0].mode != 0o600 || files[1].mode != 0o644 {
		t.Errorf("files %+v, %v", files, err)
	}
	if _, err := keyFiles("secret", "s", data, []corev1.KeyToPath{{Key: "nope", Path: "x"}}, mode, false); err == nil {
		t.Errorf("a missing key was accepted")
	}
	if files, err := keyFiles("secret", "s", data, []corev1.KeyToPath{{Key: "nope", Path: "x"}}, mode, true); err != nil || len(files) != 0 {
		t.Errorf("optional missing key: %v, %v", files, err)
	}
}

func TestPodPhaseFollowsTheContainers(t *testing.T) {
	exited := func(code int32) *corev1.ContainerStateTerminated {
		return &corev1.ContainerStateTerminated{ExitCode: code}
	}
	running := func(c *ctr) *ctr { c.cmd = new(exec.Cmd); return c }
	cases := []struct {
		name      string
		ctrs      []*ctr
		ready     bool
		wantPhase corev1.PodPhase
		wantReady bool
	}{
		{"not set up", []*ctr{{}}, false, corev1.PodPending, false},
		{"init running", []*ctr{running(&ctr{init: true}), {}}, true, corev1.PodPending, false},
		{"init failed for good", []*ctr{{init: true, done: true, term: exited(1)}, {}}, true, corev1.PodFailed, false},
		{"running", []*ctr{{init: true, done: true, term: exited(0)}, running(&ctr{})}, true, corev1.PodRunning, true},
		{"backing off", []*ctr{{term: exited(1), restarts: 1}}, true, corev1.PodRunning, false},
		{"one of two done", []*ctr{running(&ctr{}), {done: true, term: exited(0)}}, true, corev1.PodRunning, false},
		{"all succeeded", []*ctr{{done: true, term: exited(0)}, {done: true, term: exited(0)}}, true, corev1.PodSucceeded, false},
		{"one failed", []*ctr{{done: true, term: exited(0)}, {done: true, term: exited(2)}}, true, corev1.PodFailed, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := &podWorker{ready: tc.ready, ip: "10.244.0.5"}
			for i, c := range tc.ctrs {
				c.spec.Name = string(rune('a' + i))
			}
			w.ctrs = tc.ctrs
			st := w.status(&corev1.Pod{})
			if st.Phase != tc.wantPhase {
				t.Errorf("phase %s, want %s", st.Phase, tc.wantPhase)
			}
			ready := false
			for _, c := range st.Conditions {
				if c.Type == corev1.PodReady {
					ready = c.Status == corev1.ConditionTrue
				}
			}
			if ready != tc.wantReady {
				t.Errorf("Ready %v, want %v", ready, tc.wantReady)
			}
			if st.PodIP != "10.244.0.5" {
				t.Errorf("pod IP %q", st.PodIP)
			}
		})
	}
}
