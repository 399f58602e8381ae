package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// The admission floor: a mutating and a validating webhook for MPIJobs that
// allow everything without looking (the review is decoded only to echo its
// UID), served by the bench over TLS. What any pair of webhooks costs a
// create through the API server, whatever they do. With patch, the
// mutating one also sets a label, as every defaulting webhook changes the
// object: what a pair costs when one of them mutates.

const noopWebhookName = "bench-noop.mpijob.io"

// noopWebhooks serves and registers the pair; stop unregisters them and
// stops the server.
func noopWebhooks(ctx context.Context, cl client.Client, patch bool) (stop func(), err error) {
	reached := make(chan struct{}, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case reached <- struct{}{}:
		default:
		}
		review := admissionv1.AdmissionReview{}
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
			return
		}
		review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		if patch && r.URL.Path == "/mutate" {
			review.Response.Patch = []byte(`[{"op":"add","path":"/metadata/labels/bench-noop","value":"set"}]`)
			review.Response.PatchType = ptr.To(admissionv1.PatchTypeJSONPatch)
		}
		review.Request = nil
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(review)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	caBundle := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	rules := []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{kubeflow.GroupName}, APIVersions: []string{"v2beta1"}, Resources: []string{"mpijobs"}},
	}}
	none := admissionregistrationv1.SideEffectClassNone
	fail := admissionregistrationv1.Fail
	config := func(path string) admissionregistrationv1.WebhookClientConfig {
		return admissionregistrationv1.WebhookClientConfig{URL: ptr.To(srv.URL + path), CABundle: caBundle}
	}
	objs := []client.Object{
		&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: noopWebhookName}, Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "mutate." + noopWebhookName, ClientConfig: config("/mutate"), Rules: rules, SideEffects: &none, FailurePolicy: &fail,
			AdmissionReviewVersions: []string{"v1"}, ReinvocationPolicy: ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
		}}},
		&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: noopWebhookName}, Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "validate." + noopWebhookName, ClientConfig: config("/validate"), Rules: rules, SideEffects: &none, FailurePolicy: &fail,
			AdmissionReviewVersions: []string{"v1"},
		}}},
	}
	stop = func() {
		for _, o := range objs {
			_ = cl.Delete(context.Background(), o)
		}
		srv.Close()
	}
	for _, o := range objs {
		if err := cl.Create(ctx, o); err != nil {
			stop()
			return nil, fmt.Errorf("registering the no-op webhooks: %w", err)
		}
	}
	// The API server picks configurations up asynchronously: wait until a
	// dry run reaches the server.
	deadline := time.Now().Add(time.Minute)
	for {
		_ = cl.Create(ctx, webhookBenchJob(0), client.DryRunAll)
		select {
		case <-reached:
			return stop, nil
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("the API server did not call the no-op webhooks within a minute")
		}
	}
}
