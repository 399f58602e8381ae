// Package quota is the admission webhook's quota verdict as a wire
// contract: each resource a job asks more of than a quota can ever give is
// one cause of the refusal's metav1.Status (details.causes), so that the
// CLI, the console and the SDK read numbers, never the message's prose.
//
// A cause has Type QuotaShortfall, Field naming the quota ("ResourceQuota
// <namespace>/<name>" or "ClusterQueue <name>") and, as Message, a JSON
// object with the fields of Shortfall. docs/reference/admission-errors.md
// documents it; testdata/contract/quota.yaml pins it for Go, Python and
// TypeScript.
package quota

import (
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"
)

// CauseType marks a cause that is a quota shortfall.
const CauseType metav1.CauseType = "QuotaShortfall"

// Shortfall is one resource a job asks more of than one quota allows.
// Quantities are as Kubernetes writes them ("16", "64Gi", "500m").
type Shortfall struct {
	// Resource as the quota names it: requests.nvidia.com/gpu,
	// nvidia.com/gpu, pods, cpu...
	Resource string `json:"resource"`
	// Requested is what the job (or one of its pod sets) needs.
	Requested string `json:"requested"`
	// Used is in use now; Available is free now (Limit - Used, never
	// negative); Limit is the most there can ever be.
	Used      string `json:"used"`
	Available string `json:"available"`
	Limit     string `json:"limit"`
	// Where is the quota: "ResourceQuota team-a/compute" or "ClusterQueue
	// gpu-cq".
	Where string `json:"where"`
	// Note says why, when the numbers alone do not (e.g. which flavors
	// and cohort the limit counts).
	Note string `json:"note,omitempty"`
}

// String is the shortfall as one line of the refusal's message.
func (s Shortfall) String() string {
	line := fmt.Sprintf("%s: requested %s, used %s, available %s, limit %s", s.Resource, s.Requested, s.Used, s.Available, s.Limit)
	if s.Note != "" {
		line += " (" + s.Note + ")"
	}
	return line
}

// Cause encodes the shortfall as a status cause.
func (s Shortfall) Cause() metav1.StatusCause {
	data, _ := json.Marshal(s) // a struct of strings always marshals
	return metav1.StatusCause{Type: CauseType, Field: s.Where, Message: string(data)}
}

// FromCauses decodes the shortfalls among a status's causes. A
// QuotaShortfall cause that does not decode is an error: the webhook and
// this package are one contract.
func FromCauses(causes []metav1.StatusCause) ([]Shortfall, error) {
	var out []Shortfall
	for _, c := range causes {
		if c.Type != CauseType {
			continue
		}
		var s Shortfall
		if err := json.Unmarshal([]byte(c.Message), &s); err != nil {
			return nil, fmt.Errorf("quota cause of %s: %w", c.Field, err)
		}
		if s.Where == "" {
			s.Where = c.Field
		}
		out = append(out, s)
	}
	return out, nil
}

// FromError returns the shortfalls of an API error: none (and no error)
// when it is not a quota refusal.
func FromError(err error) ([]Shortfall, error) {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return nil, nil
	}
	return FromCauses(status.Status().Details.Causes)
}

// Reserved is how much of resource r in flavor f a ClusterQueue has
// reserved for the workloads it admitted (its status.flavorsReservation):
// the "used" of a ClusterQueue, for the webhook's verdict and the
// console's quota page alike.
func Reserved(cq *kueue.ClusterQueue, f kueue.ResourceFlavorReference, r corev1.ResourceName) resource.Quantity {
	for _, u := range cq.Status.FlavorsReservation {
		if u.Name != f {
			continue
		}
		for _, ru := range u.Resources {
			if ru.Name == r {
				return ru.Total
			}
		}
	}
	return resource.Quantity{}
}
