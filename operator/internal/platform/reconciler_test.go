package platform

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/component"
)

// alwaysReady is a component of one ConfigMap whose readiness check says
// yes whatever it reads, as a rolled-out Deployment read from a cache
// that has not seen its new template would.
type alwaysReady struct{ data string }

func (alwaysReady) Name() string                                { return "Test" }
func (alwaysReady) Key() string                                 { return "test" }
func (alwaysReady) State(*platformv1.MPIJobPlatformSpec) string { return platformv1.Managed }
func (alwaysReady) Kinds() []schema.GroupVersionKind            { return nil }
func (alwaysReady) Ready(context.Context, client.Reader, component.Inputs) (bool, string, error) {
	return true, "ready", nil
}

func (c alwaysReady) Desired(component.Inputs) ([]client.Object, error) {
	return []client.Object{&corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "mpijob-system", Name: "test"},
		Data:       map[string]string{"version": c.data},
	}}, nil
}

// A pass that changes a component's objects never reports it Ready: its
// cache may still hold the old objects, which look ready (a platform Ready
// while half upgraded). The next pass, once the cache holds the change,
// does.
func TestAPassThatChangedObjectsDoesNotJudgeThemReady(t *testing.T) {
	scheme := testScheme(t)
	p := samplePlatform(t)
	p.Name, p.Generation = platformv1.DefaultName, 2
	old := alwaysReady{data: "1.0.0"}
	rendered, err := render(scheme, p, old.Key(), must(old.Desired(component.Inputs{}))[0])
	if err != nil {
		t.Fatal(err)
	}
	applies := 0
	writer := interceptor.NewClient(fake.NewClientBuilder().WithScheme(scheme).Build(), interceptor.Funcs{
		Apply: func(context.Context, client.WithWatch, runtime.ApplyConfiguration, ...client.ApplyOption) error {
			applies++
			return nil
		},
	})
	staleCache := fake.NewClientBuilder().WithScheme(scheme).WithObjects(rendered).Build()
	r := &Reconciler{Client: writer, Reader: staleCache, Scheme: scheme, Recorder: events.NewFakeRecorder(10), Namespace: "mpijob-system"}

	upgraded := alwaysReady{data: "1.1.0"}
	_, cond, changed, err := r.reconcileComponent(context.Background(), p, upgraded, component.Inputs{Platform: p})
	if err != nil {
		t.Fatal(err)
	}
	if applies != 1 || !changed {
		t.Fatalf("applies %d, changed %t: want the changed ConfigMap applied", applies, changed)
	}
	if cond.Status != metav1.ConditionFalse || cond.Reason != ReasonProgressing {
		t.Errorf("the pass that applied the upgrade says %s %s (%s), want False Progressing", cond.Status, cond.Reason, cond.Message)
	}

	// The cache catches up: nothing to apply, and the component is judged.
	fresh, err := render(scheme, p, upgraded.Key(), must(upgraded.Desired(component.Inputs{}))[0])
	if err != nil {
		t.Fatal(err)
	}
	r.Reader = fake.NewClientBuilder().WithScheme(scheme).WithObjects(fresh).Build()
	_, cond, changed, err = r.reconcileComponent(context.Background(), p, upgraded, component.Inputs{Platform: p})
	if err != nil {
		t.Fatal(err)
	}
	if applies != 1 || changed {
		t.Errorf("applies %d, changed %t once the cache holds the change: want no write", applies, changed)
	}
	if cond.Status != metav1.ConditionTrue || cond.Reason != ReasonReady {
		t.Errorf("the next pass says %s %s (%s), want True Ready", cond.Status, cond.Reason, cond.Message)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
