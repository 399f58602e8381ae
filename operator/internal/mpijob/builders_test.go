package mpijob

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
	"github.com/mpijob-platform/mpijob-platform/test/golden"
)

// testJob is a defaulted 2-worker job; mutate tweaks it per case.
func testJob(mutate ...func(*kubeflow.MPIJob)) *kubeflow.MPIJob {
	job := wrappers.MakeMPIJob("pi", "team-a").UID("0000-1111").Image("example.invalid/train:1").
		ContainerName(kubeflow.MPIReplicaTypeLauncher, "launcher").ContainerName(kubeflow.MPIReplicaTypeWorker, "worker").
		Limits(kubeflow.MPIReplicaTypeWorker, "memory", "16Gi", "nvidia.com/gpu", "1").Obj()
	for _, m := range mutate {
		m(job)
	}
	kubeflow.SetDefaults(job)
	return job
}

var fixedKeys = sshKeyPair{PrivatePEM: []byte("-----BEGIN EC PRIVATE KEY-----\nredacted\n-----END EC PRIVATE KEY-----\n"), AuthorizedKey: []byte("ecdsa-sha2-nistp521 AAAA-test\n")}

func checkGolden(t *testing.T, name string, obj any) {
	t.Helper()
	got, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, name, got)
}

func TestBuildersGolden(t *testing.T) {
	nonRoot := func(j *kubeflow.MPIJob) {
		j.Spec.SSHAuthMountPath = "/home/mpiuser/.ssh"
		for _, r := range j.Spec.MPIReplicaSpecs {
			r.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000)}
		}
	}
	intel := func(j *kubeflow.MPIJob) { j.Spec.MPIImplementation = kubeflow.MPIImplementationIntel }
	launcherWorker := func(j *kubeflow.MPIJob) {
		j.Spec.RunLauncherAsWorker = ptr.To(true)
		j.Spec.MPIImplementation = kubeflow.MPIImplementationMPICH
		j.Spec.SlotsPerWorker = ptr.To[int32](8)
	}
	templateDecides := func(j *kubeflow.MPIJob) {
		w := &j.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template
		w.Annotations = map[string]string{istioInjectKey: "true"}
		w.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "NCCL_DEBUG", Value: "INFO"}}
		w.Spec.Affinity = &corev1.Affinity{}
	}
	cfg := DefaultConfig()
	cfg.NetworkPolicy = true
	cfg.SpreadWorkers = true
	cases := map[string]*kubeflow.MPIJob{
		"openmpi":            testJob(),
		"nonroot-ssh":        testJob(nonRoot),
		"intel":              testJob(intel),
		"launcher-as-worker": testJob(launcherWorker),
		"template-decides":   testJob(templateDecides),
		"suspended":          testJob(func(j *kubeflow.MPIJob) { j.Spec.RunPolicy.Suspend = ptr.To(true) }),
	}
	for name, job := range cases {
		t.Run(name, func(t *testing.T) {
			running := []corev1.Pod{*desiredWorker(job, 1, cfg), *desiredWorker(job, 0, cfg)}
			for i := range running {
				running[i].Status.Phase = corev1.PodRunning
			}
			checkGolden(t, name+"-secret", desiredSSHSecret(job, fixedKeys))
			checkGolden(t, name+"-configmap", desiredConfigMap(job, running, cfg.ClusterDomain))
			checkGolden(t, name+"-service", desiredService(job))
			checkGolden(t, name+"-worker-1", desiredWorker(job, 1, cfg))
			checkGolden(t, name+"-launcher", desiredLauncherJob(job, cfg))
			checkGolden(t, name+"-networkpolicy", desiredNetworkPolicy(job))
		})
	}
}

// With a gang scheduler the PodGroup is built, and workers and launcher
// join it; schedulingPolicy fields go where upstream puts them for each
// scheduler (queue and priorityClass only for Volcano, the timeout only
// for scheduler-plugins).
func TestGangSchedulingGolden(t *testing.T) {
	gang := func(j *kubeflow.MPIJob) {
		j.Spec.RunPolicy.SchedulingPolicy = &kubeflow.SchedulingPolicy{
			Queue: "research", PriorityClass: "training-high", ScheduleTimeoutSeconds: ptr.To[int32](120),
		}
		l := &j.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Spec.Containers[0]
		l.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")}
	}
	for _, scheduler := range []string{GangSchedulerSchedulerPlugins, GangSchedulerVolcano} {
		t.Run(scheduler, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.GangScheduler = scheduler
			job := testJob(gang)
			checkGolden(t, "gang-"+scheduler+"-podgroup", desiredPodGroup(job, scheduler))
			checkGolden(t, "gang-"+scheduler+"-worker-1", desiredWorker(job, 1, cfg))
			checkGolden(t, "gang-"+scheduler+"-launcher", desiredLauncherJob(job, cfg))
		})
	}
}

func TestBuildersDoNotMutateTheJob(t *testing.T) {
	for _, scheduler := range []string{GangSchedulerNone, GangSchedulerSchedulerPlugins, GangSchedulerVolcano} {
		job := testJob(func(j *kubeflow.MPIJob) {
			j.Spec.RunPolicy.SchedulingPolicy = &kubeflow.SchedulingPolicy{MinResources: &corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}}
		})
		before := job.DeepCopy()
		cfg := DefaultConfig()
		cfg.GangScheduler = scheduler
		desiredWorker(job, 0, cfg)
		desiredLauncherJob(job, cfg)
		desiredConfigMap(job, nil, "")
		if scheduler != GangSchedulerNone {
			pg := desiredPodGroup(job, scheduler)
			// The PodGroup must not share the job's resource list.
			pg.Object["spec"].(map[string]any)["minResources"].(map[string]any)["cpu"] = "9"
		}
		if diff := cmp.Diff(before, job); diff != "" {
			t.Errorf("%q: builders changed the job (-before +after):\n%s", scheduler, diff)
		}
	}
}

func TestGeneratedSSHKeysParse(t *testing.T) {
	for _, typ := range []SSHKeyType{SSHKeyECDSA, SSHKeyRSA, SSHKeyEd25519} {
		t.Run(string(typ), func(t *testing.T) {
			keys, err := generateSSHKeys(typ)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkKeyPair(keys); err != nil {
				t.Error(err)
			}
		})
	}
	if _, err := ParseSSHKeyType("dsa"); err == nil {
		t.Error("ParseSSHKeyType accepted dsa")
	}
}

// Job pods get no ServiceAccount token unless their template asks for one.
func TestJobPodsMountNoTokenUnlessAsked(t *testing.T) {
	for name, tc := range map[string]struct {
		template *bool
		want     bool
	}{
		"template silent: no token":       {nil, false},
		"template asks: token":            {ptr.To(true), true},
		"template refuses: still refused": {ptr.To(false), false},
	} {
		t.Run(name, func(t *testing.T) {
			job := testJob(func(j *kubeflow.MPIJob) {
				for _, r := range j.Spec.MPIReplicaSpecs {
					r.Template.Spec.AutomountServiceAccountToken = tc.template
				}
			})
			worker := desiredWorker(job, 0, DefaultConfig())
			launcher := desiredLauncherTemplate(job, DefaultConfig())
			for role, got := range map[string]*bool{"worker": worker.Spec.AutomountServiceAccountToken, "launcher": launcher.Spec.AutomountServiceAccountToken} {
				if got == nil || *got != tc.want {
					t.Errorf("%s automountServiceAccountToken = %v, want %v", role, got, tc.want)
				}
			}
		})
	}
}
