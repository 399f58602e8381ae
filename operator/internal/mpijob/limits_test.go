package mpijob

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
)

// maxConfigMapBytes is what the apiserver accepts in a ConfigMap's data
// (keys and values together): 1 MiB.
const maxConfigMapBytes = 1 << 20

// configMapDataBytes counts a ConfigMap's data as the apiserver's
// validation does.
func configMapDataBytes(cm *corev1.ConfigMap) int {
	n := 0
	for k, v := range cm.Data {
		n += len(k) + len(v)
	}
	for k, v := range cm.BinaryData {
		n += len(k) + len(v)
	}
	return n
}

// worstCaseJob is the largest job validation admits: the longest name, in
// the longest namespace, with the most workers, each with the most slots,
// and the launcher listed as a rank too.
func worstCaseJob(t *testing.T, impl kubeflow.MPIImplementation) *kubeflow.MPIJob {
	t.Helper()
	job := testJob(func(j *kubeflow.MPIJob) {
		j.Name = "w" + strings.Repeat("x", kubeflow.MaxNameLength-1)
		j.Namespace = strings.Repeat("n", validation.DNS1123LabelMaxLength)
		j.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Replicas = ptr.To[int32](kubeflow.MaxWorkers)
		j.Spec.SlotsPerWorker = ptr.To[int32](kubeflow.MaxSlotsPerWorker)
		j.Spec.RunLauncherAsWorker = ptr.To(true)
		j.Spec.MPIImplementation = impl
	})
	if errs := kubeflow.ValidateMPIJob(job); len(errs) > 0 {
		t.Fatalf("the worst case must be a valid job: %v", errs.ToAggregate())
	}
	return job
}

// runningWorkers are every worker of the job, Running, so that
// discover_hosts.sh lists them all.
func runningWorkers(job *kubeflow.MPIJob) []corev1.Pod {
	pods := make([]corev1.Pod, job.Workers())
	for i := range pods {
		pods[i] = corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: workerName(job, i)}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	}
	return pods
}

// TestWorstCaseConfigMapFitsTheObjectLimit builds the <job>-config
// ConfigMap of the largest admitted job: with any cluster domain it stays
// under the 1 MiB the apiserver accepts, and under half of it with a
// domain of up to 63 characters, which leaves room for a future key.
func TestWorstCaseConfigMapFitsTheObjectLimit(t *testing.T) {
	longestDomain := strings.Repeat(strings.Repeat("d", 62)+".", 4)[:validation.DNS1123SubdomainMaxLength-1] + "d"
	cases := map[string]struct {
		domain   string
		wantMost int
	}{
		"no cluster domain":            {wantMost: maxConfigMapBytes / 2},
		"cluster.local":                {domain: "cluster.local", wantMost: maxConfigMapBytes / 2},
		"63-character cluster domain":  {domain: strings.Repeat("c", 63), wantMost: maxConfigMapBytes / 2},
		"253-character cluster domain": {domain: longestDomain, wantMost: maxConfigMapBytes},
	}
	for name, tc := range cases {
		if err := (Config{ClusterDomain: tc.domain}).Validate(); err != nil {
			t.Fatalf("%s: the controller would not start with it: %v", name, err)
		}
		for _, impl := range []kubeflow.MPIImplementation{kubeflow.MPIImplementationOpenMPI, kubeflow.MPIImplementationIntel, kubeflow.MPIImplementationMPICH} {
			t.Run(name+"/"+string(impl), func(t *testing.T) {
				job := worstCaseJob(t, impl)
				cm := desiredConfigMap(job, runningWorkers(job), tc.domain)
				if got, want := strings.Count(cm.Data[hostfileName], "\n"), kubeflow.MaxWorkers+1; got != want {
					t.Fatalf("hostfile has %d lines, want %d", got, want)
				}
				size := configMapDataBytes(cm)
				t.Logf("data %d bytes (%.0f%% of 1 MiB)", size, 100*float64(size)/maxConfigMapBytes)
				if size > tc.wantMost {
					t.Errorf("ConfigMap data is %d bytes, over %d", size, tc.wantMost)
				}
				// The whole object, as sent, stays under the limit too.
				raw, err := json.Marshal(cm)
				if err != nil {
					t.Fatal(err)
				}
				if len(raw) > maxConfigMapBytes {
					t.Errorf("ConfigMap is %d bytes as JSON", len(raw))
				}
			})
		}
	}
}

