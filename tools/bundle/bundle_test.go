package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/operator-framework/api/pkg/manifests"
	"github.com/operator-framework/api/pkg/validation"
	validationerrors "github.com/operator-framework/api/pkg/validation/errors"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	"github.com/mpijob-platform/mpijob-platform/tools/packaging"
)

// repoRoot is the repository root seen from this package's folder.
const repoRoot = "../.."

// k8sVersion is the Kubernetes version the validators check removed APIs
// against: the development cluster's.
const k8sVersion = "1.37"

// allowedWarnings are the validator warnings the bundle is known to get,
// each a substring of exactly the warning it allows and a comment saying
// why it is acceptable (docs/operations/olm.md repeats them). Every warning
// must match an entry and every entry a warning: a new warning, or one of
// these going away, fails the test; fix the bundle or update this list and
// the documentation.
var allowedWarnings = []string{
	// AlphaDeprecatedAPIsValidator (and OperatorHubV2Validator, which runs
	// the same check) flags any RBAC rule on events.k8s.io "events" and on
	// policy "poddisruptionbudgets", because their v1beta1 versions were
	// removed in Kubernetes 1.25. An RBAC rule names no version: the
	// operator records events through events.k8s.io/v1 (and the core
	// group) and writes the controller's PodDisruptionBudget as policy/v1,
	// served on every supported Kubernetes. The rules are the generated
	// ClusterRole's and the leader-election Role's. Both come in one
	// warning, in either order (normalized by normalizeWarning).
	"deprecated and removed in v1.25. More info: https://kubernetes.io/docs/reference/using-api/deprecation-guide/#v1-25. Migrate the API(s) for events, poddisruptionbudgets",
}

// deprecatedAPIs finds the APIs a deprecated-API warning lists.
var deprecatedAPIs = regexp.MustCompile(`(\w+): \(\[`)

// normalizeWarning writes a deprecated-API warning with the APIs it lists
// sorted and without their rule paths, so that one warning reads the same
// whichever validator printed it and in whatever order.
func normalizeWarning(w string) string {
	prefix, rest, ok := strings.Cut(w, "Migrate the API(s) for ")
	if !ok {
		return w
	}
	var apis []string
	for _, m := range deprecatedAPIs.FindAllStringSubmatch(rest, -1) {
		apis = append(apis, m[1])
	}
	sort.Strings(apis)
	return prefix + "Migrate the API(s) for " + strings.Join(apis, ", ")
}

