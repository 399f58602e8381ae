// Package crdcompat checks that a new set of CustomResourceDefinitions can
// replace an old one without breaking what clusters already store or what
// clients already send: every served version stays served, no field of a
// served version's schema disappears or changes type, no existing version
// gains a required field, and the storage version rules hold.
//
// The catalog generator runs it between consecutive releases (the CRD
// snapshots in upgrade/crds/<version>/) and between the latest release and
// config/crd/bases, so a change that would strand stored objects or
// clients fails `go run ./tools/catalog` and `go test ./tools/catalog/`.
package crdcompat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Set is a set of CRDs by name (<plural>.<group>).
type Set map[string]*apiextensionsv1.CustomResourceDefinition

// LoadDir reads every *.yaml file of dir in fsys; a file may hold several
// documents. Anything but a CustomResourceDefinition is an error.
func LoadDir(fsys fs.FS, dir string) (Set, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no *.yaml files", dir)
	}
	set := Set{}
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		crds, err := Decode(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, crd := range crds {
			if _, dup := set[crd.Name]; dup {
				return nil, fmt.Errorf("%s: CRD %s is defined twice in %s", f, crd.Name, dir)
			}
			set[crd.Name] = crd
		}
	}
	return set, nil
}

// Decode decodes the CRDs of a YAML stream, strictly.
func Decode(data []byte) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var crds []*apiextensionsv1.CustomResourceDefinition
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return crds, nil
		}
		if err != nil {
			return nil, fmt.Errorf("split YAML documents: %w", err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(doc, crd); err != nil {
			return nil, fmt.Errorf("decode CustomResourceDefinition: %w", err)
		}
		if crd.Kind != "CustomResourceDefinition" || crd.APIVersion != apiextensionsv1.SchemeGroupVersion.String() {
			return nil, fmt.Errorf("want an %s CustomResourceDefinition, got %s %s", apiextensionsv1.SchemeGroupVersion, crd.APIVersion, crd.Kind)
		}
		crds = append(crds, crd)
	}
}

// CompareSets checks that newSet can replace oldSet: no CRD disappears and
// each one passes Compare. It returns nil or one error per problem, joined.
func CompareSets(oldSet, newSet Set) error {
	var problems []string
	for _, name := range sortedKeys(oldSet) {
		n, ok := newSet[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: CRD removed", name))
			continue
		}
		problems = append(problems, Compare(oldSet[name], n)...)
	}
	return join(problems)
}

// Compare lists what breaks when newCRD replaces oldCRD, one message per
// problem naming the CRD, the version and the field path.
func Compare(oldCRD, newCRD *apiextensionsv1.CustomResourceDefinition) []string {
	var problems []string
	report := func(format string, args ...any) {
		problems = append(problems, oldCRD.Name+": "+fmt.Sprintf(format, args...))
	}

	if oldCRD.Spec.Group != newCRD.Spec.Group {
		report("group changed from %s to %s", oldCRD.Spec.Group, newCRD.Spec.Group)
	}
	if oldCRD.Spec.Names.Kind != newCRD.Spec.Names.Kind {
		report("kind changed from %s to %s", oldCRD.Spec.Names.Kind, newCRD.Spec.Names.Kind)
	}
	if oldCRD.Spec.Scope != newCRD.Spec.Scope {
		report("scope changed from %s to %s", oldCRD.Spec.Scope, newCRD.Spec.Scope)
	}

	// Storage: exactly one storage version, and the one objects were
	// stored as until now must stay readable.
	var storage []string
	for _, v := range newCRD.Spec.Versions {
		if v.Storage {
			storage = append(storage, v.Name)
		}
	}
	if len(storage) != 1 {
		report("want exactly one storage version, found %d %v", len(storage), storage)
	}
	for _, ov := range oldCRD.Spec.Versions {
		if !ov.Storage {
			continue
		}
		if nv := version(newCRD, ov.Name); nv == nil || !nv.Served {
			report("version %s was the storage version and must stay served: objects stored as %s must remain readable", ov.Name, ov.Name)
		}
	}

	for _, ov := range oldCRD.Spec.Versions {
		if !ov.Served {
			continue
		}
		nv := version(newCRD, ov.Name)
		switch {
		case nv == nil:
			report("served version %s removed", ov.Name)
			continue
		case !nv.Served:
			report("version %s no longer served", ov.Name)
			continue
		}
		oldSchema, newSchema := schemaOf(ov), schemaOf(*nv)
		if oldSchema == nil {
			continue
		}
		if newSchema == nil {
			report("version %s: schema removed", ov.Name)
			continue
		}
		w := walker{report: func(format string, args ...any) {
			report("version %s: "+format, append([]any{ov.Name}, args...)...)
		}}
		w.walk("", oldSchema, newSchema)
	}
	return problems
}

type walker struct {
	report func(format string, args ...any)
}

// walk compares the schema nodes at p, present in both old and new.
func (w walker) walk(p string, oldNode, newNode *apiextensionsv1.JSONSchemaProps) {
	if oldNode.Type != "" && newNode.Type != "" && oldNode.Type != newNode.Type {
		w.report("field %s changed type from %s to %s", display(p), oldNode.Type, newNode.Type)
		return
	}
	for _, name := range sortedKeys(oldNode.Properties) {
		child := join2(p, name)
		newChild, ok := newNode.Properties[name]
		if !ok {
			w.report("field %s removed", child)
			continue
		}
		oldChild := oldNode.Properties[name]
		w.walk(child, &oldChild, &newChild)
	}
	for _, r := range newNode.Required {
		if !slices.Contains(oldNode.Required, r) {
			w.report("field %s is newly required", join2(p, r))
		}
	}
	if oldNode.Items != nil && oldNode.Items.Schema != nil {
		if newNode.Items == nil || newNode.Items.Schema == nil {
			w.report("field %s lost its item schema", display(p+"[*]"))
		} else {
			w.walk(p+"[*]", oldNode.Items.Schema, newNode.Items.Schema)
		}
	}
	if oldNode.AdditionalProperties != nil && oldNode.AdditionalProperties.Schema != nil {
		if newNode.AdditionalProperties == nil || newNode.AdditionalProperties.Schema == nil {
			w.report("field %s lost its value schema", display(join2(p, "*")))
		} else {
			w.walk(join2(p, "*"), oldNode.AdditionalProperties.Schema, newNode.AdditionalProperties.Schema)
		}
	}
}

func version(crd *apiextensionsv1.CustomResourceDefinition, name string) *apiextensionsv1.CustomResourceDefinitionVersion {
	for i := range crd.Spec.Versions {
		if crd.Spec.Versions[i].Name == name {
			return &crd.Spec.Versions[i]
		}
	}
	return nil
}

func schemaOf(v apiextensionsv1.CustomResourceDefinitionVersion) *apiextensionsv1.JSONSchemaProps {
	if v.Schema == nil {
		return nil
	}
	return v.Schema.OpenAPIV3Schema
}

func join2(p, name string) string {
	if p == "" {
		return name
	}
	return p + "." + name
}

func display(p string) string {
	if p == "" {
		return "(root)"
	}
	return p
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func join(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "\n"))
}
