package backend

import (
	"encoding/json"
	"errors"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Error is the body of every failed request.
type Error struct {
	// Error says what happened, why, and what to do next.
	Error string `json:"error"`
	// Reason is the Kubernetes StatusReason (Forbidden, NotFound, Invalid,
	// Unauthorized, ...) or one of the console's own (BadRequest).
	Reason string `json:"reason"`
	// Details are the Kubernetes status details: the object and, for
	// Invalid, one cause per field.
	Details *metav1.StatusDetails `json:"details,omitempty"`
	// Warnings are the apiserver's and webhooks' warnings of the request.
	Warnings []string `json:"warnings,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeError answers with err's Kubernetes status code, reason and
// details; errors that are not API statuses are 500.
func writeError(w http.ResponseWriter, err error, warnings []string) {
	code, body := errorBody(err)
	body.Warnings = warnings
	writeJSON(w, code, body)
}

func errorBody(err error) (int, Error) {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		s := status.Status()
		code := int(s.Code)
		if code == 0 {
			code = http.StatusInternalServerError
		}
		reason := string(s.Reason)
		if reason == "" { // metav1.StatusReasonUnknown is ""
			reason = "Unknown"
		}
		// err's text is the status message with what the console was
		// doing when it got it.
		msg := err.Error()
		return code, Error{Error: msg, Reason: reason, Details: s.Details}
	}
	return http.StatusInternalServerError, Error{Error: err.Error(), Reason: string(metav1.StatusReasonInternalError)}
}

// badRequest is a request the console refuses before asking the apiserver.
func badRequest(w http.ResponseWriter, msg string, causes ...metav1.StatusCause) {
	var details *metav1.StatusDetails
	if len(causes) > 0 {
		details = &metav1.StatusDetails{Causes: causes}
	}
	writeJSON(w, http.StatusBadRequest, Error{Error: msg, Reason: string(metav1.StatusReasonBadRequest), Details: details})
}
