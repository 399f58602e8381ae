// Package controlplane_test proves the integration layer's control plane:
// envtest running the etcd and kube-apiserver that tools/devcluster builds.
package controlplane_test

import (
	"context"
	"os"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

var env *framework.Env

func TestMain(m *testing.M) {
	os.Exit(framework.RunWithControlPlane(m, &env))
}

func TestServesThePinnedKubernetesVersion(t *testing.T) {
	v, err := env.Clientset.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != "v1.37.2" {
		t.Errorf("server version = %s, want v1.37.2 (the version pinned in tools/cluster/kube)", v.GitVersion)
	}
}

func TestCustomResourcesRoundTrip(t *testing.T) {
	ctx := context.Background()
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.example.mpijob.io"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "example.mpijob.io",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"size": {Type: "integer", Minimum: ptrFloat(1)},
						}},
					},
				}},
			}},
		},
	}
	if err := env.Client.Create(ctx, crd); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, framework.DefaultTimeout, "the CRD established", func(ctx context.Context) (bool, string, error) {
		got := &apiextensionsv1.CustomResourceDefinition{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(crd), got); err != nil {
			return false, "", err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, "", nil
			}
		}
		return false, "not established", nil
	})

	widget := func(size int64) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"size": size}}}
		u.SetAPIVersion("example.mpijob.io/v1")
		u.SetKind("Widget")
		u.SetNamespace("default")
		u.SetGenerateName("w-")
		return u
	}
	good := widget(3)
	if err := env.Client.Create(ctx, good); err != nil {
		t.Fatalf("creating a valid widget: %v", err)
	}
	if err := env.Client.Create(ctx, widget(0)); err == nil {
		t.Fatal("the apiserver accepted size 0 against the schema's minimum 1")
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(good.GroupVersionKind())
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(good), got); err != nil {
		t.Fatal(err)
	}
	if size, _, _ := unstructured.NestedInt64(got.Object, "spec", "size"); size != 3 {
		t.Errorf("stored size = %d, want 3", size)
	}
}

func ptrFloat(f float64) *float64 { return &f }
