package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
	mpijobquota "github.com/mpijob-platform/mpijob-platform/pkg/mpijob/quota"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
)

func testScheme(t testing.TB) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(s), kueue.AddToScheme(s), kubeflow.AddToScheme(s)); err != nil {
		t.Fatal(err)
	}
	return s
}

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func localQueue(ns, name, cq string) *kueue.LocalQueue {
	return &kueue.LocalQueue{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: kueue.LocalQueueSpec{ClusterQueue: kueue.ClusterQueueReference(cq)}}
}

func newWebhook(t testing.TB, objs ...client.Object) *MPIJobWebhook {
	return &MPIJobWebhook{Reader: fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).Build(), Policy: DefaultPolicy()}
}

// withoutKueue answers every Kueue read as a cluster without its CRDs.
func withoutKueue(t *testing.T, objs ...client.Object) *MPIJobWebhook {
	noMatch := func(obj runtime.Object) error {
		if _, ok := obj.(*kueue.LocalQueue); ok {
			return &meta.NoKindMatchError{GroupKind: kueue.GroupVersion.WithKind("LocalQueue").GroupKind()}
		}
		if _, ok := obj.(*kueue.LocalQueueList); ok {
			return &meta.NoKindMatchError{GroupKind: kueue.GroupVersion.WithKind("LocalQueue").GroupKind()}
		}
		return nil
	}
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if err := noMatch(obj); err != nil {
				return err
			}
			return c.Get(ctx, key, obj, opts...)
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if err := noMatch(list); err != nil {
				return err
			}
			return c.List(ctx, list, opts...)
		},
	}).Build()
	return &MPIJobWebhook{Reader: c, Policy: DefaultPolicy()}
}

func createContext() context.Context {
	return admission.NewContextWithRequest(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{Operation: admissionv1.Create}})
}

func TestDefaultQueue(t *testing.T) {
	cases := []struct {
		name      string
		w         *MPIJobWebhook
		label     string
		wantQueue string
	}{
		{name: "namespace label names it", w: newWebhook(t, namespace("team-a", map[string]string{DefaultQueueKey: "gpus"}), localQueue("team-a", "gpus", "cq"), localQueue("team-a", "cpus", "cq")), wantQueue: "gpus"},
		{name: "namespace annotation names it", w: newWebhook(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Annotations: map[string]string{DefaultQueueKey: "gpus"}}}), wantQueue: "gpus"},
		{name: "the only LocalQueue", w: newWebhook(t, namespace("team-a", nil), localQueue("team-a", "only", "cq"), localQueue("team-b", "other", "cq")), wantQueue: "only"},
		{name: "two LocalQueues and no default: none chosen", w: newWebhook(t, namespace("team-a", nil), localQueue("team-a", "a", "cq"), localQueue("team-a", "b", "cq"))},
		{name: "the job's own label wins", w: newWebhook(t, namespace("team-a", map[string]string{DefaultQueueKey: "gpus"})), label: "mine", wantQueue: "mine"},
		{name: "without Kueue nothing happens", w: withoutKueue(t, namespace("team-a", nil))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := gpuJob("train", 2, 1)
			if tc.label != "" {
				job.Labels = map[string]string{QueueNameLabel: tc.label}
			}
			if err := tc.w.Default(createContext(), job); err != nil {
				t.Fatal(err)
			}
			if got := job.Labels[QueueNameLabel]; got != tc.wantQueue {
				t.Errorf("queue = %q, want %q", got, tc.wantQueue)
			}
			if tc.label == "" && tc.wantQueue != "" && !job.IsSuspended() {
				t.Error("a job given a queue must start suspended so that Kueue admits it before any pod runs")
			}
			if tc.wantQueue == "" && job.IsSuspended() {
				t.Error("a job without a queue was suspended")
			}
		})
	}
}

func TestDefaultOnUpdateDoesNotPickAQueue(t *testing.T) {
	w := newWebhook(t, namespace("team-a", nil), localQueue("team-a", "only", "cq"))
	ctx := admission.NewContextWithRequest(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{Operation: admissionv1.Update}})
	job := gpuJob("train", 2, 1)
	if err := w.Default(ctx, job); err != nil {
		t.Fatal(err)
	}
	if q := job.Labels[QueueNameLabel]; q != "" {
		t.Errorf("an update moved the job to queue %q", q)
	}
}

