package crdcompat

import (
	"os"
	"strings"
	"testing"

	"github.com/mpijob-platform/mpijob-platform/config"
)

const oldWidgets = `---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.mpijob.io
spec:
  group: example.mpijob.io
  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
  - name: v1beta1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
              color: {type: string}
              parts:
                type: array
                items:
                  type: object
                  properties:
                    name: {type: string}
                    weight: {type: integer}
              labels:
                type: object
                additionalProperties: {type: string}
`

// newWidgets drops v1alpha1, spec.color and spec.parts[*].weight, changes
// the labels' value type and requires spec.size.
const newWidgets = `---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.mpijob.io
spec:
  group: example.mpijob.io
  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1beta1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer}
              shape: {type: string}
              parts:
                type: array
                items:
                  type: object
                  properties:
                    name: {type: string}
              labels:
                type: object
                additionalProperties: {type: integer}
`

func decodeOne(t *testing.T, doc string) Set {
	t.Helper()
	crds, err := Decode([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	set := Set{}
	for _, c := range crds {
		set[c.Name] = c
	}
	return set
}

func TestSyntheticBreakingChanges(t *testing.T) {
	err := CompareSets(decodeOne(t, oldWidgets), decodeOne(t, newWidgets))
	if err == nil {
		t.Fatal("want the removed version and fields reported, got no error")
	}
	got := err.Error()
	for _, want := range []string{
		"widgets.example.mpijob.io: served version v1alpha1 removed",
		"widgets.example.mpijob.io: version v1beta1: field spec.color removed",
		"widgets.example.mpijob.io: version v1beta1: field spec.parts[*].weight removed",
		"widgets.example.mpijob.io: version v1beta1: field spec.labels.* changed type from string to integer",
		"widgets.example.mpijob.io: version v1beta1: field spec.size is newly required",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "shape") {
		t.Errorf("an added optional field is compatible, got:\n%s", got)
	}
	if n := len(strings.Split(got, "\n")); n != 5 {
		t.Errorf("want 5 problems, got %d:\n%s", n, got)
	}
}

func TestStorageVersionRules(t *testing.T) {
	oldSet := decodeOne(t, oldWidgets)
	newSet := decodeOne(t, oldWidgets)
	w := newSet["widgets.example.mpijob.io"]
	// Move storage to v1alpha1 and stop serving v1beta1: both wrong.
	w.Spec.Versions[0].Storage = true
	w.Spec.Versions[1].Storage = false
	w.Spec.Versions[1].Served = false
	err := CompareSets(oldSet, newSet)
	if err == nil {
		t.Fatal("want storage problems")
	}
	for _, want := range []string{
		"version v1beta1 was the storage version and must stay served",
		"version v1beta1 no longer served",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%s", want, err)
		}
	}

	w.Spec.Versions[1].Served, w.Spec.Versions[1].Storage = true, true
	err = CompareSets(oldSet, newSet)
	if err == nil || !strings.Contains(err.Error(), "want exactly one storage version, found 2") {
		t.Errorf("want two storage versions reported, got %v", err)
	}
}

func TestRemovedCRD(t *testing.T) {
	err := CompareSets(decodeOne(t, oldWidgets), Set{})
	if err == nil || err.Error() != "widgets.example.mpijob.io: CRD removed" {
		t.Errorf("got %v", err)
	}
}

func TestIdenticalIsCompatible(t *testing.T) {
	current, err := LoadDir(config.FS, "crd/bases")
	if err != nil {
		t.Fatal(err)
	}
	if len(current) != 2 {
		t.Fatalf("want the 2 platform CRDs, got %d", len(current))
	}
	if err := CompareSets(current, current); err != nil {
		t.Errorf("a CRD set must be compatible with itself:\n%v", err)
	}
	// The snapshot of the first release is still what config/ ships, or a
	// compatible evolution of it.
	snapshot, err := LoadDir(os.DirFS("../../upgrade/crds"), "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := CompareSets(snapshot, current); err != nil {
		t.Errorf("config/crd/bases breaks release 1.0.0:\n%v", err)
	}
}
