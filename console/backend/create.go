package backend

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/mpijob-platform/mpijob-platform/cli/pkg/builder"
	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// JobForm is the creation wizard's fields: those of `kubectl odh mpijob
// create` plus the advanced step's volumes, node selector and run policy.
type JobForm struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	// Command is the launcher's command line, split on spaces; quotes
	// ('...' or "...") keep an argument's spaces.
	Command       string `json:"command,omitempty"`
	Workers       int32  `json:"workers"`
	GPUsPerWorker int64  `json:"gpusPerWorker,omitempty"`
	// CPU and Memory are each worker's request and limit.
	CPU               string            `json:"cpu,omitempty"`
	Memory            string            `json:"memory,omitempty"`
	SlotsPerWorker    int32             `json:"slotsPerWorker,omitempty"`
	MPIImplementation string            `json:"mpiImplementation,omitempty"`
	Queue             string            `json:"queue,omitempty"`
	Env               []corev1.EnvVar   `json:"env,omitempty"`
	NodeSelector      map[string]string `json:"nodeSelector,omitempty"`
	Volumes           []VolumeForm      `json:"volumes,omitempty"`
	// BackoffLimit and ActiveDeadlineSeconds go to spec.runPolicy.
	BackoffLimit          *int32 `json:"backoffLimit,omitempty"`
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`
}

// VolumeForm mounts a PersistentVolumeClaim, or an emptyDir when
// ClaimName is empty, into the launcher and every worker.
type VolumeForm struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	ClaimName string `json:"claimName,omitempty"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

// CreateRequest holds either the wizard's form or a complete MPIJob.
type CreateRequest struct {
	Form   *JobForm         `json:"form,omitempty"`
	MPIJob *kubeflow.MPIJob `json:"mpijob,omitempty"`
}

// CreateResponse is the job as the apiserver returned it (after the
// webhooks' defaulting), as YAML too, and the warnings of admission.
type CreateResponse struct {
	DryRun   bool             `json:"dryRun"`
	MPIJob   *kubeflow.MPIJob `json:"mpijob"`
	YAML     string           `json:"yaml"`
	Warnings []string         `json:"warnings"`
}

// FieldError is an error of one form field, for inline validation.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// formError is a 422 whose causes name form fields.
func formError(w http.ResponseWriter, errs []FieldError) {
	msgs := make([]string, 0, len(errs))
	causes := make([]metav1.StatusCause, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.Field+": "+e.Message)
		causes = append(causes, metav1.StatusCause{Type: metav1.CauseTypeFieldValueInvalid, Field: e.Field, Message: e.Message})
	}
	writeJSON(w, http.StatusUnprocessableEntity, errorWithFields{
		Error:  Error{Error: "the job is not valid: " + strings.Join(msgs, "; "), Reason: string(metav1.StatusReasonInvalid), Details: &metav1.StatusDetails{Kind: "MPIJob", Causes: causes}},
		Fields: errs,
	})
}

type errorWithFields struct {
	Error
	// Fields are the errors by form field, when the request was a form.
	Fields []FieldError `json:"fields,omitempty"`
}

