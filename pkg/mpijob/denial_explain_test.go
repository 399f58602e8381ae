package mpijob

import (
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

func TestExplainAdmissionError(t *testing.T) {
	down := apierrors.NewInternalError(errors.New(`failed calling webhook "mpijobs.defaulting.mpijob.io": failed to call webhook: Post "https://mpijob-webhook.mpijob-system.svc:443/mutate-kubeflow-org-v2beta1-mpijob?timeout=10s": no endpoints available for service "mpijob-webhook"`))
	got := ExplainAdmissionError(down)
	if got == nil {
		t.Fatal("no explanation for an unreachable platform webhook")
	}
	for _, want := range []string{"no endpoints available", "mpijob-controller", "endpointslices", "created nothing"} {
		if !strings.Contains(got.Error(), want) {
			t.Errorf("explanation lacks %q:\n%s", want, got)
		}
	}
	if !apierrors.IsInternalError(got) {
		t.Error("the explanation hides the API status (errors.As no longer finds it)")
	}
	for _, err := range []error{
		nil,
		errors.New("connection refused"),
		apierrors.NewInternalError(errors.New(`failed calling webhook "mpijob.kueue.x-k8s.io": EOF`)),
	} {
		if ExplainAdmissionError(err) != nil {
			t.Errorf("explained %v, which is not the platform's webhook", err)
		}
	}
}
