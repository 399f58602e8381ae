package v2beta1

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func validJob() *MPIJob {
	job := &MPIJob{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "team-a"},
		Spec: MPIJobSpec{MPIReplicaSpecs: map[MPIReplicaType]*ReplicaSpec{
			MPIReplicaTypeLauncher: {Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "l", Image: "i"}}}}},
			MPIReplicaTypeWorker:   {Replicas: ptr.To[int32](2), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "w", Image: "i"}}}}},
		}},
	}
	SetDefaults(job)
	return job
}

func TestValidateMPIJob(t *testing.T) {
	cases := map[string]struct {
		mutate   func(*MPIJob)
		wantErrs []string // substrings, one per expected error
	}{
		"valid": {mutate: func(*MPIJob) {}},
		"long name": {
			mutate:   func(j *MPIJob) { j.Name = strings.Repeat("a", 60) },
			wantErrs: []string{"metadata.name", "at most 50 characters"},
		},
		"no launcher": {
			mutate:   func(j *MPIJob) { delete(j.Spec.MPIReplicaSpecs, MPIReplicaTypeLauncher) },
			wantErrs: []string{"spec.mpiReplicaSpecs[Launcher]: Required value"},
		},
		"two launchers": {
			mutate:   func(j *MPIJob) { j.Spec.MPIReplicaSpecs[MPIReplicaTypeLauncher].Replicas = ptr.To[int32](2) },
			wantErrs: []string{"spec.mpiReplicaSpecs[Launcher].replicas: Invalid value: 2: must be 1"},
		},
		"zero workers": {
			mutate:   func(j *MPIJob) { j.Spec.MPIReplicaSpecs[MPIReplicaTypeWorker].Replicas = ptr.To[int32](0) },
			wantErrs: []string{"spec.mpiReplicaSpecs[Worker].replicas: Invalid value: 0: must be at least 1"},
		},
		"unknown role": {
			mutate: func(j *MPIJob) {
				j.Spec.MPIReplicaSpecs["Chief"] = j.Spec.MPIReplicaSpecs[MPIReplicaTypeWorker]
			},
			wantErrs: []string{`spec.mpiReplicaSpecs[Chief]: Unsupported value: "Chief": supported values: "Launcher", "Worker"`},
		},
		"bad implementation": {
			mutate:   func(j *MPIJob) { j.Spec.MPIImplementation = "LAM" },
			wantErrs: []string{`spec.mpiImplementation: Unsupported value: "LAM": supported values: "OpenMPI", "Intel", "MPICH"`},
		},
		"bad clean policy and managedBy": {
			mutate: func(j *MPIJob) {
				j.Spec.RunPolicy.CleanPodPolicy = ptr.To(CleanPodPolicy("Some"))
				j.Spec.RunPolicy.ManagedBy = ptr.To("example.com/other")
			},
			wantErrs: []string{"spec.runPolicy.cleanPodPolicy: Unsupported value", "spec.runPolicy.managedBy: Unsupported value"},
		},
		"no containers": {
			mutate:   func(j *MPIJob) { j.Spec.MPIReplicaSpecs[MPIReplicaTypeWorker].Template.Spec.Containers = nil },
			wantErrs: []string{"spec.mpiReplicaSpecs[Worker].template.spec.containers: Required value"},
		},
		"negative limits": {
			mutate: func(j *MPIJob) {
				j.Spec.RunPolicy.BackoffLimit = ptr.To[int32](-1)
				j.Spec.RunPolicy.ActiveDeadlineSeconds = ptr.To[int64](0)
				j.Spec.SlotsPerWorker = ptr.To[int32](0)
			},
			wantErrs: []string{"spec.runPolicy.backoffLimit", "spec.runPolicy.activeDeadlineSeconds", "spec.slotsPerWorker"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			job := validJob()
			tc.mutate(job)
			errs := ValidateMPIJob(job)
			if len(tc.wantErrs) == 0 && len(errs) > 0 {
				t.Fatalf("unexpected errors: %v", errs)
			}
			all := errs.ToAggregate()
			for _, want := range tc.wantErrs {
				if all == nil || !strings.Contains(all.Error(), want) {
					t.Errorf("errors %v lack %q", all, want)
				}
			}
		})
	}
}

func TestManagedByIsImmutable(t *testing.T) {
	old := validJob()
	updated := old.DeepCopy()
	updated.Spec.RunPolicy.ManagedBy = ptr.To(MultiKueueController)
	if errs := ValidateMPIJobUpdate(old, updated); len(errs) != 1 || !strings.Contains(errs[0].Error(), "immutable") {
		t.Errorf("errors = %v, want one immutability error", errs)
	}
	if errs := ValidateMPIJobUpdate(old, old.DeepCopy()); len(errs) != 0 {
		t.Errorf("unchanged update gave %v", errs)
	}
}

func TestSetDefaultsMatchesUpstream(t *testing.T) {
	job := &MPIJob{Spec: MPIJobSpec{MPIReplicaSpecs: map[MPIReplicaType]*ReplicaSpec{
		MPIReplicaTypeLauncher: {}, MPIReplicaTypeWorker: {},
	}}}
	SetDefaults(job)
	want := MPIJobSpec{
		SlotsPerWorker:         ptr.To[int32](1),
		RunPolicy:              RunPolicy{CleanPodPolicy: ptr.To(CleanPodPolicyNone)},
		SSHAuthMountPath:       "/root/.ssh",
		LauncherCreationPolicy: LauncherCreationPolicyAtStartup,
		MPIImplementation:      MPIImplementationOpenMPI,
		MPIReplicaSpecs: map[MPIReplicaType]*ReplicaSpec{
			MPIReplicaTypeLauncher: {Replicas: ptr.To[int32](1), RestartPolicy: RestartPolicyOnFailure},
			MPIReplicaTypeWorker:   {Replicas: ptr.To[int32](0), RestartPolicy: RestartPolicyNever},
		},
	}
	if diff := cmp.Diff(want, job.Spec); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

// FuzzDefaultAndValidate: no panic on any input; defaulting is idempotent;
// whatever defaulting produces from a job that validates still validates.
func FuzzDefaultAndValidate(f *testing.F) {
	seed, _ := json.Marshal(validJob())
	f.Add(seed)
	f.Add([]byte(`{"metadata":{"name":"x"},"spec":{"mpiReplicaSpecs":{"Launcher":{},"Worker":{"replicas":-3}}}}`))
	f.Add([]byte(`{"spec":{"slotsPerWorker":0,"runPolicy":{"cleanPodPolicy":"All","managedBy":""}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		job := &MPIJob{}
		if err := json.Unmarshal(data, job); err != nil {
			return
		}
		SetDefaults(job)
		once := job.DeepCopy()
		SetDefaults(job)
		if diff := cmp.Diff(once, job); diff != "" {
			t.Fatalf("defaulting is not idempotent:\n%s", diff)
		}
		errs := ValidateMPIJob(job)
		if len(errs) == 0 {
			again := job.DeepCopy()
			SetDefaults(again)
			if errs := ValidateMPIJob(again); len(errs) > 0 {
				t.Fatalf("a valid job became invalid after defaulting: %v", errs)
			}
		}
	})
}
