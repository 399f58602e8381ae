package webhook

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	mpijobquota "github.com/mpijob-platform/mpijob-platform/pkg/mpijob/quota"
)

// shortfall is one resource a job asks more of than a quota gives.
type shortfall struct {
	Resource  string            // as the quota names it: "requests.nvidia.com/gpu", "nvidia.com/gpu", "pods"
	Requested resource.Quantity // what the job (or one of its pod sets) needs
	Used      resource.Quantity // in use now
	Available resource.Quantity // free now: Limit - Used, never negative
	Limit     resource.Quantity // the most there can ever be
	Note      string            // why, when the numbers alone do not say it
}

func (s shortfall) String() string { return s.wire("").String() }

// wire is the shortfall as the refusal carries it (pkg/mpijob/quota).
func (s shortfall) wire(where string) mpijobquota.Shortfall {
	return mpijobquota.Shortfall{Resource: s.Resource, Requested: s.Requested.String(), Used: s.Used.String(),
		Available: s.Available.String(), Limit: s.Limit.String(), Where: where, Note: s.Note}
}

// verdict is what a quota says about a job: resources it can never get
// (reject) and resources it can get only once others finish (warn).
type verdict struct {
	Never, Later []shortfall
}

func free(limit, used resource.Quantity) resource.Quantity {
	f := limit.DeepCopy()
	f.Sub(used)
	if f.Sign() < 0 {
		return resource.Quantity{}
	}
	return f
}

// checkResourceQuota compares a job's totals with one ResourceQuota's hard
// limits. Scoped quotas (scopes or scopeSelector) are skipped: whether they
// apply depends on pod fields the pre-check does not model, and a skipped
// quota is still enforced by the API server when pods are created.
func checkResourceQuota(q *corev1.ResourceQuota, requests, limits corev1.ResourceList, pods int64) verdict {
	var v verdict
	if len(q.Spec.Scopes) > 0 || q.Spec.ScopeSelector != nil {
		return v
	}
	for _, key := range sortedNames(q.Spec.Hard) {
		want, ok := quotaDemand(key, requests, limits, pods)
		if !ok || want.IsZero() {
			continue
		}
		hard, used := q.Spec.Hard[key], q.Status.Used[key]
		s := shortfall{Resource: string(key), Requested: want, Used: used, Available: free(hard, used), Limit: hard}
		switch {
		case want.Cmp(hard) > 0:
			v.Never = append(v.Never, s)
		case want.Cmp(s.Available) > 0:
			v.Later = append(v.Later, s)
		}
	}
	return v
}

// quotaDemand maps a ResourceQuota key to how much of it the job needs;
// false for keys the job does not consume (object counts and the like).
func quotaDemand(key corev1.ResourceName, requests, limits corev1.ResourceList, pods int64) (resource.Quantity, bool) {
	k := string(key)
	switch {
	case key == corev1.ResourcePods:
		return *resource.NewQuantity(pods, resource.DecimalSI), true
	case strings.HasPrefix(k, "requests."):
		return requests[corev1.ResourceName(strings.TrimPrefix(k, "requests."))], true
	case strings.HasPrefix(k, "limits."):
		return limits[corev1.ResourceName(strings.TrimPrefix(k, "limits."))], true
	case key == corev1.ResourceCPU || key == corev1.ResourceMemory || key == corev1.ResourceEphemeralStorage:
		return requests[key], true // unprefixed compute keys mean requests
	}
	return resource.Quantity{}, false
}

// cohortView is what the pre-check knows of a ClusterQueue's cohort: the
// other ClusterQueues in it and whether a Cohort object exists (which may
// hold quota of its own or have a parent, so borrowing is not bounded by
// the peers alone).
type cohortView struct {
	Peers     []kueue.ClusterQueue
	HasObject bool
}

// flavorCap is one flavor's quota for one resource in a ClusterQueue.
type flavorCap struct {
	Flavor    string
	Nominal   resource.Quantity
	Max       resource.Quantity // nominal plus whatever can be borrowed
	Unbounded bool              // borrowing has no limit we can compute
	Reserved  resource.Quantity // in use by admitted workloads
}

