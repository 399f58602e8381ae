package mpijob

import (
	"context"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/operator/pkg/podpolicy"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
)

// A job that breaks the platform's pod policy and reaches the controller
// without the webhooks ends Failed with mpijob.ReasonPolicyViolation, a message
// naming the field and who can lift the rule, and a Warning event; nothing
// is created for it. A job that started before the rule existed keeps
// running, and a platform that allows it runs it.
func TestReconcileRefusesPolicyViolations(t *testing.T) {
	worker := func(j *kubeflow.MPIJob) *corev1.PodSpec {
		return &j.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template.Spec
	}
	hostPath := func(j *kubeflow.MPIJob) {
		worker(j).Volumes = []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
	}
	privileged := func(j *kubeflow.MPIJob) {
		l := &j.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Spec
		l.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	}
	cases := map[string]struct {
		mutate  func(*kubeflow.MPIJob)
		policy  podpolicy.Policy
		created bool // the job had started before this pass
		// wantFields are the field paths the Failed message names; none:
		// the job runs.
		wantFields []string
		wantLift   string
	}{
		"hostPath volume": {
			mutate:     hostPath,
			wantFields: []string{"spec.mpiReplicaSpecs[Worker].template.spec.volumes[0].hostPath: Forbidden: hostPath volumes are not allowed"},
			wantLift:   "spec.webhooks.allowPrivileged=true in the MPIJobPlatform",
		},
		"privileged launcher": {
			mutate:     privileged,
			wantFields: []string{"spec.mpiReplicaSpecs[Launcher].template.spec.containers[0].securityContext.privileged: Forbidden"},
			wantLift:   "spec.webhooks.allowPrivileged=true in the MPIJobPlatform",
		},
		"every violation at once": {
			mutate: func(j *kubeflow.MPIJob) { hostPath(j); privileged(j); worker(j).HostNetwork = true },
			wantFields: []string{
				"spec.mpiReplicaSpecs[Launcher].template.spec.containers[0].securityContext.privileged",
				"spec.mpiReplicaSpecs[Worker].template.spec.volumes[0].hostPath",
				"spec.mpiReplicaSpecs[Worker].template.spec.hostNetwork",
			},
			wantLift: "spec.webhooks.allowHostNetwork=true",
		},
		"the platform's namespace": {
			policy:     podpolicy.Policy{PlatformNamespace: "team-a"},
			wantFields: []string{"metadata.namespace: Forbidden: namespace team-a runs the MPIJob platform itself"},
			wantLift:   "submit MPIJobs in a team namespace",
		},
		"over the platform's worker limit": {
			policy:     podpolicy.Policy{MaxWorkers: 1},
			wantFields: []string{"spec.mpiReplicaSpecs[Worker].replicas: Invalid value: 2: this platform admits at most 1 workers"},
			wantLift:   "spec.webhooks.maxWorkers",
		},
		"allowed by the platform": {
			mutate: func(j *kubeflow.MPIJob) { hostPath(j); privileged(j); worker(j).HostNetwork = true },
			policy: podpolicy.Policy{AllowPrivileged: true, AllowHostNetwork: true},
		},
		"started before the rule": {mutate: hostPath, created: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var creates []string
			var mu sync.Mutex // a job's workers are created concurrently
			e := newFakeEnv(t, "", interceptor.Funcs{
				Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
					mu.Lock()
					creates = append(creates, kindOf(obj)+" "+obj.GetName())
					mu.Unlock()
					return c.Create(ctx, obj, opts...)
				},
			})
			e.r.Config.Policy = tc.policy
			ctx := context.Background()
			job := &kubeflow.MPIJob{}
			if err := e.c.Get(ctx, client.ObjectKeyFromObject(e.job), job); err != nil {
				t.Fatal(err)
			}
			if tc.mutate != nil {
				tc.mutate(job)
				if err := e.c.Update(ctx, job); err != nil {
					t.Fatal(err)
				}
			}
			if tc.created {
				setCondition(&job.Status, kubeflow.JobCreated, corev1.ConditionTrue, ReasonCreated, "created", job.CreationTimestamp)
				if err := e.c.Status().Update(ctx, job); err != nil {
					t.Fatal(err)
				}
			}
			e.reconcile(t)
			e.reconcile(t) // a second pass changes nothing and says nothing again
			got := &kubeflow.MPIJob{}
			if err := e.c.Get(ctx, client.ObjectKeyFromObject(e.job), got); err != nil {
				t.Fatal(err)
			}
			failed := getCondition(&got.Status, kubeflow.JobFailed)
			events := e.drain()

			if len(tc.wantFields) == 0 {
				if failed != nil {
					t.Fatalf("Failed condition %+v, want the job to run", failed)
				}
				if pods := e.pods(t); len(pods) != 2 {
					t.Errorf("%d pods, want 2 workers", len(pods))
				}
				e.launcher(t)
				return
			}
			if failed == nil || failed.Status != corev1.ConditionTrue || failed.Reason != mpijob.ReasonPolicyViolation {
				t.Fatalf("Failed condition %+v, want True with reason %s", failed, mpijob.ReasonPolicyViolation)
			}
			for _, want := range append([]string{"will not run (no pod was created)", tc.wantLift}, tc.wantFields...) {
				if !strings.Contains(failed.Message, want) {
					t.Errorf("message lacks %q:\n%s", want, failed.Message)
				}
			}
			if got.Status.CompletionTime == nil {
				t.Error("no completionTime")
			}
			if isTrue(&got.Status, kubeflow.JobCreated) {
				t.Error("Created=True on a job that got nothing")
			}
			if len(creates) != 0 {
				t.Errorf("created %v for a job the policy refuses", creates)
			}
			var warnings int
			for _, ev := range events {
				if strings.HasPrefix(ev, corev1.EventTypeWarning+" "+mpijob.ReasonPolicyViolation+" ") && strings.Contains(ev, tc.wantLift) {
					warnings++
				}
			}
			if warnings != 1 {
				t.Errorf("events %q: want one %s warning naming %q", events, mpijob.ReasonPolicyViolation, tc.wantLift)
			}
		})
	}
}

// An invalid job that also breaks the policy fails with
// mpijob.ReasonValidationError: validation is checked first.
func TestReconcileValidationComesBeforePolicy(t *testing.T) {
	e := newFakeEnv(t, "", interceptor.Funcs{})
	ctx := context.Background()
	job := &kubeflow.MPIJob{}
	if err := e.c.Get(ctx, client.ObjectKeyFromObject(e.job), job); err != nil {
		t.Fatal(err)
	}
	job.Spec.SlotsPerWorker = ptr.To[int32](0)
	job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template.Spec.HostNetwork = true
	if err := e.c.Update(ctx, job); err != nil {
		t.Fatal(err)
	}
	e.reconcile(t)
	if err := e.c.Get(ctx, client.ObjectKeyFromObject(e.job), job); err != nil {
		t.Fatal(err)
	}
	if c := getCondition(&job.Status, kubeflow.JobFailed); c == nil || c.Reason != mpijob.ReasonValidationError || !strings.Contains(c.Message, "spec.slotsPerWorker") {
		t.Errorf("Failed condition %+v, want %s naming spec.slotsPerWorker", c, mpijob.ReasonValidationError)
	}
}
