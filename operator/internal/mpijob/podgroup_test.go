package mpijob

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

func podGroupSpec(t *testing.T, job *kubeflow.MPIJob, scheduler string) map[string]any {
	t.Helper()
	spec, ok := desiredPodGroup(job, scheduler).Object["spec"].(map[string]any)
	if !ok {
		t.Fatal("PodGroup without a spec")
	}
	return spec
}

func resources(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func TestPodGroupMinMemberAndMinResources(t *testing.T) {
	// testJob: 2 workers, each limited to 16Gi and 1 GPU; the launcher
	// declares nothing unless a case gives it resources.
	launcherRequests := func(kv ...string) func(*kubeflow.MPIJob) {
		return func(j *kubeflow.MPIJob) {
			j.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Spec.Containers[0].Resources.Requests = resources(kv...)
		}
	}
	policy := func(p kubeflow.SchedulingPolicy) func(*kubeflow.MPIJob) {
		return func(j *kubeflow.MPIJob) { j.Spec.RunPolicy.SchedulingPolicy = &p }
	}
	cases := map[string]struct {
		job           *kubeflow.MPIJob
		wantMinMember int32
		want          corev1.ResourceList // nil: no minResources
	}{
		"every pod by default": {
			job:           testJob(launcherRequests("cpu", "1")),
			wantMinMember: 3,
			want:          resources("cpu", "1", "memory", "32Gi", "nvidia.com/gpu", "2"),
		},
		"minAvailable counts the launcher and minAvailable-1 workers": {
			job:           testJob(launcherRequests("cpu", "1"), policy(kubeflow.SchedulingPolicy{MinAvailable: ptr.To[int32](2)})),
			wantMinMember: 2,
			want:          resources("cpu", "1", "memory", "16Gi", "nvidia.com/gpu", "1"),
		},
		"minAvailable above the pod count counts every pod": {
			job:           testJob(policy(kubeflow.SchedulingPolicy{MinAvailable: ptr.To[int32](10)})),
			wantMinMember: 10,
			want:          resources("memory", "32Gi", "nvidia.com/gpu", "2"),
		},
		"minAvailable 0 has no minResources": {
			job:           testJob(launcherRequests("cpu", "1"), policy(kubeflow.SchedulingPolicy{MinAvailable: ptr.To[int32](0)})),
			wantMinMember: 0,
		},
		"minResources given wins": {
			job:           testJob(policy(kubeflow.SchedulingPolicy{MinResources: ptr.To(resources("cpu", "7"))})),
			wantMinMember: 3,
			want:          resources("cpu", "7"),
		},
		"requests win over limits, init containers count as the scheduler counts them": {
			job: testJob(func(j *kubeflow.MPIJob) {
				w := &j.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template.Spec
				w.Containers[0].Resources.Requests = resources("memory", "8Gi")
				w.InitContainers = []corev1.Container{{Name: "stage", Resources: corev1.ResourceRequirements{Limits: resources("cpu", "4")}}}
			}),
			wantMinMember: 3,
			want:          resources("cpu", "8", "memory", "16Gi", "nvidia.com/gpu", "2"),
		},
		"launcher as the only worker": {
			job: testJob(func(j *kubeflow.MPIJob) {
				delete(j.Spec.MPIReplicaSpecs, kubeflow.MPIReplicaTypeWorker)
				j.Spec.RunLauncherAsWorker = ptr.To(true)
			}, launcherRequests("nvidia.com/gpu", "1")),
			wantMinMember: 1,
			want:          resources("nvidia.com/gpu", "1"),
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			for _, scheduler := range []string{GangSchedulerSchedulerPlugins, GangSchedulerVolcano} {
				spec := podGroupSpec(t, tc.job, scheduler)
				if got := spec["minMember"]; got != int64(tc.wantMinMember) {
					t.Errorf("%s: minMember = %v, want %d", scheduler, got, tc.wantMinMember)
				}
				got, present := spec["minResources"]
				if tc.want == nil {
					if present {
						t.Errorf("%s: minResources = %v, want none", scheduler, got)
					}
					continue
				}
				want := map[string]any{}
				for n, q := range tc.want {
					want[string(n)] = q.String()
				}
				if !sameQuantities(got, want) {
					t.Errorf("%s: minResources = %v, want %v", scheduler, got, want)
				}
			}
		})
	}
}