// checkClusterQueue decides whether a job's pod sets can ever be admitted by
// a ClusterQueue, following how Kueue assigns flavors: every pod set takes
// each resource from a single flavor of the resource group covering it, and
// a flavor gives at most its nominal quota plus what it may borrow.
func checkClusterQueue(cq *kueue.ClusterQueue, cohort cohortView, sets []podSet) verdict {
	var v verdict
	requests, _, _ := jobTotals(sets)
	pods := int64(0)
	for _, s := range sets {
		pods += s.Count
	}
	if covers(cq, corev1.ResourcePods) {
		requests[corev1.ResourcePods] = *resource.NewQuantity(pods, resource.DecimalSI)
	}
	for _, r := range sortedNames(requests) {
		total := requests[r]
		if total.IsZero() {
			continue
		}
		caps := flavorCaps(cq, cohort, r)
		if len(caps) == 0 {
			v.Never = append(v.Never, shortfall{
				Resource: string(r), Requested: total,
				Note: fmt.Sprintf("ClusterQueue %s has no quota for %s; Kueue cannot admit a job that requests it", cq.Name, r),
			})
			continue
		}
		var sumMax, sumReserved, sumFree resource.Quantity
		unbounded := false
		for _, c := range caps {
			sumMax.Add(c.Max)
			sumReserved.Add(c.Reserved)
			sumFree.Add(free(c.Nominal, c.Reserved))
			unbounded = unbounded || c.Unbounded
		}
		// The job as a whole, across flavors.
		if !unbounded && total.Cmp(sumMax) > 0 {
			v.Never = append(v.Never, shortfall{
				Resource: string(r), Requested: total, Used: sumReserved, Available: free(sumMax, sumReserved), Limit: sumMax,
				Note: quotaNote(cq, caps),
			})
			continue
		}
		// Each pod set within one flavor.
		never, later := false, false
		for _, s := range sets {
			need := s.Requests[r]
			if r == corev1.ResourcePods {
				need = *resource.NewQuantity(1, resource.DecimalSI)
			}
			need = mul(need, s.Count)
			if need.IsZero() {
				continue
			}
			var largest flavorCap
			fitsOne, fitsNow := false, false
			for _, c := range caps {
				fitsOne = fitsOne || c.Unbounded || need.Cmp(c.Max) <= 0
				fitsNow = fitsNow || need.Cmp(free(c.Nominal, c.Reserved)) <= 0
				if c.Max.Cmp(largest.Max) > 0 {
					largest = c
				}
			}
			if !fitsOne && !never {
				never = true
				v.Never = append(v.Never, shortfall{
					Resource: string(r), Requested: need, Used: sumReserved, Available: sumFree, Limit: largest.Max,
					Note: fmt.Sprintf("the %d %s pod(s) must share one flavor and the largest, %s, holds at most %s", s.Count, s.Name, largest.Flavor, largest.Max.String()),
				})
			}
			later = later || !fitsNow
		}
		if !never && later {
			limit := sumMax
			if unbounded {
				limit = sumFree
				limit.Add(sumReserved)
			}
			v.Later = append(v.Later, shortfall{Resource: string(r), Requested: total, Used: sumReserved, Available: sumFree, Limit: limit})
		}
	}
	return v
}

func covers(cq *kueue.ClusterQueue, r corev1.ResourceName) bool {
	for _, g := range cq.Spec.ResourceGroups {
		for _, c := range g.CoveredResources {
			if c == r {
				return true
			}
		}
	}
	return false
}

// flavorCaps lists the flavors that provide r in cq, with what each can
// give at most.
func flavorCaps(cq *kueue.ClusterQueue, cohort cohortView, r corev1.ResourceName) []flavorCap {
	var caps []flavorCap
	for _, g := range cq.Spec.ResourceGroups {
		for _, f := range g.Flavors {
			for _, q := range f.Resources {
				if q.Name != r {
					continue
				}
				c := flavorCap{Flavor: string(f.Name), Nominal: q.NominalQuota, Max: q.NominalQuota.DeepCopy(), Reserved: mpijobquota.Reserved(cq, f.Name, r)}
				if cq.Spec.CohortName != "" {
					lendable, bounded := cohortLendable(cq, cohort, f.Name, r)
					switch {
					case q.BorrowingLimit != nil && (!bounded || q.BorrowingLimit.Cmp(lendable) < 0):
						c.Max.Add(*q.BorrowingLimit)
					case bounded:
						c.Max.Add(lendable)
					default:
						c.Unbounded = true
					}
				}
				caps = append(caps, c)
			}
		}
	}
	return caps
}

// cohortLendable is how much of flavor f's r the other ClusterQueues of cq's
// cohort can lend at most; false when a Cohort object exists, whose own
// quota or parent we do not model.
func cohortLendable(cq *kueue.ClusterQueue, cohort cohortView, f kueue.ResourceFlavorReference, r corev1.ResourceName) (resource.Quantity, bool) {
	var total resource.Quantity
	if cohort.HasObject {
		return total, false
	}
	for i := range cohort.Peers {
		peer := &cohort.Peers[i]
		if peer.Name == cq.Name || peer.Spec.CohortName != cq.Spec.CohortName {
			continue
		}
		for _, g := range peer.Spec.ResourceGroups {
			for _, pf := range g.Flavors {
				if pf.Name != f {
					continue
				}
				for _, q := range pf.Resources {
					if q.Name != r {
						continue
					}
					if q.LendingLimit != nil && q.LendingLimit.Cmp(q.NominalQuota) < 0 {
						total.Add(*q.LendingLimit)
					} else {
						total.Add(q.NominalQuota)
					}
				}
			}
		}
	}
	return total, true
}

func quotaNote(cq *kueue.ClusterQueue, caps []flavorCap) string {
	parts := make([]string, 0, len(caps))
	for _, c := range caps {
		extra := c.Max.DeepCopy()
		extra.Sub(c.Nominal)
		if extra.IsZero() {
			parts = append(parts, fmt.Sprintf("%s nominal %s", c.Flavor, c.Nominal.String()))
		} else {
			parts = append(parts, fmt.Sprintf("%s nominal %s + borrowing %s", c.Flavor, c.Nominal.String(), extra.String()))
		}
	}
	where := "ClusterQueue " + cq.Name
	if cq.Spec.CohortName != "" {
		where += " in cohort " + string(cq.Spec.CohortName)
	}
	return where + ": " + strings.Join(parts, "; ")
}
