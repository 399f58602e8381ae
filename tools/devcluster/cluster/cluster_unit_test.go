package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestModuleVersion(t *testing.T) {
	gomod := `module example.com/w

go 1.26

require k8s.io/kubernetes v1.37.2

require (
	go.etcd.io/etcd/server/v3 v3.7.3
	sigs.k8s.io/kwok v0.8.0 // indirect
)

replace (
	k8s.io/api => k8s.io/api v0.37.2
	sigs.k8s.io/kwok => sigs.k8s.io/kwok v9.9.9
)
`
	cases := map[string]struct {
		module  string
		want    string
		wantErr bool
	}{
		"single require":       {module: "k8s.io/kubernetes", want: "v1.37.2"},
		"require block":        {module: "go.etcd.io/etcd/server/v3", want: "v3.7.3"},
		"replace is not a pin": {module: "sigs.k8s.io/kwok", want: "v0.8.0"},
		"only replaced":        {module: "k8s.io/api", wantErr: true},
		"absent":               {module: "sigs.k8s.io/kueue", wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := moduleVersion([]byte(gomod), tc.module)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("version = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCacheKeyChangesWithEveryInput(t *testing.T) {
	base := cacheKey([]byte("mod"), []byte("sum"), "-s -w")
	if base != cacheKey([]byte("mod"), []byte("sum"), "-s -w") {
		t.Fatal("cache key is not stable")
	}
	for name, key := range map[string]string{
		"go.mod":  cacheKey([]byte("mod2"), []byte("sum"), "-s -w"),
		"go.sum":  cacheKey([]byte("mod"), []byte("sum2"), "-s -w"),
		"ldflags": cacheKey([]byte("mod"), []byte("sum"), "-s"),
	} {
		if key == base {
			t.Errorf("changing %s kept the cache key %s", name, key)
		}
	}
}

func TestKubeLDFlagsStampVersion(t *testing.T) {
	got := kubeLDFlags("v1.37.2")
	for _, want := range []string{
		"k8s.io/component-base/version.gitVersion=v1.37.2",
		"k8s.io/component-base/version.gitMinor=37",
		"k8s.io/client-go/pkg/version.gitMajor=1",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("ldflags %q lack %q", got, want)
		}
	}
}

func TestKueueConversionCRDs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kustomization.yaml")
	content := `patches:
- path: patches/webhook_in_localqueues.yaml
- path: patches/webhook_in_workloads.yaml
#- path: patches/webhook_in_resourceflavors.yaml
#- path: patches/cainjection_in_clusterqueues.yaml
`
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := kueueConversionCRDs(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"localqueues.kueue.x-k8s.io": true, "workloads.kueue.x-k8s.io": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("conversion CRDs (-want +got):\n%s", diff)
	}
	if err := os.WriteFile(path, []byte("resources: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := kueueConversionCRDs(path); err == nil {
		t.Error("a kustomization without conversion patches gave no error")
	}
}

func TestWebhookTargetsKept(t *testing.T) {
	rule := func(groups, resources []any) map[string]any {
		return map[string]any{"rules": []any{map[string]any{"apiGroups": groups, "resources": resources}}}
	}
	cases := map[string]struct {
		hook map[string]any
		want bool
	}{
		"kueue objects":           {rule([]any{"kueue.x-k8s.io"}, []any{"clusterqueues"}), true},
		"batch jobs":              {rule([]any{"batch"}, []any{"jobs"}), true},
		"mpijobs":                 {rule([]any{"kubeflow.org"}, []any{"mpijobs"}), true},
		"pytorchjobs (disabled)":  {rule([]any{"kubeflow.org"}, []any{"pytorchjobs"}), false},
		"pods (disabled)":         {rule([]any{""}, []any{"pods"}), false},
		"deployments (disabled)":  {rule([]any{"apps"}, []any{"deployments"}), false},
		"no rules":                {map[string]any{}, false},
		"mixed kept and disabled": {rule([]any{"batch", "apps"}, []any{"jobs"}), false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := webhookTargetsKept(tc.hook); got != tc.want {
				t.Errorf("kept = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDesiredNodes(t *testing.T) {
	nodes := DesiredNodes(3, 2)
	if len(nodes) != 5 {
		t.Fatalf("got %d nodes, want 5", len(nodes))
	}
	var gpus, cpus int
	for _, n := range nodes {
		if n.Annotations[KwokNodeAnnotation] != "fake" {
			t.Errorf("node %s is not marked for kwok", n.Name)
		}
		if len(n.Spec.Taints) != 0 {
			t.Errorf("node %s has taints %v; upstream examples must schedule without tolerations", n.Name, n.Spec.Taints)
		}
		switch n.Labels[NodePoolLabel] {
		case "gpu":
			gpus++
			q := n.Status.Capacity[GPUResource]
			if q.Value() != GPUNodeGPUs || n.Labels["nvidia.com/gpu.product"] != GPUProduct {
				t.Errorf("GPU node %s: capacity %s, product %q", n.Name, q.String(), n.Labels["nvidia.com/gpu.product"])
			}
		case "cpu":
			cpus++
			if _, ok := n.Status.Capacity[GPUResource]; ok {
				t.Errorf("CPU node %s has GPUs", n.Name)
			}
		}
		if cmp.Diff(n.Status.Capacity, n.Status.Allocatable) != "" {
			t.Errorf("node %s allocatable differs from capacity", n.Name)
		}
		if n.Labels[corev1.LabelHostname] != n.Name {
			t.Errorf("node %s hostname label = %q", n.Name, n.Labels[corev1.LabelHostname])
		}
	}
	if gpus != 3 || cpus != 2 {
		t.Errorf("gpu/cpu nodes = %d/%d, want 3/2", gpus, cpus)
	}
}

func TestKwokStagesParse(t *testing.T) {
	objs, err := ReadManifests(strings.NewReader(kwokStages))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		if o.GetKind() != "Stage" {
			t.Errorf("unexpected kind %s", o.GetKind())
		}
		names = append(names, o.GetName())
	}
	want := []string{"node-initialize", "pod-ready", "pod-finish-on-request", "pod-delete"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
}

// Ports come from below the ephemeral range, where no outgoing
// connection can take one between the choice and the bind.
func TestFreePortsAvoidEphemeralRange(t *testing.T) {
	ports, err := FreePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	lo := ephemeralLow()
	for _, p := range ports {
		if seen[p] {
			t.Errorf("port %d given twice", p)
		}
		seen[p] = true
		if lo-10000 >= 1000 && (p < 10000 || p >= lo) {
			t.Errorf("port %d is outside [10000, %d)", p, lo)
		}
	}
	if len(ports) != 20 {
		t.Errorf("%d ports, want 20", len(ports))
	}
}

// The oldest Kubernetes the product claims (the chart's kubeVersion, the
// bundle's minKubeVersion, the install docs) is the one make test runs a
// core subset of the e2e suites on: raising or lowering one without the
// others would claim what is not tested.
func TestClaimedMinimumIsTheTestedOldest(t *testing.T) {
	repo, err := FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(repo, "tools", "cluster", KubeOldest, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	version, err := moduleVersion(gomod, "k8s.io/kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	if len(parts) < 2 {
		t.Fatalf("pinned version %q", version)
	}
	minor := parts[0] + "." + parts[1]
	for file, want := range map[string]string{
		"charts/mpijob-platform/Chart.yaml":                           `kubeVersion: ">=` + minor + `.0-0"`,
		"bundle/manifests/mpijob-platform.clusterserviceversion.yaml": "minKubeVersion: " + minor + ".0",
		"docs/operations/install.md":                                  "Kubernetes " + minor + " or later",
	} {
		data, err := os.ReadFile(filepath.Join(repo, file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), want) {
			t.Errorf("%s does not say %q, the oldest Kubernetes tested (tools/cluster/%s pins %s)", file, want, KubeOldest, version)
		}
	}
}
