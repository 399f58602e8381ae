package podpolicy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
)

func testJob(workers int32) *kubeflow.MPIJob {
	return wrappers.MakeMPIJob("train", "team-a").Image("example.invalid/train:1").Workers(workers).Obj()
}

// Every rule gives one error at its field path, and the setting that
// lifts it (named in the message) lifts it.
func TestValidate(t *testing.T) {
	worker := "spec.mpiReplicaSpecs[Worker].template.spec."
	launcher := "spec.mpiReplicaSpecs[Launcher].template.spec."
	strict := Policy{PlatformNamespace: "mpijob-system", MaxWorkers: 8}
	cases := map[string]struct {
		mutate    func(*kubeflow.MPIJob, *corev1.PodSpec)
		wantField string
		wantType  field.ErrorType
		lift      func(*Policy)
		liftedBy  string // the setting the message names
	}{
		"privileged container": {
			mutate: func(_ *kubeflow.MPIJob, s *corev1.PodSpec) {
				s.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
			},
			wantField: worker + "containers[0].securityContext.privileged", lift: func(p *Policy) { p.AllowPrivileged = true }, liftedBy: "spec.webhooks.allowPrivileged=true",
		},
		"privileged init container": {
			mutate: func(_ *kubeflow.MPIJob, s *corev1.PodSpec) {
				s.InitContainers = []corev1.Container{{Name: "setup", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}
			},
			wantField: worker + "initContainers[0].securityContext.privileged", lift: func(p *Policy) { p.AllowPrivileged = true }, liftedBy: "spec.webhooks.allowPrivileged=true",
		},
		"host network": {
			mutate:    func(_ *kubeflow.MPIJob, s *corev1.PodSpec) { s.HostNetwork = true },
			wantField: worker + "hostNetwork", lift: func(p *Policy) { p.AllowHostNetwork = true }, liftedBy: "spec.webhooks.allowHostNetwork=true",
		},
		"hostPath volume": {
			mutate: func(_ *kubeflow.MPIJob, s *corev1.PodSpec) {
				s.Volumes = []corev1.Volume{{Name: "scratch"}, {Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
			},
			wantField: worker + "volumes[1].hostPath", lift: func(p *Policy) { p.AllowPrivileged = true }, liftedBy: "spec.webhooks.allowPrivileged=true",
		},
		"hostPID": {
			mutate:    func(_ *kubeflow.MPIJob, s *corev1.PodSpec) { s.HostPID = true },
			wantField: worker + "hostPID", lift: func(p *Policy) { p.AllowPrivileged = true }, liftedBy: "spec.webhooks.allowPrivileged=true",
		},
		"hostIPC": {
			mutate:    func(_ *kubeflow.MPIJob, s *corev1.PodSpec) { s.HostIPC = true },
			wantField: worker + "hostIPC", lift: func(p *Policy) { p.AllowPrivileged = true }, liftedBy: "spec.webhooks.allowPrivileged=true",
		},
		"host port": {
			mutate: func(_ *kubeflow.MPIJob, s *corev1.PodSpec) {
				s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 22, HostPort: 22}}
			},
			wantField: worker + "containers[0].ports[0].hostPort", lift: func(p *Policy) { p.AllowPrivileged = true }, liftedBy: "spec.webhooks.allowPrivileged=true",
		},
		"capability beyond baseline": {
			mutate: func(_ *kubeflow.MPIJob, s *corev1.PodSpec) {
				s.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE", "SYS_ADMIN"}}}
			},
			wantField: worker + "containers[0].securityContext.capabilities.add[1]", lift: func(p *Policy) { p.AllowPrivileged = true }, liftedBy: "spec.webhooks.allowPrivileged=true",
		},
		"unconfined seccomp on the pod": {
			mutate: func(_ *kubeflow.MPIJob, s *corev1.PodSpec) {
				s.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}
			},
			wantField: worker + "securityContext.seccompProfile.type", lift: func(p *Policy) { p.AllowPrivileged = true }, liftedBy: "spec.webhooks.allowPrivileged=true",
		},
		"unconfined seccomp on a container": {
			mutate: func(_ *kubeflow.MPIJob, s *corev1.PodSpec) {
				s.Containers[0].SecurityContext = &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}
			},
			wantField: worker + "containers[0].securityContext.seccompProfile.type", lift: func(p *Policy) { p.AllowPrivileged = true }, liftedBy: "spec.webhooks.allowPrivileged=true",
		},
		"the platform's namespace": {
			mutate:    func(j *kubeflow.MPIJob, _ *corev1.PodSpec) { j.Namespace = "mpijob-system" },
			wantField: "metadata.namespace", lift: func(p *Policy) { p.PlatformNamespace = "" }, liftedBy: "submit MPIJobs in a team namespace",
		},
		"over the platform's worker limit": {
			mutate: func(j *kubeflow.MPIJob, _ *corev1.PodSpec) {
				j.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Replicas = ptr.To[int32](9)
			},
			wantField: "spec.mpiReplicaSpecs[Worker].replicas", wantType: field.ErrorTypeInvalid,
			lift: func(p *Policy) { p.MaxWorkers = 0 }, liftedBy: "spec.webhooks.maxWorkers",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			job := testJob(2)
			tc.mutate(job, &job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template.Spec)
			errs := strict.Validate(job)
			wantType := tc.wantType
			if wantType == "" {
				wantType = field.ErrorTypeForbidden
			}
			if len(errs) != 1 || errs[0].Field != tc.wantField || errs[0].Type != wantType {
				t.Fatalf("errors %v, want one %s at %s", errs, wantType, tc.wantField)
			}
			if !strings.Contains(errs[0].Detail, tc.liftedBy) {
				t.Errorf("message %q does not say %q", errs[0].Detail, tc.liftedBy)
			}
			lifted := strict
			tc.lift(&lifted)
			if errs := lifted.Validate(job); len(errs) != 0 {
				t.Errorf("still refused once lifted: %v", errs)
			}
		})
	}

	// Both templates are checked, launcher first, and every violation is
	// reported at once.
	job := testJob(2)
	job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template.Spec.HostPID = true
	job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template.Spec.HostNetwork = true
	var got []string
	for _, e := range strict.Validate(job) {
		got = append(got, e.Field)
	}
	if diff := cmp.Diff([]string{launcher + "hostPID", worker + "hostNetwork"}, got); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	// A count over the API's limit is ValidateMPIJob's to report, once.
	if errs := strict.Validate(testJob(kubeflow.MaxWorkers + 1)); len(errs) != 0 {
		t.Errorf("over the API's limit: %v, want nothing (ValidateMPIJob reports it)", errs)
	}
}

// FuzzValidate: the policy never panics on any job, and a platform that
// allows everything refuses nothing in the templates.
func FuzzValidate(f *testing.F) {
	seed, _ := json.Marshal(testJob(4))
	f.Add(seed)
	f.Add([]byte(`{"spec":{"mpiReplicaSpecs":{"Worker":{"replicas":2,"template":{"spec":{"hostNetwork":true,"hostPID":true,"volumes":[{"name":"r","hostPath":{"path":"/"}}],"containers":[{"ports":[{"hostPort":1}],"securityContext":{"privileged":true,"capabilities":{"add":["ALL"]}}}]}}},"Launcher":null}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		job := &kubeflow.MPIJob{}
		if err := json.Unmarshal(data, job); err != nil {
			return
		}
		_ = Policy{MaxWorkers: 3, PlatformNamespace: "mpijob-system"}.Validate(job)
		if errs := (Policy{AllowPrivileged: true, AllowHostNetwork: true}).Validate(job); len(errs) != 0 {
			t.Fatalf("a permissive policy refused: %v", errs)
		}
	})
}
