package quota

import (
	"testing"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzShortfallWire: a shortfall survives its trip through a status cause
// (what the webhook sends and the CLI, console and SDK read) unchanged,
// and a QuotaShortfall cause with any message either decodes or is an
// error, never a panic.
func FuzzShortfallWire(f *testing.F) {
	f.Add("requests.nvidia.com/gpu", "16", "56", "8", "64", "ResourceQuota team/compute", "", `{"resource":"cpu"}`)
	f.Add("nvidia.com/gpu", "9223372036854775807", "0", "0", "1", "ClusterQueue gpu", "flavors h100; cohort ai", `not json`)
	f.Fuzz(func(t *testing.T, res, requested, used, available, limit, where, note, message string) {
		for _, v := range []string{res, requested, used, available, limit, where, note} {
			if !utf8.ValidString(v) {
				return // JSON carries text; names and quantities are UTF-8
			}
		}
		s := Shortfall{Resource: res, Requested: requested, Used: used, Available: available, Limit: limit, Where: where, Note: note}
		got, err := FromCauses([]metav1.StatusCause{{Type: "FieldValueInvalid", Message: message}, s.Cause()})
		if err != nil {
			t.Fatalf("a shortfall's own cause does not decode: %v", err)
		}
		if len(got) != 1 || got[0] != s {
			t.Fatalf("round trip changed the shortfall:\n got %+v\nwant %+v", got, s)
		}
		_ = got[0].String()
		_, _ = FromCauses([]metav1.StatusCause{{Type: CauseType, Field: where, Message: message}})
	})
}