func TestDefaultAddsIstioOptOutAndUpstreamDefaults(t *testing.T) {
	// As submitted: nothing defaulted yet.
	job := wrappers.MakeMPIJob("pi", "team-a").TemplateLabel(kubeflow.MPIReplicaTypeWorker, IstioInjectKey, "false").Obj()
	if err := withoutKueue(t, namespace("team-a", nil)).Default(createContext(), job); err != nil {
		t.Fatal(err)
	}
	if got := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Annotations[IstioInjectKey]; got != "false" {
		t.Errorf("launcher annotation = %q, want false", got)
	}
	if _, ok := job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template.Annotations[IstioInjectKey]; ok {
		t.Error("the worker decided through its label; the annotation must not be added too")
	}
	if ptr.Deref(job.Spec.SlotsPerWorker, 0) != 1 || *job.Spec.RunPolicy.CleanPodPolicy != kubeflow.CleanPodPolicyNone {
		t.Errorf("upstream defaults missing: %+v", job.Spec)
	}
}

func TestValidateCreate(t *testing.T) {
	cq := clusterQueue("team-a-cq", "", flavorQuota{flavor: "h100", gpus: "32", reservedGPUs: "24"})
	cq.Status.PendingWorkloads = 3
	objs := []client.Object{
		namespace("team-a", nil), localQueue("team-a", "gpus", "team-a-cq"), localQueue("team-a", "cpus", "team-a-cq"), cq,
		quota(list("requests.nvidia.com/gpu", "64"), list("requests.nvidia.com/gpu", "0")),
	}
	w := newWebhook(t, objs...)
	cases := []struct {
		name         string
		mutate       func(*kubeflow.MPIJob)
		wantErr      []string
		forbidden    bool
		wantWarnings []string
		wantCauses   []mpijobquota.Shortfall
	}{
		{name: "fits now", mutate: func(j *kubeflow.MPIJob) { j.Labels = map[string]string{QueueNameLabel: "gpus"}; setWorkers(j, 1) }},
		{
			name: "queues behind others", mutate: func(j *kubeflow.MPIJob) { j.Labels = map[string]string{QueueNameLabel: "gpus"} },
			wantWarnings: []string{"the job will queue: ClusterQueue team-a-cq (behind LocalQueue gpus) cannot admit it now and has 3 workload(s) pending: nvidia.com/gpu: requested 16, used 24, available 8, limit 32"},
		},
		{
			name: "can never fit the ClusterQueue", mutate: func(j *kubeflow.MPIJob) { j.Labels = map[string]string{QueueNameLabel: "gpus"}; setWorkers(j, 5) },
			forbidden: true,
			wantErr:   []string{"can never run", "ClusterQueue team-a-cq (behind LocalQueue team-a/gpus):", "nvidia.com/gpu: requested 40, used 24, available 8, limit 32", "lower the workers"},
			wantCauses: []mpijobquota.Shortfall{{Resource: "nvidia.com/gpu", Requested: "40", Used: "24", Available: "8", Limit: "32",
				Where: "ClusterQueue team-a-cq (behind LocalQueue team-a/gpus)", Note: "ClusterQueue team-a-cq: h100 nominal 32"}},
		},
		{
			name: "can never fit the ResourceQuota", mutate: func(j *kubeflow.MPIJob) { setWorkers(j, 9) }, forbidden: true,
			wantErr:    []string{"ResourceQuota team-a/compute:", "requests.nvidia.com/gpu: requested 72, used 0, available 64, limit 64"},
			wantCauses: []mpijobquota.Shortfall{{Resource: "requests.nvidia.com/gpu", Requested: "72", Used: "0", Available: "64", Limit: "64", Where: "ResourceQuota team-a/compute"}},
		},
		{
			name: "unknown queue lists the real ones", mutate: func(j *kubeflow.MPIJob) { j.Labels = map[string]string{QueueNameLabel: "gpu"} },
			wantErr: []string{`metadata.labels[kueue.x-k8s.io/queue-name]: Invalid value: "gpu": no LocalQueue "gpu" in namespace team-a; use one of: cpus, gpus`},
		},
		{
			name: "invalid spec and policy together", mutate: func(j *kubeflow.MPIJob) {
				j.Spec.SlotsPerWorker = ptr.To[int32](0)
				w := j.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker]
				w.Template.Spec.HostNetwork = true
				w.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
				w.Template.Annotations = map[string]string{IstioInjectKey: "true"}
			},
			wantErr: []string{
				"spec.slotsPerWorker: Invalid value: 0: must be at least 1",
				"spec.mpiReplicaSpecs[Worker].template.spec.hostNetwork: Forbidden: host networking is not allowed",
				"spec.mpiReplicaSpecs[Worker].template.spec.containers[0].securityContext.privileged: Forbidden: privileged containers are not allowed",
				"spec.mpiReplicaSpecs[Worker].template.metadata.annotations[sidecar.istio.io/inject]: Forbidden",
				"spec.webhooks.allowPrivileged=true",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := gpuJob("train", 2, 8)
			tc.mutate(job)
			warnings, err := w.ValidateCreate(context.Background(), job)
			if len(tc.wantErr) == 0 && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatal("admitted, want rejected")
				}
				if tc.forbidden != apierrors.IsForbidden(err) || (!tc.forbidden && !apierrors.IsInvalid(err)) {
					t.Errorf("error %T %v: want forbidden=%v (else invalid)", err, err, tc.forbidden)
				}
				for _, want := range tc.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error lacks %q:\n%v", want, err)
					}
				}
				got, cerr := mpijobquota.FromError(err)
				if cerr != nil || !cmp.Equal(tc.wantCauses, got) {
					t.Errorf("quota causes %+v (%v), want %+v", got, cerr, tc.wantCauses)
				}
			}
			if diff := cmp.Diff(tc.wantWarnings, []string(warnings)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func setWorkers(j *kubeflow.MPIJob, n int32) {
	j.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Replicas = ptr.To(n)
}

func TestValidateCreateWithoutKueueAcceptsQueueLabel(t *testing.T) {
	job := gpuJob("train", 2, 8)
	job.Labels = map[string]string{QueueNameLabel: "whatever"}
	if _, err := withoutKueue(t, namespace("team-a", nil)).ValidateCreate(context.Background(), job); err != nil {
		t.Errorf("without Kueue the label means nothing and must not be rejected: %v", err)
	}
}

func TestValidateCreateFailsOpenWhenQuotaUnreadable(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithInterceptorFuncs(interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, ok := list.(*corev1.ResourceQuotaList); ok {
				return apierrors.NewServiceUnavailable("etcd is slow")
			}
			return c.List(ctx, list, opts...)
		},
	}).Build()
	w := &MPIJobWebhook{Reader: c, Policy: DefaultPolicy()}
	warnings, err := w.ValidateCreate(context.Background(), gpuJob("train", 2, 8))
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "quota pre-check skipped") {
		t.Errorf("err=%v warnings=%v: want admitted with a warning", err, warnings)
	}
}

