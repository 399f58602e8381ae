package platform

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"
	"sigs.k8s.io/yaml"

	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/component"
	"github.com/mpijob-platform/mpijob-platform/test/golden"
)

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(s), kueue.AddToScheme(s), platformv1.AddToScheme(s), apiextensionsv1.AddToScheme(s)); err != nil {
		t.Fatal(err)
	}
	return s
}

// samplePlatform is config/samples' MPIJobPlatform, as users start from it.
func samplePlatform(t *testing.T) *platformv1.MPIJobPlatform {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "samples", "platform_v1alpha1_mpijobplatform.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p := &platformv1.MPIJobPlatform{}
	if err := yaml.UnmarshalStrict(data, p); err != nil {
		t.Fatalf("the sample does not decode strictly: %v", err)
	}
	// What the CRD schema defaults and the sample leaves out.
	p.UID = "0b5cf3f4-7a7e-4b4a-9e57-9d6f4c1f3c11"
	p.Spec.MPIJobController.Workers, p.Spec.MPIJobController.SSHKeyType = 16, "ecdsa"
	return p
}

func sampleInputs(t *testing.T) component.Inputs {
	return component.Inputs{
		Platform: samplePlatform(t), Namespace: "mpijob-system", Image: "mpijob-platform/manager:v0.1.0",
		Namespaces: []corev1.Namespace{
			{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}},
			{ObjectMeta: metav1.ObjectMeta{Name: "team-b-dev", Labels: map[string]string{"mpijob.io/team": "b"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "team-b-prod", Labels: map[string]string{"mpijob.io/team": "b"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "gone", Labels: map[string]string{"mpijob.io/team": "b"}}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
			{ObjectMeta: metav1.ObjectMeta{Name: "other"}},
		},
	}
}

// Every component's objects for the sample, rendered as the reconciler
// applies them, match testdata/<key>.golden.yaml (go test -update).
func TestComponentsGolden(t *testing.T) {
	scheme := testScheme(t)
	in := sampleInputs(t)
	for _, comp := range Components() {
		t.Run(comp.Name(), func(t *testing.T) {
			objs, err := comp.Desired(in)
			if err != nil {
				t.Fatal(err)
			}
			var docs []string
			for _, o := range objs {
				u, err := render(scheme, in.Platform, comp.Key(), o)
				if err != nil {
					t.Fatal(err)
				}
				if got := u.GetLabels()[component.ComponentLabel]; got != comp.Key() {
					t.Errorf("%s %s: component label %q", u.GetKind(), u.GetName(), got)
				}
				data, err := yaml.Marshal(u.Object)
				if err != nil {
					t.Fatal(err)
				}
				docs = append(docs, string(data))
			}
			got := strings.Join(docs, "---\n")
			golden.Check(t, comp.Key(), []byte(got))
		})
	}
}

func TestLocalWebhookURLReplacesTheService(t *testing.T) {
	in := sampleInputs(t)
	in.LocalWebhookURL = "https://127.0.0.1:9443"
	objs, err := Components()[1].Desired(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("got %d objects, want the two configurations and no Service", len(objs))
	}
	u, err := render(testScheme(t), in.Platform, "webhooks", objs[0])
	if err != nil {
		t.Fatal(err)
	}
	hooks, _, _ := unstructuredSlice(u.Object, "webhooks")
	url, _ := hooks[0].(map[string]any)["clientConfig"].(map[string]any)["url"].(string)
	if url != "https://127.0.0.1:9443/mutate-kubeflow-org-v2beta1-mpijob" {
		t.Errorf("url = %q", url)
	}
}

func unstructuredSlice(m map[string]any, key string) ([]any, bool, error) {
	v, ok := m[key].([]any)
	return v, ok, nil
}

func TestContains(t *testing.T) {
	live := map[string]any{
		"metadata": map[string]any{"name": "x", "resourceVersion": "7", "labels": map[string]any{"a": "1", "b": "2"}},
		"spec": map[string]any{
			"replicas": int64(2), "paused": false,
			"template": map[string]any{"containers": []any{map[string]any{"name": "m", "image": "i", "imagePullPolicy": "IfNotPresent"}}},
		},
	}
	cases := []struct {
		name    string
		desired map[string]any
		want    bool
	}{
		{"subset", map[string]any{"metadata": map[string]any{"labels": map[string]any{"a": "1"}}, "spec": map[string]any{"replicas": int64(2)}}, true},
		{"server defaults are not drift", map[string]any{"spec": map[string]any{"template": map[string]any{"containers": []any{map[string]any{"name": "m", "image": "i"}}}}}, true},
		{"empty values express no opinion", map[string]any{"spec": map[string]any{"strategy": map[string]any{}, "minReadySeconds": int64(0), "paused": false, "selector": nil}}, true},
		{"changed scalar", map[string]any{"spec": map[string]any{"replicas": int64(3)}}, false},
		{"int vs float of the same value", map[string]any{"spec": map[string]any{"replicas": float64(2)}}, true},
		{"changed list element", map[string]any{"spec": map[string]any{"template": map[string]any{"containers": []any{map[string]any{"image": "j"}}}}}, false},
		{"list length differs", map[string]any{"spec": map[string]any{"template": map[string]any{"containers": []any{map[string]any{}, map[string]any{}}}}}, false},
		{"missing key", map[string]any{"spec": map[string]any{"serviceName": "s"}}, false},
		{"removed label", map[string]any{"metadata": map[string]any{"labels": map[string]any{"c": "3"}}}, false},
	}
	for _, tc := range cases {
		if got := contains(live, tc.desired); got != tc.want {
			t.Errorf("%s: contains = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSummarise(t *testing.T) {
	st := &platformv1.MPIJobPlatformStatus{ObservedGeneration: 3, Components: []platformv1.ComponentStatus{
		{Name: "MPIJobController", ManagementState: "Managed", Ready: true},
		{Name: "Monitoring", ManagementState: "Managed", Message: "install prometheus-operator"},
		{Name: "Console", ManagementState: "Removed"},
	}}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: "MonitoringReady", Status: metav1.ConditionFalse, Reason: ReasonMissingDependency, Message: "install prometheus-operator"})
	summarise(st)
	ready, degraded := meta.FindStatusCondition(st.Conditions, "Ready"), meta.FindStatusCondition(st.Conditions, "Degraded")
	if st.Phase != platformv1.PhaseDegraded || ready.Status != metav1.ConditionFalse || degraded.Status != metav1.ConditionTrue {
		t.Errorf("phase %s ready %+v degraded %+v", st.Phase, ready, degraded)
	}
	if !strings.Contains(degraded.Message, "Monitoring: install prometheus-operator") || ready.ObservedGeneration != 3 {
		t.Errorf("degraded message %q, generation %d", degraded.Message, ready.ObservedGeneration)
	}

	st.Components[1] = platformv1.ComponentStatus{Name: "Monitoring", ManagementState: "Removed"}
	summarise(st)
	if st.Phase != platformv1.PhaseReady || meta.IsStatusConditionFalse(st.Conditions, "Ready") {
		t.Errorf("with monitoring removed: phase %s conditions %+v", st.Phase, st.Conditions)
	}
}
