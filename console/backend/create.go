package backend

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/jobspec"
)

// JobForm is the creation wizard's fields: a jobspec.Spec (those of
// `kubectl odh mpijob create` plus volumes, node selector and run policy)
// whose command is one line.
type JobForm struct {
	jobspec.Spec
	// Command is the launcher's command line, split on spaces; quotes
	// ('...' or "...") keep an argument's spaces.
	Command string `json:"command,omitempty"`
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

// buildJob turns the form into an MPIJob with the shared jobspec, whose
// field errors already name the form's fields.
func buildJob(ns string, f *JobForm) (*kubeflow.MPIJob, []FieldError) {
	spec := f.Spec
	spec.Namespace = ns
	command, err := splitCommand(f.Command)
	if err != nil {
		return nil, []FieldError{{Field: "command", Message: err.Error()}}
	}
	spec.Command = command
	job, errs := spec.Build()
	if len(errs) > 0 {
		out := make([]FieldError, 0, len(errs))
		for _, e := range errs {
			out = append(out, FieldError{Field: e.Field, Message: e.ErrorBody()})
		}
		return nil, out
	}
	return job, nil
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
			if f := jobspec.SpecField(cause.Field); f != "" {
				out.Fields = append(out.Fields, FieldError{Field: f, Message: cause.Message})
			}
		}
	}
	writeJSON(w, code, out)
}
