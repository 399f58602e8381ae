// Package mpijobapi_test holds our MPIJob CRD to upstream mpi-operator's:
// the same field paths with the same types, and every upstream example
// accepted unchanged by the real apiserver.
package mpijobapi_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

var env *framework.Env

func TestMain(m *testing.M) {
	os.Exit(framework.RunWithControlPlane(m, &env, "config/crd/bases"))
}

func loadCRD(t *testing.T, path string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(data, crd); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return crd
}

// fieldTypes maps every field path of a schema to its type ("object",
// "string", "integer"...; "int-or-string" and "preserve" for the special
// cases). Array items appear as "[]", map values as "{}".
func fieldTypes(prefix string, s *apiextensionsv1.JSONSchemaProps, out map[string]string) {
	switch {
	case s.XIntOrString:
		out[prefix] = "int-or-string"
	case s.XPreserveUnknownFields != nil && *s.XPreserveUnknownFields && len(s.Properties) == 0:
		out[prefix] = "preserve"
	default:
		out[prefix] = s.Type
	}
	for name, p := range s.Properties {
		fieldTypes(prefix+"."+name, &p, out)
	}
	if s.Items != nil && s.Items.Schema != nil {
		fieldTypes(prefix+"[]", s.Items.Schema, out)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		fieldTypes(prefix+"{}", s.AdditionalProperties.Schema, out)
	}
}

// removedByKubernetes are upstream field paths that Kubernetes itself
// dropped: upstream generated its CRD from k8s.io/api v0.35, where the alpha
// PodSpec.workloadRef existed; 1.36 replaced it with schedulingGroup and a
// 1.37 apiserver rejects it in any pod, so keeping it would only let a job
// fail later.
var removedByKubernetes = map[string]bool{
	".spec.mpiReplicaSpecs{}.template.spec.workloadRef":                    true,
	".spec.mpiReplicaSpecs{}.template.spec.workloadRef.name":               true,
	".spec.mpiReplicaSpecs{}.template.spec.workloadRef.podGroup":           true,
	".spec.mpiReplicaSpecs{}.template.spec.workloadRef.podGroupReplicaKey": true,
}

func TestEveryUpstreamFieldExistsWithTheSameType(t *testing.T) {
	repo, err := cluster.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	upstream := loadCRD(t, framework.UpstreamMPIOperatorPath(t, "manifests", "base", "kubeflow.org_mpijobs.yaml"))
	ours := loadCRD(t, filepath.Join(repo, "config", "crd", "bases", "kubeflow.org_mpijobs.yaml"))
	if ours.Name != upstream.Name || ours.Spec.Scope != upstream.Spec.Scope || ours.Spec.Names.Kind != upstream.Spec.Names.Kind {
		t.Fatalf("CRD identity differs: ours %s/%s/%s, upstream %s/%s/%s", ours.Name, ours.Spec.Scope, ours.Spec.Names.Kind,
			upstream.Name, upstream.Spec.Scope, upstream.Spec.Names.Kind)
	}
	version := func(crd *apiextensionsv1.CustomResourceDefinition) *apiextensionsv1.CustomResourceDefinitionVersion {
		for i := range crd.Spec.Versions {
			if crd.Spec.Versions[i].Name == "v2beta1" {
				return &crd.Spec.Versions[i]
			}
		}
		t.Fatalf("%s has no v2beta1", crd.Name)
		return nil
	}
	uv, ov := version(upstream), version(ours)
	if (uv.Subresources == nil) != (ov.Subresources == nil) || (uv.Subresources != nil && (uv.Subresources.Status == nil) != (ov.Subresources.Status == nil)) {
		t.Errorf("subresources differ: ours %+v, upstream %+v", ov.Subresources, uv.Subresources)
	}
	want, got := map[string]string{}, map[string]string{}
	fieldTypes("", uv.Schema.OpenAPIV3Schema, want)
	fieldTypes("", ov.Schema.OpenAPIV3Schema, got)
	var problems []string
	for path, typ := range want {
		if removedByKubernetes[path] {
			continue
		}
		switch g, ok := got[path]; {
		case !ok:
			problems = append(problems, "missing "+path)
		case g != typ:
			problems = append(problems, path+": ours "+g+", upstream "+typ)
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		t.Errorf("%d of %d upstream field paths differ:\n%s", len(problems), len(want), strings.Join(problems, "\n"))
	}
	if len(want) < 1000 {
		t.Errorf("only %d upstream field paths found; the comparison did not walk the schema", len(want))
	}
	t.Logf("compared %d upstream field paths; ours has %d", len(want), len(got))
}

func TestUpstreamExamplesAreAcceptedUnchanged(t *testing.T) {
	var files []string
	root := framework.UpstreamMPIOperatorPath(t, "examples", "v2beta1")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".yaml") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d upstream examples under %s, want at least 4", len(files), root)
	}
	for _, f := range files {
		t.Run(strings.TrimPrefix(f, root+"/"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := cluster.ReadManifests(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				if o.GetNamespace() == "" {
					o.SetNamespace("default")
				}
				// Strict validation turns a field our schema lacks into an
				// error instead of a silently pruned field.
				if err := env.Client.Create(context.Background(), o, client.DryRunAll, client.FieldValidation("Strict")); err != nil {
					t.Errorf("%s %s rejected: %v", o.GetKind(), o.GetName(), err)
				}
			}
		})
	}
}
