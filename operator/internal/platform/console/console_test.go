package console

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	platformv1 "github.com/mpijob-platform/mpijob-platform/operator/api/platform/v1alpha1"
	"github.com/mpijob-platform/mpijob-platform/operator/internal/platform/component"
	"github.com/mpijob-platform/mpijob-platform/test/golden"
)

func inputs(spec platformv1.ConsoleSpec) component.Inputs {
	p := &platformv1.MPIJobPlatform{ObjectMeta: metav1.ObjectMeta{Name: platformv1.DefaultName}}
	spec.ManagementState = platformv1.Managed
	p.Spec.Console = spec
	return component.Inputs{Platform: p, Namespace: "mpijob-system", Image: "mpijob-platform/manager:v0.1.0"}
}

// The OpenShift and plain-Kubernetes shapes of the console match
// testdata/<case>.golden.yaml (go test -update). The platform's own golden
// test covers the sample (no proxy, no Route, no Ingress).
func TestDesiredGolden(t *testing.T) {
	for name, spec := range map[string]platformv1.ConsoleSpec{
		"openshift": {AuthProxy: "OpenShiftOAuth", Route: &platformv1.ConsoleRoute{Host: "mpijobs.apps.example.com"}, Replicas: 2, GrafanaURL: "https://grafana.example.com"},
		"ingress": {AuthProxy: "None", Ingress: &platformv1.ConsoleIngress{
			Host: "mpijobs.example.com", ClassName: "nginx", TLSSecretName: "mpijobs-tls",
			Annotations: map[string]string{"nginx.ingress.kubernetes.io/auth-url": "https://oauth2.example.com/oauth2/auth", "nginx.ingress.kubernetes.io/auth-response-headers": "Authorization"},
		}, Route: &platformv1.ConsoleRoute{}},
	} {
		t.Run(name, func(t *testing.T) {
			objs, err := Component{}.Desired(inputs(spec))
			if err != nil {
				t.Fatal(err)
			}
			var docs []string
			for _, o := range objs {
				data, err := yaml.Marshal(o)
				if err != nil {
					t.Fatal(err)
				}
				docs = append(docs, string(data))
			}
			got := strings.Join(docs, "---\n")
			golden.Check(t, name, []byte(got))
		})
	}
}

// Whatever the proxy, the console never gets RBAC of its own: it acts
// with its callers' tokens.
func TestNoRBACOfItsOwn(t *testing.T) {
	for _, proxy := range []string{"None", "OpenShiftOAuth"} {
		objs, err := Component{}.Desired(inputs(platformv1.ConsoleSpec{AuthProxy: proxy, Route: &platformv1.ConsoleRoute{}}))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if k := o.GetObjectKind().GroupVersionKind().Kind; strings.Contains(k, "Role") {
				t.Errorf("%s: console renders %s %s", proxy, k, o.GetName())
			}
			if d, ok := o.(*appsv1.Deployment); ok {
				c := d.Spec.Template.Spec.Containers[0]
				if c.Name != "console" || c.Args[0] != "--role=console" || c.Image != "mpijob-platform/manager:v0.1.0" {
					t.Errorf("%s: console container %s %v %s", proxy, c.Name, c.Args, c.Image)
				}
			}
		}
	}
}

func TestReady(t *testing.T) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	in := inputs(platformv1.ConsoleSpec{})
	dep := func(mut func(*appsv1.Deployment)) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: in.Namespace, Name: Name, Generation: 2}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)}}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}}
		if mut != nil {
			mut(d)
		}
		return d
	}
	cases := map[string]struct {
		obj       client.Object
		wantReady bool
		wantMsg   string
	}{
		"missing":     {wantMsg: ""},
		"available":   {obj: dep(nil), wantReady: true, wantMsg: "Deployment mpijob-system/mpijob-console is Available (1/1 ready)"},
		"rolling out": {obj: dep(func(d *appsv1.Deployment) { d.Status.ObservedGeneration = 1 }), wantMsg: "Deployment mpijob-system/mpijob-console is rolling out (1 of 1 updated, 0 old left)"},
		"unavailable": {obj: dep(func(d *appsv1.Deployment) {
			d.Status.Conditions = nil
			d.Status.ReadyReplicas, d.Status.AvailableReplicas = 0, 0
		}), wantMsg: "Deployment mpijob-system/mpijob-console is not Available yet (0/1 ready)"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b := fake.NewClientBuilder().WithScheme(s)
			if tc.obj != nil {
				b = b.WithObjects(tc.obj)
			}
			ready, msg, err := Component{}.Ready(context.Background(), b.Build(), in)
			if err != nil {
				t.Fatal(err)
			}
			if ready != tc.wantReady || msg != tc.wantMsg {
				t.Errorf("Ready = %v %q, want %v %q", ready, msg, tc.wantReady, tc.wantMsg)
			}
		})
	}
}
