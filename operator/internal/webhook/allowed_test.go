package webhook

import (
	"context"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// A burst of jobs from one creator costs one review; another creator, or
// another namespace, is reviewed on its own; a refusal is asked again.
func TestCreatorReviewsAreRemembered(t *testing.T) {
	reviews := map[string]int{}
	authz := fake.NewClientBuilder().WithScheme(testScheme(t)).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			sar := obj.(*authorizationv1.SubjectAccessReview)
			reviews[sar.Spec.User]++
			sar.Status.Allowed = sar.Spec.User != "mallory"
			return nil
		},
	}).Build()
	w := newWebhook(t, namespace("team-a", nil))
	w.Authorizer = authz
	as := func(user string) context.Context {
		return admission.NewContextWithRequest(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			Operation: admissionv1.Create, UserInfo: authenticationv1.UserInfo{Username: user, Groups: []string{"team-a"}},
		}})
	}
	for range 3 {
		if _, err := w.ValidateCreate(as("alice"), gpuJob("train", 2, 8)); err != nil {
			t.Fatal(err)
		}
		if _, err := w.ValidateCreate(as("mallory"), gpuJob("train", 2, 8)); err == nil {
			t.Fatal("mallory's job admitted")
		}
	}
	if _, err := w.ValidateCreate(as("bob"), gpuJob("train", 2, 8)); err != nil {
		t.Fatal(err)
	}
	if reviews["alice"] != 1 || reviews["bob"] != 1 || reviews["mallory"] != 3 {
		t.Errorf("reviews %v: want alice 1, bob 1, mallory (refused) 3", reviews)
	}
}

func TestAllowedCacheExpires(t *testing.T) {
	var c allowedCache
	t0 := time.Unix(1000, 0)
	spec := func(ns string, groups ...string) string {
		return allowedKey(authorizationv1.SubjectAccessReviewSpec{User: "alice", Groups: groups,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "create", Resource: "pods"}})
	}
	c.add(spec("team-a", "x", "y"), t0)
	if !c.has(spec("team-a", "y", "x"), t0.Add(allowedTTL-time.Second)) {
		t.Error("the same creator (groups in another order) is not remembered")
	}
	if c.has(spec("team-b", "x", "y"), t0) || c.has(spec("team-a", "x"), t0) {
		t.Error("another namespace or other groups share the answer")
	}
	if c.has(spec("team-a", "x", "y"), t0.Add(allowedTTL)) {
		t.Error("an answer is trusted past its TTL")
	}
}