// validateForm checks what the console can check alone, with messages
// that say how to fix each field. The webhooks check the rest on the dry
// run.
func validateForm(f *JobForm) []FieldError {
	var errs []FieldError
	add := func(field, format string, a ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, a...)})
	}
	switch {
	case f.Name == "":
		add("name", "required: a lower-case name such as pi or resnet-train")
	case len(validation.IsDNS1035Label(f.Name)) > 0:
		add("name", "%q is not a valid name: use lower-case letters, digits and '-', start with a letter, at most 63 characters", f.Name)
	case len(f.Name) > 50:
		add("name", "%q is too long: the launcher and worker pods add suffixes, so keep it to 50 characters", f.Name)
	}
	if strings.TrimSpace(f.Image) == "" {
		add("image", "required: the container image with your training code and MPI, e.g. mpioperator/mpi-pi:openmpi")
	}
	if f.Workers < 1 {
		add("workers", "must be at least 1, not %d", f.Workers)
	}
	if f.GPUsPerWorker < 0 {
		add("gpusPerWorker", "must not be negative")
	}
	if f.SlotsPerWorker < 0 {
		add("slotsPerWorker", "must not be negative; leave 0 for one slot per GPU")
	}
	for field, v := range map[string]string{"cpu": f.CPU, "memory": f.Memory} {
		if v == "" {
			continue
		}
		if _, err := resource.ParseQuantity(v); err != nil {
			example := "2 or 500m"
			if field == "memory" {
				example = "8Gi or 512Mi"
			}
			add(field, "%q is not a quantity: write it like %s", v, example)
		}
	}
	if _, err := builder.ParseImplementation(f.MPIImplementation); err != nil {
		add("mpiImplementation", "must be OpenMPI, Intel or MPICH, not %q", f.MPIImplementation)
	}
	if f.Queue != "" && len(validation.IsDNS1123Subdomain(f.Queue)) > 0 {
		add("queue", "%q is not a LocalQueue name", f.Queue)
	}
	for i, e := range f.Env {
		if msgs := validation.IsEnvVarName(e.Name); len(msgs) > 0 {
			add(fmt.Sprintf("env[%d].name", i), "%q is not a valid variable name: %s", e.Name, strings.Join(msgs, "; "))
		}
	}
	for k, v := range f.NodeSelector {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			add("nodeSelector", "key %q: %s", k, strings.Join(msgs, "; "))
		}
		if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
			add("nodeSelector", "value %q of %s: %s", v, k, strings.Join(msgs, "; "))
		}
	}
	seen := map[string]bool{}
	for i, v := range f.Volumes {
		field := fmt.Sprintf("volumes[%d]", i)
		if len(validation.IsDNS1123Label(v.Name)) > 0 {
			add(field+".name", "%q is not a valid volume name: lower-case letters, digits and '-'", v.Name)
		} else if seen[v.Name] {
			add(field+".name", "%q is used twice", v.Name)
		}
		seen[v.Name] = true
		if !path.IsAbs(v.MountPath) {
			add(field+".mountPath", "%q must be an absolute path such as /data", v.MountPath)
		}
		if v.ClaimName != "" && len(validation.IsDNS1123Subdomain(v.ClaimName)) > 0 {
			add(field+".claimName", "%q is not a PersistentVolumeClaim name", v.ClaimName)
		}
	}
	if f.BackoffLimit != nil && *f.BackoffLimit < 0 {
		add("backoffLimit", "must not be negative")
	}
	if f.ActiveDeadlineSeconds != nil && *f.ActiveDeadlineSeconds <= 0 {
		add("activeDeadlineSeconds", "must be positive; leave it empty for no deadline")
	}
	return errs
}

// splitCommand splits a command line on spaces, keeping quoted spaces.
func splitCommand(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		quote rune
		inArg bool
	)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inArg = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}

// buildJob turns the form into an MPIJob with the CLI's builder and adds
// the advanced step's fields.
func buildJob(ns string, f *JobForm) (*kubeflow.MPIJob, []FieldError) {
	if errs := validateForm(f); len(errs) > 0 {
		return nil, errs
	}
	command, err := splitCommand(f.Command)
	if err != nil {
		return nil, []FieldError{{Field: "command", Message: err.Error()}}
	}
	env := make([]string, 0, len(f.Env))
	for _, e := range f.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	job, err := builder.Build(builder.Options{
		Name: f.Name, Namespace: ns, Image: strings.TrimSpace(f.Image), Workers: f.Workers,
		GPUsPerWorker: f.GPUsPerWorker, CPU: f.CPU, Memory: f.Memory, Slots: f.SlotsPerWorker,
		Command: command, Env: env, Queue: f.Queue, MPIImplementation: f.MPIImplementation,
	})
	if err != nil {
		return nil, []FieldError{{Field: "form", Message: strings.TrimPrefix(err.Error(), builder.ErrInvalid.Error()+": ")}}
	}
	if f.BackoffLimit != nil {
		job.Spec.RunPolicy.BackoffLimit = ptr.To(*f.BackoffLimit)
	}
	if f.ActiveDeadlineSeconds != nil {
		job.Spec.RunPolicy.ActiveDeadlineSeconds = ptr.To(*f.ActiveDeadlineSeconds)
	}
	for _, spec := range job.Spec.MPIReplicaSpecs {
		pod := &spec.Template.Spec
		if len(f.NodeSelector) > 0 {
			pod.NodeSelector = map[string]string{}
			for k, v := range f.NodeSelector {
				pod.NodeSelector[k] = v
			}
		}
		for _, v := range f.Volumes {
			vol := corev1.Volume{Name: v.Name}
			if v.ClaimName != "" {
				vol.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: v.ClaimName, ReadOnly: v.ReadOnly}
			} else {
				vol.EmptyDir = &corev1.EmptyDirVolumeSource{}
			}
			pod.Volumes = append(pod.Volumes, vol)
			for i := range pod.Containers {
				pod.Containers[i].VolumeMounts = append(pod.Containers[i].VolumeMounts, corev1.VolumeMount{Name: v.Name, MountPath: v.MountPath, ReadOnly: v.ReadOnly})
			}
		}
	}
	return job, nil
}