// TestLongestNameGivesValidChildren builds every child of a job at the
// name limit, for its last worker index, and checks each name, hostname
// and label against the rules the apiserver applies to it.
func TestLongestNameGivesValidChildren(t *testing.T) {
	job := worstCaseJob(t, kubeflow.MPIImplementationOpenMPI)
	cfg := DefaultConfig()
	cfg.ClusterDomain = "cluster.local"
	errs := map[string][]string{}
	check := func(what string, msgs []string) {
		if len(msgs) > 0 {
			errs[what] = msgs
		}
	}
	checkLabels := func(what string, labels map[string]string) {
		for k, v := range labels {
			check(what+" label "+k+" key", validation.IsQualifiedName(k))
			check(what+" label "+k+" value", validation.IsValidLabelValue(v))
		}
	}

	svc := desiredService(job)
	check("Service name", validation.IsDNS1035Label(svc.Name))
	checkLabels("Service", svc.Labels)
	secret := desiredSSHSecret(job, fixedKeys)
	check("Secret name", validation.IsDNS1123Subdomain(secret.Name))
	cm := desiredConfigMap(job, nil, cfg.ClusterDomain)
	check("ConfigMap name", validation.IsDNS1123Subdomain(cm.Name))
	np := desiredNetworkPolicy(job)
	check("NetworkPolicy name", validation.IsDNS1123Subdomain(np.Name))
	for _, scheduler := range []string{GangSchedulerSchedulerPlugins, GangSchedulerVolcano} {
		check(scheduler+" PodGroup name", validation.IsDNS1123Subdomain(desiredPodGroup(job, scheduler).GetName()))
	}

	launcher := desiredLauncherJob(job, cfg)
	check("launcher Job name", validation.IsDNS1123Subdomain(launcher.Name))
	checkLabels("launcher Job", launcher.Labels)
	// The Job controller labels its pods job-name=<Job name> and names
	// them from generateName <Job name>-, which the apiserver cuts to 58
	// characters before adding 5 random ones.
	check("launcher pods' job-name label", validation.IsValidLabelValue(launcher.Name))
	prefix := launcher.Name + "-"
	if len(prefix) > 58 {
		prefix = prefix[:58]
	}
	check("launcher pod name", validation.IsDNS1123Subdomain(prefix+"x2b4z"))
	lt := launcher.Spec.Template
	check("launcher hostname", validation.IsDNS1123Label(lt.Spec.Hostname))
	check("launcher subdomain", validation.IsDNS1123Label(lt.Spec.Subdomain))
	checkLabels("launcher pod", lt.Labels)

	last := desiredWorker(job, kubeflow.MaxWorkers-1, cfg)
	check("worker pod name", validation.IsDNS1123Subdomain(last.Name))
	check("worker hostname", validation.IsDNS1123Label(last.Spec.Hostname))
	check("worker subdomain", validation.IsDNS1123Label(last.Spec.Subdomain))
	checkLabels("worker pod", last.Labels)
	for _, s := range last.Spec.DNSConfig.Searches {
		check("worker DNS search "+s, validation.IsDNS1123Subdomain(s))
	}
	if diff := cmp.Diff(map[string][]string{}, errs); diff != "" {
		t.Errorf("invalid names (-want +got):\n%s", diff)
	}
	if last.Name != job.Name+"-worker-1023" {
		t.Errorf("last worker is %q", last.Name)
	}
}

// FuzzEventNote: every note fits events.k8s.io/v1, is valid UTF-8, keeps
// what fits unchanged and otherwise keeps a prefix and says it was cut.
func FuzzEventNote(f *testing.F) {
	f.Add("worker-3 was OOMKilled at 16Gi")
	f.Add(strings.Repeat("é", 600))
	f.Add(strings.Repeat("x", 1023) + "\xff\xfe")
	f.Fuzz(func(t *testing.T, in string) {
		got := eventNote(in)
		if len(got) > maxEventNoteBytes || !utf8.ValidString(got) {
			t.Fatalf("note of %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
		}
		valid := strings.ToValidUTF8(in, "\uFFFD")
		if len(valid) <= maxEventNoteBytes {
			if got != valid {
				t.Fatalf("a note that fits was changed: %q", got)
			}
			return
		}
		if !strings.HasSuffix(got, "…") || !strings.HasPrefix(valid, strings.TrimSuffix(got, "…")) {
			t.Fatalf("cut note %q is not a marked prefix", got)
		}
		if len(got) < maxEventNoteBytes-utf8.UTFMax-len("…") {
			t.Fatalf("cut too much: %d bytes", len(got))
		}
	})
}

// Every event the controller emits goes through eventNote.
func TestEventfCutsTheNote(t *testing.T) {
	s := &state{}
	s.eventf(corev1.EventTypeWarning, mpijob.ReasonValidationError, "%s", strings.Repeat("ü", 2000))
	if n := len(s.events[0].message); n > maxEventNoteBytes || !strings.HasSuffix(s.events[0].message, "…") {
		t.Errorf("event note of %d bytes: %q…", n, s.events[0].message[:20])
	}
}

// With the most workers all unschedulable, the diagnosis names a few and
// keeps its remedy within the event note.
func TestUnschedulableDiagnosisOfEveryWorkerFitsAnEvent(t *testing.T) {
	job := worstCaseJob(t, kubeflow.MPIImplementationOpenMPI)
	pods := runningWorkers(job)
	for i := range pods {
		pods[i].Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
			Message: fmt.Sprintf("0/5000 nodes are available: 5000 Insufficient nvidia.com/gpu. %s", strings.Repeat("preemption: not eligible. ", 80)),
		}}}
	}
	d, ok := mpijob.DiagnoseUnschedulable(pods)
	if !ok {
		t.Fatal("not diagnosed")
	}
	if len(d.Message) > maxEventNoteBytes {
		t.Errorf("diagnosis of %d bytes would be cut: %s", len(d.Message), d.Message)
	}
	for _, want := range []string{"1024 pod(s) cannot be scheduled", "and 1019 more", "lower the GPUs per worker"} {
		if !strings.Contains(d.Message, want) {
			t.Errorf("diagnosis lacks %q: %s", want, d.Message)
		}
	}
}
