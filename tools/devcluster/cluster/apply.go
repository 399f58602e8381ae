package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FieldOwner is the server-side apply field manager of the dev cluster tool.
const FieldOwner = "mpijob-platform-devcluster"

// ReadManifests decodes every object of a multi-document YAML stream.
func ReadManifests(r io.Reader) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(u.Object) == 0 {
			continue
		}
		objs = append(objs, u)
	}
}

// ReadManifestDir reads every *.yaml file of dir, in name order.
func ReadManifestDir(dir string) ([]*unstructured.Unstructured, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var all []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		objs, err := ReadManifests(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		all = append(all, objs...)
	}
	return all, nil
}

// Apply server-side applies objects with the dev cluster's field owner.
func Apply(ctx context.Context, c client.Client, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		o.SetManagedFields(nil)
		o.SetResourceVersion("")
		if err := c.Patch(ctx, o, client.Apply, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil { //nolint:staticcheck // unstructured objects have no typed apply configuration
			return fmt.Errorf("applying %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	return nil
}

// newClient returns a controller-runtime client for cfg.
func newClient(cfg *rest.Config) (client.Client, error) {
	return client.New(cfg, client.Options{})
}

var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

// waitCRDsEstablished waits until every named CRD reports Established.
func waitCRDsEstablished(ctx context.Context, c client.Client, names []string) error {
	return poll(ctx, "CRDs established", func() (bool, string, error) {
		for _, n := range names {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(crdGVK)
			if err := c.Get(ctx, client.ObjectKey{Name: n}, u); err != nil {
				return false, err.Error(), nil
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			established := false
			for _, raw := range conds {
				if cond, ok := raw.(map[string]any); ok && cond["type"] == "Established" && cond["status"] == "True" {
					established = true
				}
			}
			if !established {
				return false, n + " not established", nil
			}
		}
		return true, "", nil
	})
}

func crdNames(objs []*unstructured.Unstructured) []string {
	var names []string
	for _, o := range objs {
		if o.GroupVersionKind() == crdGVK {
			names = append(names, o.GetName())
		}
	}
	return names
}
