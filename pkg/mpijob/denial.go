package mpijob

import (
	"errors"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/quota"
)

// CausePodsForbidden is the cause of the admission webhook's refusal of a
// job whose creator may not create pods in its namespace (its Field is the
// namespace). docs/reference/admission-errors.md documents it.
const CausePodsForbidden metav1.CauseType = "PodsForbidden"

// DenialCauses are the cause types that mark a 403 as the platform's own
// admission refusal (a problem with the job or its quota), not a missing
// RBAC permission.
var DenialCauses = []metav1.CauseType{quota.CauseType, CausePodsForbidden}

// IsPlatformDenial says whether err is the admission webhook's refusal of
// a job: Forbidden, with one of DenialCauses among its causes.
func IsPlatformDenial(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsForbidden(err) || !errors.As(err, &status) || status.Status().Details == nil {
		return false
	}
	for _, c := range status.Status().Details.Causes {
		for _, t := range DenialCauses {
			if c.Type == t {
				return true
			}
		}
	}
	return false
}

// webhookNames are the names of the platform's admission webhooks, as the
// API server quotes them when it cannot call one.
var webhookNames = []string{`"mpijobs.defaulting.mpijob.io"`, `"mpijobs.validation.mpijob.io"`}

// ExplainAdmissionError returns err with what to check when the API server
// refused a write because it could not call the platform's admission
// webhooks (the webhooks fail closed: nothing was created); nil for any
// other error.
func ExplainAdmissionError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if !strings.Contains(msg, "failed calling webhook") {
		return nil
	}
	for _, n := range webhookNames {
		if strings.Contains(msg, n) {
			return &unavailableError{err: err}
		}
	}
	return nil
}

type unavailableError struct{ err error }

func (e *unavailableError) Error() string {
	return e.err.Error() + "\n" +
		"The MPIJob Platform's admission webhooks did not answer, so the API server refused the request and created nothing. " +
		"Check that the mpijob-controller pods run and that the mpijob-webhook Service has endpoints, in the platform's namespace (mpijob-system by default):\n" +
		"  kubectl -n mpijob-system get pods -l app.kubernetes.io/name=mpijob-controller\n" +
		"  kubectl -n mpijob-system get endpointslices -l kubernetes.io/service-name=mpijob-webhook\n" +
		"See docs/operations/faults.md."
}

func (e *unavailableError) Unwrap() error { return e.err }