func TestPodGroupFieldsPerScheduler(t *testing.T) {
	job := testJob(func(j *kubeflow.MPIJob) {
		j.Spec.RunPolicy.SchedulingPolicy = &kubeflow.SchedulingPolicy{Queue: "q", PriorityClass: "pc", ScheduleTimeoutSeconds: ptr.To[int32](60)}
	})
	sp := podGroupSpec(t, job, GangSchedulerSchedulerPlugins)
	if sp["scheduleTimeoutSeconds"] != int64(60) || sp["queue"] != nil || sp["priorityClassName"] != nil {
		t.Errorf("scheduler-plugins spec %v: want scheduleTimeoutSeconds 60 and no queue or priorityClassName", sp)
	}
	vc := podGroupSpec(t, job, GangSchedulerVolcano)
	if vc["queue"] != "q" || vc["priorityClassName"] != "pc" || vc["scheduleTimeoutSeconds"] != nil {
		t.Errorf("volcano spec %v: want queue q, priorityClassName pc and no scheduleTimeoutSeconds", vc)
	}

	// Without a policy: timeout 0 (upstream's), the queue from the job's
	// Volcano annotation, the priority class from the launcher, then the
	// workers.
	plain := testJob(func(j *kubeflow.MPIJob) {
		j.Annotations = map[string]string{volcanoQueueAnnotation: "annotated"}
		j.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template.Spec.PriorityClassName = "worker-pc"
	})
	if got := podGroupSpec(t, plain, GangSchedulerSchedulerPlugins)["scheduleTimeoutSeconds"]; got != int64(0) {
		t.Errorf("scheduleTimeoutSeconds without a policy = %v, want 0", got)
	}
	vc = podGroupSpec(t, plain, GangSchedulerVolcano)
	if vc["queue"] != "annotated" || vc["priorityClassName"] != "worker-pc" {
		t.Errorf("volcano spec %v: want queue from the annotation and the workers' priority class", vc)
	}
	plain.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Spec.PriorityClassName = "launcher-pc"
	if got := podGroupSpec(t, plain, GangSchedulerVolcano)["priorityClassName"]; got != "launcher-pc" {
		t.Errorf("priorityClassName = %v, want the launcher's before the workers'", got)
	}
	delete(plain.Annotations, volcanoQueueAnnotation)
	if _, ok := podGroupSpec(t, plain, GangSchedulerVolcano)["queue"]; ok {
		t.Error("an empty queue is set; Volcano's default must decide")
	}
}

func TestPodsJoinThePodGroup(t *testing.T) {
	for _, scheduler := range []string{GangSchedulerSchedulerPlugins, GangSchedulerVolcano} {
		t.Run(scheduler, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.GangScheduler = scheduler
			own := testJob(func(j *kubeflow.MPIJob) {
				for _, r := range j.Spec.MPIReplicaSpecs {
					r.Template.Spec.SchedulerName = "default-scheduler"
				}
			})
			for _, tmpl := range []corev1.PodTemplateSpec{
				{ObjectMeta: desiredWorker(own, 0, cfg).ObjectMeta, Spec: desiredWorker(own, 0, cfg).Spec},
				desiredLauncherTemplate(own, cfg),
			} {
				if tmpl.Spec.SchedulerName != "default-scheduler" {
					t.Errorf("schedulerName %q: the template's own scheduler was replaced", tmpl.Spec.SchedulerName)
				}
				member := tmpl.Labels[schedulerPluginsPodGroupLabel]
				if scheduler == GangSchedulerVolcano {
					member = tmpl.Annotations[volcanoGroupNameAnnotation]
				}
				if member != "pi" {
					t.Errorf("%s pod is not a member of PodGroup pi: labels %v, annotations %v", tmpl.Labels[kubeflow.JobRoleLabel], tmpl.Labels, tmpl.Annotations)
				}
			}
		})
	}
	// No gang scheduler: pods exactly as before.
	job := testJob()
	none := DefaultConfig()
	unknown := none
	unknown.GangScheduler = "unknown"
	if diff := cmp.Diff(desiredWorker(job, 0, none), desiredWorker(job, 0, unknown)); diff != "" {
		t.Errorf("an unknown gang scheduler changed the worker:\n%s", diff)
	}
	if w := desiredWorker(job, 0, none); w.Spec.SchedulerName != "" || w.Labels[schedulerPluginsPodGroupLabel] != "" || w.Annotations[volcanoGroupNameAnnotation] != "" {
		t.Errorf("without gang scheduling the worker joined a group: %+v", w.ObjectMeta)
	}
}

func TestMergePodGroupSpec(t *testing.T) {
	live := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{
		"minMember": int64(3), "minResources": map[string]any{"memory": "1024Mi", "cpu": int64(2)}, "queue": "default",
	}}}
	same := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{
		"minMember": int64(3), "minResources": map[string]any{"memory": "1Gi", "cpu": "2"},
	}}}
	if mergePodGroupSpec(live, same) {
		t.Errorf("equal quantities in other notation, or a field we leave out (queue), count as a change")
	}
	if q := live.Object["spec"].(map[string]any)["queue"]; q != "default" {
		t.Errorf("queue set by someone else became %v", q)
	}
	grown := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{
		"minMember": int64(5), "minResources": map[string]any{"memory": "1Gi", "cpu": "2"},
	}}}
	if !mergePodGroupSpec(live, grown) || live.Object["spec"].(map[string]any)["minMember"] != int64(5) {
		t.Errorf("a new minMember was not merged: %v", live.Object["spec"])
	}
}