// formFields maps apiserver and webhook field paths (lower-cased) to the
// form fields they are about: the first entry whose every substring is in
// the path wins.
var formFields = []struct {
	in    []string
	field string
}{
	{[]string{"queue-name"}, "queue"},
	{[]string{"[worker].replicas"}, "workers"},
	{[]string{"slotsperworker"}, "slotsPerWorker"},
	{[]string{"mpiimplementation"}, "mpiImplementation"},
	{[]string{".image"}, "image"},
	{[]string{"nvidia.com/gpu"}, "gpusPerWorker"},
	{[]string{"resources", "memory"}, "memory"},
	{[]string{"resources", "cpu"}, "cpu"},
	{[]string{".command"}, "command"},
	{[]string{".args"}, "command"},
	{[]string{".env"}, "env"},
	{[]string{"nodeselector"}, "nodeSelector"},
	{[]string{"volume"}, "volumes"},
	{[]string{"backofflimit"}, "backoffLimit"},
	{[]string{"activedeadlineseconds"}, "activeDeadlineSeconds"},
}

// apiFieldToForm names the form field an apiserver or webhook cause is
// about, so that the wizard shows it inline; "" when none fits.
func apiFieldToForm(field string) string {
	f := strings.ToLower(field)
	if f == "metadata.name" {
		return "name"
	}
	for _, m := range formFields {
		all := true
		for _, sub := range m.in {
			all = all && strings.Contains(f, sub)
		}
		if all {
			return m.field
		}
	}
	return ""
}

const maxBody = 1 << 20

// createMPIJob always dry-runs first, so that the webhooks' rejections
// (validation, quota) and warnings come back before anything exists; with
// ?dryRun=true it stops there.
func (s *Server) createMPIJob(w http.ResponseWriter, r *http.Request, c *Clients) {
	ns := r.PathValue("namespace")
	var req CreateRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		badRequest(w, "the body must be JSON {\"form\": {...}} or {\"mpijob\": {...}}: "+err.Error())
		return
	}
	var job *kubeflow.MPIJob
	switch {
	case (req.Form == nil) == (req.MPIJob == nil):
		badRequest(w, "send exactly one of form and mpijob")
		return
	case req.Form != nil:
		var errs []FieldError
		if job, errs = buildJob(ns, req.Form); len(errs) > 0 {
			formError(w, errs)
			return
		}
	default:
		job = req.MPIJob
		if job.Namespace != "" && job.Namespace != ns {
			badRequest(w, fmt.Sprintf("the job's namespace %q differs from the request's %q", job.Namespace, ns))
			return
		}
		job.Namespace = ns
		job.ResourceVersion, job.UID = "", ""
	}
	job.APIVersion, job.Kind = kubeflow.SchemeGroupVersion.String(), kubeflow.SchemeGroupVersionKind.Kind

	dryRunOnly := r.URL.Query().Get("dryRun") == "true" || r.URL.Query().Get("dryRun") == "All"
	tried := job.DeepCopy()
	if err := c.Client.Create(r.Context(), tried, client.DryRunAll); err != nil {
		createError(w, err, warnings(c), req.Form != nil)
		return
	}
	result := tried
	if !dryRunOnly {
		result = job.DeepCopy()
		if err := c.Client.Create(r.Context(), result); err != nil {
			createError(w, err, warnings(c), req.Form != nil)
			return
		}
	}
	result.ManagedFields = nil
	result.APIVersion, result.Kind = kubeflow.SchemeGroupVersion.String(), kubeflow.SchemeGroupVersionKind.Kind
	y, err := yaml.Marshal(previewable(result, dryRunOnly))
	if err != nil {
		writeError(w, err, nil)
		return
	}
	code := http.StatusCreated
	if dryRunOnly {
		code = http.StatusOK
	}
	writeJSON(w, code, CreateResponse{DryRun: dryRunOnly, MPIJob: result, YAML: string(y), Warnings: orEmpty(warnings(c))})
}

// previewable strips what a dry run invents (uid, timestamps), so that
// the YAML preview is what a user would apply.
func previewable(job *kubeflow.MPIJob, dryRun bool) *kubeflow.MPIJob {
	if !dryRun {
		return job
	}
	j := job.DeepCopy()
	j.UID, j.ResourceVersion, j.Generation = "", "", 0
	j.CreationTimestamp = metav1.Time{}
	j.Status = kubeflow.JobStatus{}
	return j
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// createError is writeError with the causes mapped to form fields.
func createError(w http.ResponseWriter, err error, warns []string, form bool) {
	code, body := errorBody(err)
	body.Warnings = warns
	out := errorWithFields{Error: body}
	var status apierrors.APIStatus
	if form && errors.As(err, &status) && status.Status().Details != nil {
		for _, cause := range status.Status().Details.Causes {
			if f := apiFieldToForm(cause.Field); f != "" {
				out.Fields = append(out.Fields, FieldError{Field: f, Message: cause.Message})
			}
		}
	}
	writeJSON(w, code, out)
}
