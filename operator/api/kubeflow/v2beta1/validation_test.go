package v2beta1

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
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
		"port name too long": {
			mutate: func(j *MPIJob) {
				j.Spec.MPIReplicaSpecs[MPIReplicaTypeWorker].Template.Spec.Containers[0].Ports = []corev1.ContainerPort{
					{Name: "ssh", ContainerPort: 2222}, {Name: "training-metrics", ContainerPort: 9464}}
			},
			wantErrs: []string{`spec.mpiReplicaSpecs[Worker].template.spec.containers[0].ports[1].name: Invalid value: "training-metrics": must be no more than 15 characters`},
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

// TestValidateMPIJobLimits: each limit is refused at one past it with a
// field error on the right path that names the limit, and accepted at it.
func TestValidateMPIJobLimits(t *testing.T) {
	workers := func(n int32) func(*MPIJob) {
		return func(j *MPIJob) { j.Spec.MPIReplicaSpecs[MPIReplicaTypeWorker].Replicas = ptr.To(n) }
	}
	name := func(n string) func(*MPIJob) { return func(j *MPIJob) { j.Name = n } }
	longest := "a" + strings.Repeat("b", MaxNameLength-2) + "9"
	namePath := field.NewPath("metadata", "name")
	replicasPath := field.NewPath("spec", "mpiReplicaSpecs").Key("Worker").Child("replicas")
	slotsPath := field.NewPath("spec", "slotsPerWorker")
	cases := map[string]struct {
		mutate     func(*MPIJob)
		wantErrs   field.ErrorList // compared without Detail
		wantDetail string          // in every error's Detail
	}{
		"most workers":  {mutate: workers(MaxWorkers)},
		"longest name":  {mutate: name(longest)},
		"most slots":    {mutate: func(j *MPIJob) { j.Spec.SlotsPerWorker = ptr.To[int32](MaxSlotsPerWorker) }},
		"hyphenated":    {mutate: name("resnet-50-train")},
		"one letter":    {mutate: name("a")},
		"upstream name": {mutate: name("tensorflow-benchmarks")},
		"one worker too many": {
			mutate:     workers(MaxWorkers + 1),
			wantErrs:   field.ErrorList{field.Invalid(replicasPath, int32(MaxWorkers+1), "")},
			wantDetail: "must be at most 1024 workers per MPIJob",
		},
		"10 million workers": {
			mutate:     workers(10_000_000),
			wantErrs:   field.ErrorList{field.Invalid(replicasPath, int32(10_000_000), "")},
			wantDetail: "use fewer, larger workers",
		},
		"too many slots": {
			mutate:     func(j *MPIJob) { j.Spec.SlotsPerWorker = ptr.To[int32](MaxSlotsPerWorker + 1) },
			wantErrs:   field.ErrorList{field.Invalid(slotsPath, int32(MaxSlotsPerWorker+1), "")},
			wantDetail: "must be at most 4096 MPI processes per worker",
		},
		"name one character too long": {
			mutate:     name(longest + "c"),
			wantErrs:   field.ErrorList{field.Invalid(namePath, longest+"c", "")},
			wantDetail: "must be at most 50 characters, not 51",
		},
		"name of 253 characters": {
			mutate:     name(strings.Repeat("x", 253)),
			wantErrs:   field.ErrorList{field.Invalid(namePath, strings.Repeat("x", 253), "")},
			wantDetail: "use a shorter name",
		},
		"name starts with a digit": {
			mutate:     name("2-workers"),
			wantErrs:   field.ErrorList{field.Invalid(namePath, "2-workers", "")},
			wantDetail: "must be a DNS-1035 label",
		},
		"name with capitals": {
			mutate:     name("Pi"),
			wantErrs:   field.ErrorList{field.Invalid(namePath, "Pi", "")},
			wantDetail: "starting with a letter",
		},
		"name with a dot": {
			mutate:     name("pi.v2"),
			wantErrs:   field.ErrorList{field.Invalid(namePath, "pi.v2", "")},
			wantDetail: "headless Service",
		},
		"name ends with a dash": {
			mutate:     name("pi-"),
			wantErrs:   field.ErrorList{field.Invalid(namePath, "pi-", "")},
			wantDetail: "ending with a letter or digit",
		},
		"no name": {
			mutate:     name(""),
			wantErrs:   field.ErrorList{field.Required(namePath, "")},
			wantDetail: "a name such as pi",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			job := validJob()
			tc.mutate(job)
			errs := ValidateMPIJob(job)
			if diff := cmp.Diff(tc.wantErrs, errs, cmpopts.IgnoreFields(field.Error{}, "Detail"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			for _, e := range errs {
				if !strings.Contains(e.Detail, tc.wantDetail) {
					t.Errorf("detail %q lacks %q", e.Detail, tc.wantDetail)
				}
			}
		})
	}
}

// TestLongestNameKeepsEveryChildNameValid checks the boundary of the name
// rule against the rules of the objects the job's name is part of.
func TestLongestNameKeepsEveryChildNameValid(t *testing.T) {
	if digits := len(strconv.Itoa(MaxWorkers - 1)); digits > maxWorkerIndexDigits {
		t.Fatalf("worker indices up to %d need %d digits; the name rule leaves room for %d", MaxWorkers-1, digits, maxWorkerIndexDigits)
	}
	name := strings.Repeat("n", MaxNameLength)
	if errs := ValidateName(name); len(errs) > 0 {
		t.Fatalf("the longest name is refused: %v", errs)
	}
	for what, msgs := range map[string][]string{
		"Service (DNS-1035)":            validation.IsDNS1035Label(name),
		"worker pod hostname":           validation.IsDNS1123Label(name + "-worker-99999"),
		"launcher hostname":             validation.IsDNS1123Label(name + "-launcher"),
		"launcher Job's job-name label": validation.IsValidLabelValue(name + "-launcher"),
		"Secret":                        validation.IsDNS1123Subdomain(name + "-ssh"),
		"ConfigMap":                     validation.IsDNS1123Subdomain(name + "-config"),
	} {
		if len(msgs) > 0 {
			t.Errorf("%s: %v", what, msgs)
		}
	}
}

// TestSchemaMarkersMatchLimits keeps the CRD schema's maxima, written as
// markers in types.go, in step with the constants validation uses.
func TestSchemaMarkersMatchLimits(t *testing.T) {
	f, err := os.Open("types.go")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	marker := regexp.MustCompile(`^\s*// \+kubebuilder:validation:Maximum=(\d+)\s*$`)
	fieldLine := regexp.MustCompile(`^\s*(\w+)\s+\S+\s+` + "`json:")
	got := map[string]string{}
	maximum := ""
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		if m := marker.FindStringSubmatch(line); m != nil {
			maximum = m[1]
		} else if m := fieldLine.FindStringSubmatch(line); m != nil {
			if maximum != "" {
				got[m[1]] = maximum
			}
			maximum = ""
		}
	}
	want := map[string]string{"Replicas": fmt.Sprint(MaxWorkers), "SlotsPerWorker": fmt.Sprint(MaxSlotsPerWorker)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Maximum markers in types.go (-want +got):\n%s", diff)
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

// TestUpdateRatchetsNewLimits: a job created before the limits (a name
// starting with a digit, more workers or slots than now allowed) can still
// be updated as long as the update leaves those values alone.
func TestUpdateRatchetsNewLimits(t *testing.T) {
	old := validJob()
	old.Name = "1st-run"
	old.Spec.SlotsPerWorker = ptr.To[int32](MaxSlotsPerWorker * 2)
	old.Spec.MPIReplicaSpecs[MPIReplicaTypeWorker].Replicas = ptr.To[int32](2000)
	cases := map[string]struct {
		mutate   func(*MPIJob)
		wantErrs []string // fields
	}{
		"suspend":   {mutate: func(j *MPIJob) { j.Spec.RunPolicy.Suspend = ptr.To(true) }},
		"label":     {mutate: func(j *MPIJob) { j.Labels = map[string]string{"team": "a"} }},
		"grow":      {mutate: func(j *MPIJob) { j.Spec.MPIReplicaSpecs[MPIReplicaTypeWorker].Replicas = ptr.To[int32](2001) }, wantErrs: []string{"spec.mpiReplicaSpecs[Worker].replicas"}},
		"shrink":    {mutate: func(j *MPIJob) { j.Spec.MPIReplicaSpecs[MPIReplicaTypeWorker].Replicas = ptr.To[int32](MaxWorkers) }},
		"new slots": {mutate: func(j *MPIJob) { j.Spec.SlotsPerWorker = ptr.To[int32](MaxSlotsPerWorker + 1) }, wantErrs: []string{"spec.slotsPerWorker"}},
		"other invalid field": {
			mutate:   func(j *MPIJob) { j.Spec.MPIImplementation = "LAM" },
			wantErrs: []string{"spec.mpiImplementation"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			updated := old.DeepCopy()
			tc.mutate(updated)
			var got []string
			for _, e := range ValidateMPIJobUpdate(old, updated) {
				got = append(got, e.Field)
			}
			if diff := cmp.Diff(tc.wantErrs, got); diff != "" {
				t.Errorf("error fields (-want +got):\n%s", diff)
			}
		})
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
	f.Add([]byte(`{"metadata":{"name":"1st"},"spec":{"slotsPerWorker":4097,"mpiReplicaSpecs":{"Launcher":{},"Worker":{"replicas":10000000}}}}`))
	f.Add([]byte(`{"metadata":{"name":"` + strings.Repeat("a", MaxNameLength) + `"},"spec":{"mpiReplicaSpecs":{"Worker":{"replicas":1024}}}}`))
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
			// What validation admits stays within every limit.
			if job.Workers() > MaxWorkers || *job.Spec.SlotsPerWorker > MaxSlotsPerWorker {
				t.Fatalf("admitted %d workers of %d slots", job.Workers(), *job.Spec.SlotsPerWorker)
			}
			if msgs := validation.IsDNS1035Label(job.Name); len(msgs) > 0 {
				t.Fatalf("admitted name %q: %v", job.Name, msgs)
			}
			if msgs := validation.IsDNS1123Label(fmt.Sprintf("%s-worker-%d", job.Name, job.Workers()-1)); len(msgs) > 0 {
				t.Fatalf("admitted name %q gives invalid worker names: %v", job.Name, msgs)
			}
			again := job.DeepCopy()
			SetDefaults(again)
			if errs := ValidateMPIJob(again); len(errs) > 0 {
				t.Fatalf("a valid job became invalid after defaulting: %v", errs)
			}
		}
	})
}