func TestValidateUpdateRejectsOnlyNewPolicyViolations(t *testing.T) {
	w := newWebhook(t, namespace("team-a", nil))
	old := gpuJob("train", 2, 8)
	old.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template.Spec.HostNetwork = true // admitted under an older policy

	resumed := old.DeepCopy()
	resumed.Spec.RunPolicy.Suspend = ptr.To(false)
	resumed.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template.Spec.NodeSelector = map[string]string{"flavor": "h100"} // as Kueue injects
	if _, err := w.ValidateUpdate(context.Background(), old, resumed); err != nil {
		t.Errorf("resuming an old job was rejected: %v", err)
	}

	escalated := old.DeepCopy()
	escalated.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	if _, err := w.ValidateUpdate(context.Background(), old, escalated); err == nil || !strings.Contains(err.Error(), "Launcher].template.spec.containers[0].securityContext.privileged") {
		t.Errorf("a new privileged container was not rejected: %v", err)
	}

	moved := old.DeepCopy()
	moved.Labels = map[string]string{QueueNameLabel: "nowhere"}
	if _, err := w.ValidateUpdate(context.Background(), old, moved); err == nil || !strings.Contains(err.Error(), "there are none") {
		t.Errorf("moving to a missing queue: %v", err)
	}
}

func TestPolicyAllowsWhatTheAdminAllowed(t *testing.T) {
	job := gpuJob("train", 2, 8)
	tmpl := &job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template
	tmpl.Spec.HostNetwork = true
	tmpl.Spec.InitContainers = []corev1.Container{{Name: "setup", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}
	tmpl.Labels = map[string]string{IstioInjectKey: "true"}
	if errs := DefaultPolicy().validate(job); len(errs) != 3 {
		t.Errorf("default policy: %d errors, want 3: %v", len(errs), errs)
	}
	if errs := (Policy{AllowPrivileged: true, AllowHostNetwork: true}).validate(job); len(errs) != 0 {
		t.Errorf("permissive policy still rejects: %v", errs)
	}
}

// TestPolicyMaxWorkers: the platform may lower the API's worker limit; the
// lower limit gives its own field error, saying who can raise it, and a
// count over the API's limit is reported once, by ValidateMPIJob.
func TestPolicyMaxWorkers(t *testing.T) {
	replicas := "spec.mpiReplicaSpecs[Worker].replicas"
	cases := map[string]struct {
		maxWorkers int32
		workers    int32
		wantErrs   []string // one per expected error, in order
	}{
		"API limit by default":      {workers: kubeflow.MaxWorkers},
		"at the platform's limit":   {maxWorkers: 64, workers: 64},
		"over the platform's limit": {maxWorkers: 64, workers: 65, wantErrs: []string{replicas + ": Invalid value: 65: this platform admits at most 64 workers per MPIJob", "spec.webhooks.maxWorkers"}},
		"over the API's limit": {
			maxWorkers: 64, workers: kubeflow.MaxWorkers + 1,
			wantErrs: []string{replicas + ": Invalid value: 1025: must be at most 1024 workers per MPIJob"},
		},
		"10 million workers": {workers: 10_000_000, wantErrs: []string{replicas + ": Invalid value: 10000000: must be at most 1024"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := newWebhook(t, namespace("team-a", nil))
			w.Policy.MaxWorkers = tc.maxWorkers
			job := gpuJob("train", tc.workers, 0)
			_, err := w.ValidateCreate(context.Background(), job)
			if len(tc.wantErrs) == 0 {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			var status apierrors.APIStatus
			if !errors.As(err, &status) || !apierrors.IsInvalid(err) {
				t.Fatalf("error %v: want Invalid", err)
			}
			causes := status.Status().Details.Causes
			if len(causes) != 1 || causes[0].Field != replicas {
				t.Fatalf("causes %+v: want one, on %s", causes, replicas)
			}
			for _, want := range tc.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}

// FuzzDefaultAndValidate: the webhook's defaulting and validation never
// panic; defaulting is idempotent; whatever defaulting produces from a job
// that validates still validates; the quota arithmetic never panics.
func FuzzDefaultAndValidate(f *testing.F) {
	seed, _ := json.Marshal(gpuJob("train", 4, 8))
	f.Add(seed)
	f.Add([]byte(`{"metadata":{"name":"x"},"spec":{"mpiReplicaSpecs":{"Launcher":{"template":{"metadata":{"labels":{"sidecar.istio.io/inject":"true"}}}},"Worker":{"replicas":-3}}}}`))
	f.Add([]byte(`{"spec":{"mpiReplicaSpecs":{"Worker":{"replicas":2,"template":{"spec":{"hostNetwork":true,"containers":[{"resources":{"limits":{"nvidia.com/gpu":"9223372036854775807"}}}]}}}}}}`))
	q := quota(list("requests.nvidia.com/gpu", "64", "pods", "10", "limits.memory", "1Ti"), nil)
	cq := clusterQueue("cq", "", flavorQuota{flavor: "h100", gpus: "32"})
	f.Fuzz(func(t *testing.T, data []byte) {
		job := &kubeflow.MPIJob{}
		if err := json.Unmarshal(data, job); err != nil {
			return
		}
		p := DefaultPolicy()
		defaultJob(job, p)
		once := job.DeepCopy()
		defaultJob(job, p)
		if diff := cmp.Diff(once, job); diff != "" {
			t.Fatalf("defaulting is not idempotent:\n%s", diff)
		}
		valid := len(kubeflow.ValidateMPIJob(job)) == 0 && len(p.validate(job)) == 0
		if valid {
			again := job.DeepCopy()
			defaultJob(again, p)
			if errs := append(kubeflow.ValidateMPIJob(again), p.validate(again)...); len(errs) > 0 {
				t.Fatalf("a valid job became invalid after defaulting: %v", errs)
			}
		}
		sets := jobPodSets(job)
		requests, limits, pods := jobTotals(sets)
		_ = checkResourceQuota(q, requests, limits, pods)
		_ = checkClusterQueue(cq, cohortView{}, sets)
	})
}

// What Pod Security's baseline refuses is refused with its field path, and
// no MPIJob runs in the platform's own namespace.
func TestPolicyRefusesBaselineViolations(t *testing.T) {
	worker := "spec.mpiReplicaSpecs[Worker].template.spec."
	for name, tc := range map[string]struct {
		mutate func(*kubeflow.MPIJob, *corev1.PodSpec)
		want   string
	}{
		"hostPath volume": {func(_ *kubeflow.MPIJob, s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
		}, worker + "volumes[0].hostPath"},
		"hostPID": {func(_ *kubeflow.MPIJob, s *corev1.PodSpec) { s.HostPID = true }, worker + "hostPID"},
		"hostIPC": {func(_ *kubeflow.MPIJob, s *corev1.PodSpec) { s.HostIPC = true }, worker + "hostIPC"},
		"hostPort": {func(_ *kubeflow.MPIJob, s *corev1.PodSpec) {
			s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 22, HostPort: 22}}
		}, worker + "containers[0].ports[0].hostPort"},
		"SYS_ADMIN": {func(_ *kubeflow.MPIJob, s *corev1.PodSpec) {
			s.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"CHOWN", "SYS_ADMIN"}}}
		}, worker + "containers[0].securityContext.capabilities.add[1]"},
		"unconfined seccomp": {func(_ *kubeflow.MPIJob, s *corev1.PodSpec) {
			s.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}
		}, worker + "securityContext.seccompProfile.type"},
		"the platform's namespace": {func(j *kubeflow.MPIJob, _ *corev1.PodSpec) { j.Namespace = "mpijob-system" }, "metadata.namespace"},
	} {
		t.Run(name, func(t *testing.T) {
			job := gpuJob("train", 2, 8)
			tc.mutate(job, &job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template.Spec)
			p := DefaultPolicy()
			p.PlatformNamespace = "mpijob-system"
			errs := p.validate(job)
			if len(errs) != 1 || errs[0].Field != tc.want || errs[0].Type != field.ErrorTypeForbidden {
				t.Fatalf("errors %v, want one Forbidden at %s", errs, tc.want)
			}
			if name != "the platform's namespace" {
				p.AllowPrivileged = true
				if errs := p.validate(job); len(errs) != 0 {
					t.Errorf("with allowPrivileged still refused: %v", errs)
				}
			}
		})
	}
	// Baseline's own capabilities stay allowed.
	job := gpuJob("train", 2, 8)
	job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE", "SYS_CHROOT"}}}
	if errs := DefaultPolicy().validate(job); len(errs) != 0 {
		t.Errorf("baseline capabilities refused: %v", errs)
	}
}

