package mpijob

import (
	"errors"

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