func generate(t *testing.T) Files {
	t.Helper()
	files, err := Generate(Options{Root: repoRoot, Out: "bundle", Image: packaging.DefaultImage, Version: packaging.Version})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// generateDir writes a fresh bundle into a temporary repository root and
// returns that root.
func generateDir(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := Write(root, "bundle", generate(t)); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestBundleValidates(t *testing.T) {
	root := generateDir(t)
	bundle, err := manifests.GetBundleFromDir(filepath.Join(root, "bundle"))
	if err != nil {
		t.Fatalf("load bundle: %v", err)
	}
	validators := validation.DefaultBundleValidators.WithValidators(
		validation.OperatorHubV2Validator,
		validation.StandardCategoriesValidator,
		validation.StandardCapabilitiesValidator,
		validation.GoodPracticesValidator,
		validation.AlphaDeprecatedAPIsValidator,
		validation.ObjectValidator,
	)
	objs := append(bundle.ObjectsToValidate(), map[string]string{"k8s-version": k8sVersion})
	var errs, warns []string
	for _, result := range validators.Validate(objs...) {
		for _, e := range result.Errors {
			errs = append(errs, describe(e))
		}
		for _, w := range result.Warnings {
			warns = append(warns, normalizeWarning(describe(w)))
		}
	}
	if len(errs) > 0 {
		t.Errorf("validation errors:\n%s", strings.Join(errs, "\n"))
	}
	sort.Strings(warns)
	warns = slices.Compact(warns) // two validators run the deprecated-API check
	used := make([]int, len(allowedWarnings))
	for _, w := range warns {
		matched := false
		for i, allowed := range allowedWarnings {
			if strings.Contains(w, allowed) {
				used[i]++
				matched = true
			}
		}
		if !matched {
			t.Errorf("unexpected validator warning: %s", w)
		}
	}
	for i, n := range used {
		if n != 1 {
			t.Errorf("allowed warning %q matched %d warnings, want exactly 1", allowedWarnings[i], n)
		}
	}
}

func describe(e validationerrors.Error) string {
	return e.Error()
}

func TestCSV(t *testing.T) {
	root := generateDir(t)
	bundle, err := manifests.GetBundleFromDir(filepath.Join(root, "bundle"))
	if err != nil {
		t.Fatal(err)
	}
	csv := bundle.CSV
	op, err := packaging.NewOperator(packaging.DefaultNamespace, packaging.DefaultImage)
	if err != nil {
		t.Fatal(err)
	}
	if csv.Name != "mpijob-platform.v"+packaging.Version || csv.Spec.Version.String() != packaging.Version {
		t.Errorf("CSV %s version %s, want mpijob-platform.v%s", csv.Name, csv.Spec.Version, packaging.Version)
	}

	strategy := csv.Spec.InstallStrategy.StrategySpec
	if len(strategy.DeploymentSpecs) != 1 {
		t.Fatalf("want one deployment, got %d", len(strategy.DeploymentSpecs))
	}
	d := strategy.DeploymentSpecs[0]
	if d.Name != op.Deployment.Name {
		t.Errorf("deployment %q, want %q", d.Name, op.Deployment.Name)
	}
	if !equality.Semantic.DeepEqual(d.Spec, op.Deployment.Spec) {
		t.Errorf("the CSV's deployment is not packaging.NewOperator's (-operator +csv):\n%s", cmp.Diff(op.Deployment.Spec, d.Spec))
	}
	if len(strategy.ClusterPermissions) != 1 || strategy.ClusterPermissions[0].ServiceAccountName != op.ServiceAccount.Name {
		t.Fatalf("want the cluster permissions of ServiceAccount %s, got %+v", op.ServiceAccount.Name, strategy.ClusterPermissions)
	}
	if !equality.Semantic.DeepEqual(strategy.ClusterPermissions[0].Rules, op.ClusterRole.Rules) {
		t.Errorf("clusterPermissions differ from the generated ClusterRole (-role +csv):\n%s", cmp.Diff(op.ClusterRole.Rules, strategy.ClusterPermissions[0].Rules))
	}
	if len(strategy.Permissions) != 1 || !equality.Semantic.DeepEqual(strategy.Permissions[0].Rules, op.Role.Rules) {
		t.Errorf("permissions differ from the leader-election Role: %+v", strategy.Permissions)
	}
	found := false
	for _, ri := range csv.Spec.RelatedImages {
		found = found || ri.Image == packaging.DefaultImage
	}
	if !found {
		t.Errorf("relatedImages %v lack %s", csv.Spec.RelatedImages, packaging.DefaultImage)
	}
	if csv.Annotations["containerImage"] != packaging.DefaultImage {
		t.Errorf("containerImage %q", csv.Annotations["containerImage"])
	}
	if len(csv.Spec.WebhookDefinitions) != 0 {
		t.Errorf("the operator registers its webhooks itself; want no webhookdefinitions")
	}
	for _, m := range csv.Spec.InstallModes {
		if m.Supported != (m.Type == "AllNamespaces") {
			t.Errorf("install mode %s supported=%v; only AllNamespaces is", m.Type, m.Supported)
		}
	}

	// alm-examples: JSON, one example per owned API, each of an owned kind.
	owned := map[string]bool{}
	for _, o := range csv.Spec.CustomResourceDefinitions.Owned {
		group := o.Name[strings.Index(o.Name, ".")+1:]
		owned[group+"/"+o.Version+"/"+o.Kind] = true
	}
	var examples []struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal([]byte(csv.Annotations["alm-examples"]), &examples); err != nil {
		t.Fatalf("alm-examples: %v", err)
	}
	seen := map[string]bool{}
	for _, e := range examples {
		key := e.APIVersion + "/" + e.Kind
		if !owned[key] {
			t.Errorf("alm-examples has %s, which is not an owned CRD %v", key, owned)
		}
		seen[key] = true
	}
	if len(seen) != len(owned) {
		t.Errorf("alm-examples cover %v, want every owned API %v", seen, owned)
	}
	var initResource struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal([]byte(csv.Annotations["operatorframework.io/initialization-resource"]), &initResource); err != nil || initResource.Kind != "MPIJobPlatform" {
		t.Errorf("initialization-resource: %v %+v", err, initResource)
	}
}

// TestDescriptors checks every descriptor path exists in its CRD version's
// schema, and every top-level spec field has a spec descriptor (what
// scorecard's olm-spec-descriptors test asks of the examples).
func TestDescriptors(t *testing.T) {
	_, crds, err := loadCRDs()
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range crds {
		for _, v := range crd.Spec.Versions {
			key := crd.Name + "/" + v.Name
			api, ok := ownedAPIs[key]
			if !ok {
				t.Errorf("%s has no entry in ownedAPIs", key)
				continue
			}
			root := v.Schema.OpenAPIV3Schema
			specSchema, statusSchema := root.Properties["spec"], root.Properties["status"]
			described := map[string]bool{}
			for _, d := range api.spec {
				described[d.Path] = true
				if !schemaHasPath(&specSchema, d.Path) {
					t.Errorf("%s: spec descriptor %q names no field of spec", key, d.Path)
				}
			}
			for field := range specSchema.Properties {
				if !described[field] {
					t.Errorf("%s: spec.%s has no spec descriptor", key, field)
				}
			}
			statusDescribed := map[string]bool{}
			for _, d := range api.status {
				statusDescribed[strings.Split(d.Path, ".")[0]] = true
				if !schemaHasPath(&statusSchema, d.Path) {
					t.Errorf("%s: status descriptor %q names no field of status", key, d.Path)
				}
			}
			for field := range statusSchema.Properties {
				// lastReconcileTime is kept for compatibility and never
				// written (operator/api/kubeflow/v2beta1).
				if !statusDescribed[field] && field != "lastReconcileTime" {
					t.Errorf("%s: status.%s has no status descriptor", key, field)
				}
			}
		}
	}
}

// schemaHasPath follows a dotted descriptor path through properties,
// treating a segment under a map (additionalProperties) as a key.
func schemaHasPath(s *apiextensionsv1.JSONSchemaProps, path string) bool {
	for _, seg := range strings.Split(path, ".") {
		if next, ok := s.Properties[seg]; ok {
			s = &next
			continue
		}
		if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
			s = s.AdditionalProperties.Schema
			continue
		}
		return false
	}
	return true
}

// TestCommittedBundleIsFresh fails when bundle/, bundle.Dockerfile or
// PROJECT differ from what the generator writes now: run
// `go run ./tools/bundle` and commit.
func TestCommittedBundleIsFresh(t *testing.T) {
	if diffs := Check(repoRoot, "bundle", generate(t)); len(diffs) > 0 {
		t.Errorf("the committed bundle is stale; run `go run ./tools/bundle`:\n%s", strings.Join(diffs, "\n"))
	}
}

func TestDeterministic(t *testing.T) {
	a, b := generate(t), generate(t)
	if len(a) != len(b) {
		t.Fatalf("%d files, then %d", len(a), len(b))
	}
	for p := range a {
		if !bytes.Equal(a[p], b[p]) {
			t.Errorf("%s differs between two runs", p)
		}
	}
}

func TestWriteRemovesStaleFilesAndCheckReportsThem(t *testing.T) {
	root := generateDir(t)
	stale := filepath.Join(root, "bundle", "manifests", "old.yaml")
	if err := os.WriteFile(stale, []byte("kind: ConfigMap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := generate(t)
	csvPath := "bundle/" + CSVPath("mpijob-platform")
	edited := filepath.Join(root, filepath.FromSlash(csvPath))
	if err := os.WriteFile(edited, append(slices.Clone(files[csvPath]), "# edited\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	diffs := strings.Join(Check(root, "bundle", files), "\n")
	for _, want := range []string{"bundle/manifests/old.yaml: not generated any more", csvPath + ": stale", "# edited"} {
		if !strings.Contains(diffs, want) {
			t.Errorf("Check does not report %q:\n%s", want, diffs)
		}
	}
	if err := Write(root, "bundle", files); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Write kept %s: %v", stale, err)
	}
	if diffs := Check(root, "bundle", files); len(diffs) > 0 {
		t.Errorf("after Write: %v", diffs)
	}
}

func TestProjectFile(t *testing.T) {
	var project struct {
		Repo      string `json:"repo"`
		Resources []struct {
			Path  string `json:"path"`
			Group string `json:"group"`
			Kind  string `json:"kind"`
		} `json:"resources"`
	}
	if err := yaml.Unmarshal(generate(t)[ProjectFile], &project); err != nil {
		t.Fatal(err)
	}
	if len(project.Resources) != 2 {
		t.Fatalf("want 2 resources, got %+v", project.Resources)
	}
	for _, r := range project.Resources {
		dir, ok := strings.CutPrefix(r.Path, project.Repo+"/")
		if !ok {
			t.Errorf("%s: path %s is outside %s", r.Kind, r.Path, project.Repo)
			continue
		}
		if _, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(dir), "types.go")); err != nil {
			t.Errorf("%s: %v", r.Kind, err)
		}
	}
}

func TestIconIsSVG(t *testing.T) {
	dec := xml.NewDecoder(bytes.NewReader(packaging.IconSVG))
	var root string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("icon.svg: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Errorf("icon.svg's root element is %q", root)
	}
}
