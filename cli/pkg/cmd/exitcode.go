package cmd

import (
	"context"
	"errors"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
)

// Exit codes, the same for every command.
const (
	// ExitOK: the command did what was asked; for wait, the job succeeded.
	ExitOK = 0
	// ExitJobFailed: the job failed (and any other runtime error, such as
	// an unreachable cluster).
	ExitJobFailed = 1
	// ExitUsage: usage or validation error: unknown flag or command,
	// missing argument, malformed YAML, wrong kind, a job the API server
	// rejects as invalid (422 / 400), or an admission webhook's denial
	// (including quota rejections).
	ExitUsage = 2
	// ExitTimeout: a wait timed out, the job still running or queued.
	ExitTimeout = 3
	// ExitNotFound: the job (or namespace) does not exist, or RBAC forbids
	// the request, or the credentials are refused.
	ExitNotFound = 4
)

// ExitError carries an explicit exit code.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// usageErr marks a usage or validation error.
func usageErr(err error) error { return &ExitError{Code: ExitUsage, Err: err} }

// runtimeError marks an error returned by a command's RunE, as opposed to
// one cobra produced while parsing (which is always a usage error).
type runtimeError struct{ err error }

func (e *runtimeError) Error() string { return e.err.Error() }
func (e *runtimeError) Unwrap() error { return e.err }

// IsAdmissionDenial says whether a Forbidden error comes from an admission
// webhook (a validation-type refusal such as a quota rejection) rather than
// from RBAC.
func IsAdmissionDenial(err error) bool {
	if !apierrors.IsForbidden(err) {
		return false
	}
	if mpijob.IsPlatformDenial(err) {
		return true
	}
	// Another webhook's refusal (Kueue's, a cluster policy's) carries no
	// cause of ours; the API server's own prefix of every webhook refusal
	// names it.
	return strings.Contains(err.Error(), "admission webhook")
}

// ExitCode maps an error to the exit code of the contract:
//
//	nil                                          0
//	*ExitError                                   its Code
//	NotFound, RBAC Forbidden, Unauthorized       4
//	Invalid (422), BadRequest (400),
//	  Forbidden from an admission webhook         2
//	no kind match (CRD not installed)            4
//	context deadline                             3
//	anything else                                1
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	switch {
	case apierrors.IsNotFound(err):
		return ExitNotFound
	case IsAdmissionDenial(err):
		return ExitUsage
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return ExitNotFound
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return ExitUsage
	case meta.IsNoMatchError(err):
		return ExitNotFound
	case errors.Is(err, context.DeadlineExceeded):
		return ExitTimeout
	}
	return ExitJobFailed
}
