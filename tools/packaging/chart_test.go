package packaging

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/mpijob-platform/mpijob-platform/test/golden"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := cluster.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func objects(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := cluster.ReadManifests(strings.NewReader(manifest))
	if err != nil {
		t.Fatalf("rendered manifests do not parse: %v\n%s", err, manifest)
	}
	return objs
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s among %d objects", kind, name, len(objs))
	return nil
}

func into(t *testing.T, u *unstructured.Unstructured, obj any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
		t.Fatal(err)
	}
}

// helm lint, with the chart's own values and the full example, reports
// nothing worse than INFO.
func TestChartLints(t *testing.T) {
	kv, err := chartutil.ParseKubeVersion(KubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for _, values := range []map[string]any{nil, fullValues(t)} {
		res := lint.AllWithKubeVersion(filepath.Join(repoRoot(t), ChartDir), values, "mpijob-system", kv)
		for _, m := range res.Messages {
			if m.Severity > support.InfoSev {
				t.Errorf("helm lint: %s", m)
			}
		}
	}
}

func fullValues(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "values-full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	v := map[string]any{}
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Renders of the default and the full values match testdata (go test -update).
func TestChartGolden(t *testing.T) {
	for name, values := range map[string]map[string]any{"default": nil, "full": fullValues(t)} {
		got, err := RenderChart(repoRoot(t), "mpijob-platform", "mpijob-system", values, true)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		golden.Check(t, "chart-"+name, []byte(got))
	}
}

// The chart installs exactly what tools/packaging defines: the same
// Deployment spec, ClusterRole rules and bindings, with the chart's image.
func TestChartMatchesPackaging(t *testing.T) {
	got, err := RenderChart(repoRoot(t), "mpijob-platform", "team-ops", map[string]any{"image": map[string]any{"repository": "example.invalid/op", "tag": "9.9.9"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	objs := objects(t, got)
	want, err := NewOperator("team-ops", "example.invalid/op:9.9.9")
	if err != nil {
		t.Fatal(err)
	}
	d := &appsv1.Deployment{}
	into(t, find(t, objs, "Deployment", OperatorName), d)
	wantSpec := want.Deployment.Spec.DeepCopy()
	// The chart adds what users may set and defaults; compare the rest.
	d.Spec.Template.Spec.Containers[0].ImagePullPolicy = ""
	if diff := cmp.Diff(*wantSpec, d.Spec); diff != "" {
		t.Errorf("Deployment spec differs from tools/packaging (-packaging +chart):\n%s", diff)
	}
	cr := &rbacv1.ClusterRole{}
	into(t, find(t, objs, "ClusterRole", OperatorName), cr)
	if diff := cmp.Diff(want.ClusterRole.Rules, cr.Rules); diff != "" {
		t.Errorf("ClusterRole rules differ (-packaging +chart):\n%s", diff)
	}
	role := &rbacv1.Role{}
	into(t, find(t, objs, "Role", OperatorName+"-leader-election"), role)
	if diff := cmp.Diff(want.Role.Rules, role.Rules); diff != "" {
		t.Errorf("leader-election Role differs (-packaging +chart):\n%s", diff)
	}
	crb := &rbacv1.ClusterRoleBinding{}
	into(t, find(t, objs, "ClusterRoleBinding", OperatorName), crb)
	if diff := cmp.Diff(want.ClusterRoleBinding.Subjects, crb.Subjects); diff != "" {
		t.Errorf("ClusterRoleBinding subjects differ:\n%s", diff)
	}
	// The ClusterRoles shipped for others, so that the operator needs no
	// escalate.
	for _, r := range want.ShippedRoles {
		got := &rbacv1.ClusterRole{}
		into(t, find(t, objs, "ClusterRole", r.Name), got)
		if diff := cmp.Diff(r.Rules, got.Rules); diff != "" {
			t.Errorf("shipped ClusterRole %s differs (-packaging +chart):\n%s", r.Name, diff)
		}
	}
	for _, rule := range cr.Rules {
		if contains(rule.Verbs, "escalate") || contains(rule.Verbs, "*") || (contains(rule.Verbs, "bind") && len(rule.ResourceNames) == 0) {
			t.Errorf("the operator's ClusterRole grants %v on %v (names %v): it must hold no escalate, and bind only by name", rule.Verbs, rule.Resources, rule.ResourceNames)
		}
	}
	find(t, objs, "ServiceAccount", OperatorName)
	find(t, objs, "Service", MetricsService)
	find(t, objs, "MPIJobPlatform", "default")
}

// The kustomize bases (config/default) install the same operator as the
// chart: same kinds and names, same Deployment spec and rules.
func TestKustomizeMatchesChart(t *testing.T) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot(t), "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	kustomized := objects(t, string(data))
	rendered, err := RenderChart(repoRoot(t), "mpijob-platform", DefaultNamespace, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	charted := objects(t, rendered)
	ids := func(objs []*unstructured.Unstructured, skip ...string) []string {
		var out []string
		for _, o := range objs {
			if !contains(skip, o.GetKind()) {
				out = append(out, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
			}
		}
		return sorted(out)
	}
	// kustomize also installs the namespace and the CRDs (Helm takes them from crds/); the chart
	// also creates the MPIJobPlatform.
	if diff := cmp.Diff(ids(kustomized, "Namespace", "CustomResourceDefinition"), ids(charted, "MPIJobPlatform")); diff != "" {
		t.Errorf("objects differ (-kustomize +chart):\n%s", diff)
	}
	kd, cd := &appsv1.Deployment{}, &appsv1.Deployment{}
	into(t, find(t, kustomized, "Deployment", OperatorName), kd)
	into(t, find(t, charted, "Deployment", OperatorName), cd)
	cd.Spec.Template.Spec.Containers[0].ImagePullPolicy = ""
	if diff := cmp.Diff(kd.Spec, cd.Spec); diff != "" {
		t.Errorf("Deployment differs (-kustomize +chart):\n%s", diff)
	}
	if img := kd.Spec.Template.Spec.Containers[0].Image; img != DefaultImage {
		t.Errorf("kustomize image %q, want %q", img, DefaultImage)
	}
}

// values.schema.json rejects bad toggles and typos with the path of the
// bad value.
func TestValuesSchemaRejectsBadValues(t *testing.T) {
	cases := []struct {
		values map[string]any
		want   []string
	}{
		{map[string]any{"platform": map[string]any{"webhooks": map[string]any{"managementState": "Maybe"}}}, []string{"/platform/webhooks/managementState", "Managed", "Removed"}},
		{map[string]any{"platform": map[string]any{"kueue": map[string]any{"managementState": "Sometimes"}}}, []string{"/platform/kueue/managementState", "Unmanaged"}},
		{map[string]any{"platform": map[string]any{"webhook": map[string]any{}}}, []string{"webhook", "not allowed"}},
		{map[string]any{"replicaCount": 0}, []string{"replicaCount", "minimum"}},
		{map[string]any{"image": map[string]any{"repository": ""}}, []string{"/image/repository", "minLength"}},
	}
	for _, tc := range cases {
		_, err := RenderChart(repoRoot(t), "mpijob-platform", "mpijob-system", tc.values, false)
		if err == nil {
			t.Errorf("values %v were accepted", tc.values)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("values %v: error lacks %q:\n%v", tc.values, w, err)
			}
		}
	}
}

// The chart's image default is the one reference every format uses.
func TestChartImageDefault(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), ChartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	repo, _, _ := strings.Cut(DefaultImage, ":")
	if !bytes.Contains(data, []byte("repository: "+repo+"\n")) {
		t.Errorf("values.yaml image.repository is not %s", repo)
	}
	chart, err := os.ReadFile(filepath.Join(repoRoot(t), ChartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(chart, []byte("\nversion: "+Version+"\n")) || !bytes.Contains(chart, []byte("appVersion: \""+Version+"\"")) {
		t.Errorf("Chart.yaml version/appVersion are not %s", Version)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
