package quota

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"
)

// A shortfall survives the trip through a status cause; other causes are
// ignored, and a QuotaShortfall cause that does not decode is an error.
func TestCausesRoundTrip(t *testing.T) {
	s := Shortfall{Resource: "requests.nvidia.com/gpu", Requested: "72", Used: "8", Available: "56", Limit: "64", Where: "ResourceQuota team-a/compute", Note: "n"}
	denial := apierrors.NewForbidden(schema.GroupResource{Group: "kubeflow.org", Resource: "mpijobs"}, "huge", errors.New("can never run"))
	denial.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeFieldValueInvalid, Field: "spec"}, s.Cause()}
	got, err := FromError(denial)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Shortfall{s}, got); diff != "" {
		t.Errorf("shortfalls (-want +got):\n%s", diff)
	}
	if got, err := FromError(errors.New("plain")); got != nil || err != nil {
		t.Errorf("a plain error: %v, %v", got, err)
	}
	if _, err := FromCauses([]metav1.StatusCause{{Type: CauseType, Field: "x", Message: "not json"}}); err == nil {
		t.Error("a broken cause decoded")
	}
	if want := "requests.nvidia.com/gpu: requested 72, used 8, available 56, limit 64 (n)"; s.String() != want {
		t.Errorf("String() = %q, want %q", s.String(), want)
	}
}

func TestReserved(t *testing.T) {
	cq := &kueue.ClusterQueue{Status: kueue.ClusterQueueStatus{FlavorsReservation: []kueue.FlavorUsage{
		{Name: "h100", Resources: []kueue.ResourceUsage{{Name: "nvidia.com/gpu", Total: resource.MustParse("24")}}},
	}}}
	if got := Reserved(cq, "h100", "nvidia.com/gpu"); got.Cmp(resource.MustParse("24")) != 0 {
		t.Errorf("reserved %s, want 24", got.String())
	}
	if got := Reserved(cq, "a100", corev1.ResourceName("nvidia.com/gpu")); !got.IsZero() {
		t.Errorf("another flavor: %s, want 0", got.String())
	}
}
