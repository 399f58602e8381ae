// Package crdcheck_test runs the MPIJob CRD check against a real apiserver:
// no CRD, training-operator v1's kubeflow.org/v1 MPIJob CRD, and ours.
package crdcheck_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/mpijob-platform/mpijob-platform/operator/pkg/crdcheck"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

var env *framework.Env

func TestMain(m *testing.M) { os.Exit(framework.RunWithControlPlane(m, &env)) }

// trainingOperatorV1CRD has the shape of Kubeflow training-operator v1's
// MPIJob CRD: the same name, only kubeflow.org/v1.
func trainingOperatorV1CRD() *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: crdcheck.MPIJobCRD},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "kubeflow.org", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: "MPIJob", ListKind: "MPIJobList", Plural: "mpijobs", Singular: "mpijob"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptr.To(true),
				}},
			}},
		},
	}
}

func TestCheckMPIJobCRD(t *testing.T) {
	ctx := context.Background()
	if err := crdcheck.CheckMPIJobCRD(ctx, env.Client); err == nil || !strings.Contains(err.Error(), "is not installed") {
		t.Errorf("without a CRD: %v", err)
	}

	v1 := trainingOperatorV1CRD()
	if err := env.Client.Create(ctx, v1); err != nil {
		t.Fatal(err)
	}
	err := crdcheck.CheckMPIJobCRD(ctx, env.Client)
	if err == nil || !strings.Contains(err.Error(), "training-operator v1") || !strings.Contains(err.Error(), "docs/operations/upgrade.md") {
		t.Errorf("with training-operator's v1 CRD: %v", err)
	}

	repo, err := cluster.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(repo, "config", "crd", "bases", "kubeflow.org_mpijobs.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ours := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(data, ours); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, v1); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, framework.DefaultTimeout, "the v1 CRD gone", func(ctx context.Context) (bool, string, error) {
		err := env.Client.Get(ctx, client.ObjectKey{Name: crdcheck.MPIJobCRD}, &apiextensionsv1.CustomResourceDefinition{})
		return client.IgnoreNotFound(err) == nil && err != nil, "", nil
	})
	if err := env.Client.Create(ctx, ours); err != nil {
		t.Fatal(err)
	}
	if err := crdcheck.CheckMPIJobCRD(ctx, env.Client); err != nil {
		t.Errorf("with our CRD: %v", err)
	}
}
