package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// FuzzAdmissionDecoding: whatever object bytes an AdmissionReview
// carries, the mutating and the validating webhook answer over HTTP with a
// review for the same request (allowed, or refused with a reason) and
// never panic.
func FuzzAdmissionDecoding(f *testing.F) {
	valid, _ := json.Marshal(gpuJob("train", 2, 8))
	for _, seed := range [][]byte{
		valid, nil, []byte(`{}`), []byte(`null`), []byte(`{"apiVersion":"kubeflow.org/v2beta1","kind":"MPIJob"}`),
		[]byte(`{"apiVersion":"kubeflow.org/v2beta1","kind":"MPIJob","spec":{"mpiReplicaSpecs":{"Worker":{"replicas":"two"}}}}`),
		[]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}`),
	} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	w := newWebhook(f, namespace("team", nil))
	scheme := testScheme(f)
	handlers := map[bool]http.Handler{
		true:  admission.WithDefaulter[*kubeflow.MPIJob](scheme, w),
		false: admission.WithValidator[*kubeflow.MPIJob](scheme, w),
	}
	f.Fuzz(func(t *testing.T, object []byte, mutate bool) {
		review := admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{
				UID: "fuzz", Operation: admissionv1.Create, Namespace: "team", Name: "train",
				Kind:     metav1.GroupVersionKind{Group: "kubeflow.org", Version: "v2beta1", Kind: "MPIJob"},
				Resource: metav1.GroupVersionResource{Group: "kubeflow.org", Version: "v2beta1", Resource: "mpijobs"},
				Object:   runtime.RawExtension{Raw: object},
			},
		}
		body, err := json.Marshal(review)
		if err != nil {
			return // bytes that are not JSON never reach a webhook
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		handlers[mutate].ServeHTTP(rec, req)
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
			t.Fatalf("no admission review back (HTTP %d): %s", rec.Code, rec.Body.String())
		}
		if out.Response.UID != "fuzz" {
			t.Fatalf("the response answers request %q, not fuzz", out.Response.UID)
		}
		if !out.Response.Allowed && (out.Response.Result == nil || out.Response.Result.Message == "") {
			t.Fatalf("refused without a reason: %+v", out.Response)
		}
	})
}