// An MPIJob creates pods on behalf of its creator: a creator who may not
// create pods in the namespace is refused, with who and where; the review
// carries the creator's identity as the apiserver sent it.
func TestValidateCreateChecksTheCreatorMayCreatePods(t *testing.T) {
	for name, tc := range map[string]struct {
		allowed bool
		sarErr  error
		wantErr string
	}{
		"may create pods":     {allowed: true},
		"may not create pods": {wantErr: "alice may not create pods in namespace team-a"},
		"review unavailable":  {sarErr: errors.New("apiserver unavailable"), wantErr: "checking that alice may create pods in team-a"},
	} {
		t.Run(name, func(t *testing.T) {
			var got *authorizationv1.SubjectAccessReview
			authz := fake.NewClientBuilder().WithScheme(testScheme(t)).WithInterceptorFuncs(interceptor.Funcs{
				Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
					sar, ok := obj.(*authorizationv1.SubjectAccessReview)
					if !ok {
						return errors.New("unexpected create")
					}
					got = sar.DeepCopy()
					sar.Status.Allowed = tc.allowed
					return tc.sarErr
				},
			}).Build()
			w := newWebhook(t, namespace("team-a", nil))
			w.Authorizer = authz
			ctx := admission.NewContextWithRequest(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				Operation: admissionv1.Create,
				UserInfo:  authenticationv1.UserInfo{Username: "alice", Groups: []string{"team-a-members"}, Extra: map[string]authenticationv1.ExtraValue{"scopes": {"x"}}},
			}})
			_, err := w.ValidateCreate(ctx, gpuJob("train", 2, 8))
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			// A refusal is the platform's, by its cause; an unavailable
			// review is not a refusal of the job.
			if denied := mpijob.IsPlatformDenial(err); denied != (tc.wantErr != "" && tc.sarErr == nil) {
				t.Errorf("IsPlatformDenial(%v) = %v", err, denied)
			}
			want := authorizationv1.SubjectAccessReviewSpec{
				User: "alice", Groups: []string{"team-a-members"}, Extra: map[string]authorizationv1.ExtraValue{"scopes": {"x"}},
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "team-a", Verb: "create", Resource: "pods"},
			}
			if diff := cmp.Diff(want, got.Spec); diff != "" {
				t.Errorf("SubjectAccessReview (-want +got):\n%s", diff)
			}
		})
	}
}
