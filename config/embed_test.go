package config

import (
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// allows says whether rules grant verb on group/resource the way the RBAC
// authorizer reads them (no resourceNames restriction).
func allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if len(r.ResourceNames) == 0 && has(r.APIGroups, group) && has(r.Resources, resource) && has(r.Verbs, verb) {
			return true
		}
	}
	return false
}

func has(list []string, s string) bool {
	return slices.Contains(list, s) || slices.Contains(list, rbacv1.ResourceAll)
}

func rolesByName(t *testing.T) map[string]rbacv1.ClusterRole {
	t.Helper()
	roles, err := UserRoles()
	if err != nil {
		t.Fatalf("UserRoles: %v", err)
	}
	m := map[string]rbacv1.ClusterRole{}
	for _, r := range roles {
		m[r.Name] = r
	}
	return m
}

func TestUserRolesNamesAndAggregation(t *testing.T) {
	roles, err := UserRoles()
	if err != nil {
		t.Fatalf("UserRoles: %v", err)
	}
	var names []string
	for _, r := range roles {
		names = append(names, r.Name)
	}
	wantNames := []string{"mpijob-platform-admin", "mpijob-platform-user", "mpijob-platform-viewer"}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Fatalf("roles, sorted by name (-want +got):\n%s", diff)
	}
	const (
		toEdit = "rbac.authorization.k8s.io/aggregate-to-edit"
		toView = "rbac.authorization.k8s.io/aggregate-to-view"
	)
	for name, wantAggregation := range map[string]map[string]string{
		"mpijob-platform-user":   {toEdit: "true"},
		"mpijob-platform-viewer": {toView: "true"},
		"mpijob-platform-admin":  {}, // bound explicitly, never aggregated
	} {
		t.Run(name, func(t *testing.T) {
			r := rolesByName(t)[name]
			gotAggregation := map[string]string{}
			for k, v := range r.Labels {
				if strings.HasPrefix(k, "rbac.authorization.k8s.io/aggregate-to-") {
					gotAggregation[k] = v
				}
			}
			if diff := cmp.Diff(wantAggregation, gotAggregation); diff != "" {
				t.Errorf("aggregation labels (-want +got):\n%s", diff)
			}
			if r.Labels["app.kubernetes.io/part-of"] != "mpijob-platform" || r.Labels["app.kubernetes.io/component"] != "rbac" {
				t.Errorf("labels %v lack app.kubernetes.io/part-of=mpijob-platform and component=rbac", r.Labels)
			}
			if r.AggregationRule != nil {
				t.Errorf("has an aggregationRule; our roles are aggregated into others, never aggregate themselves")
			}
		})
	}
}

func TestUserRolesGrantNoSecretsAndNoWildcards(t *testing.T) {
	for name, r := range rolesByName(t) {
		if len(r.Rules) == 0 {
			t.Errorf("%s has no rules", name)
		}
		for i, rule := range r.Rules {
			for _, field := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs} {
				if slices.Contains(field, "*") {
					t.Errorf("%s rule %d uses a wildcard: %+v", name, i, rule)
				}
			}
			for _, res := range rule.Resources {
				if res == "secrets" || strings.HasPrefix(res, "secrets/") {
					t.Errorf("%s rule %d grants %s; no platform role may read Secrets (the job's SSH key lives there)", name, i, res)
				}
			}
			if len(rule.NonResourceURLs) > 0 {
				t.Errorf("%s rule %d grants non-resource URLs %v", name, i, rule.NonResourceURLs)
			}
		}
	}
}

func TestUserRolesGrants(t *testing.T) {
	type access struct{ group, resource, verb string }
	cases := map[string]struct {
		role      string
		allowed   []access
		forbidden []access
	}{
		"user runs and debugs jobs": {
			role: "mpijob-platform-user",
			allowed: []access{
				{"kubeflow.org", "mpijobs", "create"}, {"kubeflow.org", "mpijobs", "deletecollection"},
				{"kubeflow.org", "mpijobs", "patch"}, {"kubeflow.org", "mpijobs/status", "get"},
				{"", "pods", "list"}, {"", "pods/log", "get"}, {"", "events", "watch"},
				{"events.k8s.io", "events", "list"}, {"batch", "jobs", "get"},
				{"kueue.x-k8s.io", "localqueues", "list"}, {"kueue.x-k8s.io", "workloads", "get"},
			},
			forbidden: []access{
				{"kubeflow.org", "mpijobs/status", "update"}, {"", "pods", "delete"}, {"", "pods/exec", "create"},
				{"batch", "jobs", "delete"}, {"kueue.x-k8s.io", "localqueues", "create"},
				{"kueue.x-k8s.io", "workloads", "delete"}, {"", "secrets", "get"},
			},
		},
		"viewer only reads": {
			role: "mpijob-platform-viewer",
			allowed: []access{
				{"kubeflow.org", "mpijobs", "list"}, {"kubeflow.org", "mpijobs/status", "get"},
				{"", "pods/log", "get"}, {"events.k8s.io", "events", "watch"},
				{"batch", "jobs", "list"}, {"kueue.x-k8s.io", "workloads", "watch"},
			},
			forbidden: []access{
				{"kubeflow.org", "mpijobs", "create"}, {"kubeflow.org", "mpijobs", "update"},
				{"kubeflow.org", "mpijobs", "patch"}, {"kubeflow.org", "mpijobs", "delete"},
				{"kubeflow.org", "mpijobs", "deletecollection"}, {"", "secrets", "list"},
			},
		},
		"admin runs the platform": {
			role: "mpijob-platform-admin",
			allowed: []access{
				{"platform.mpijob.io", "mpijobplatforms", "create"}, {"platform.mpijob.io", "mpijobplatforms/status", "update"},
				{"kueue.x-k8s.io", "clusterqueues", "update"}, {"kueue.x-k8s.io", "resourceflavors", "create"},
				{"kueue.x-k8s.io", "cohorts", "delete"}, {"kueue.x-k8s.io", "localqueues", "create"},
				{"kueue.x-k8s.io", "workloads", "delete"}, {"", "resourcequotas", "create"},
				{"", "namespaces", "patch"}, {"", "nodes", "list"},
			},
			forbidden: []access{
				{"kueue.x-k8s.io", "workloads", "create"}, {"", "namespaces", "create"}, {"", "namespaces", "delete"},
				{"", "nodes", "patch"}, {"", "secrets", "get"}, {"rbac.authorization.k8s.io", "clusterroles", "create"},
			},
		},
	}
	roles := rolesByName(t)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rules := roles[tc.role].Rules
			for _, a := range tc.allowed {
				if !allows(rules, a.group, a.resource, a.verb) {
					t.Errorf("%s should allow %s on %s in group %q", tc.role, a.verb, a.resource, a.group)
				}
			}
			for _, a := range tc.forbidden {
				if allows(rules, a.group, a.resource, a.verb) {
					t.Errorf("%s should not allow %s on %s in group %q", tc.role, a.verb, a.resource, a.group)
				}
			}
		})
	}
}

// The admin role helps any team with its jobs, so it must cover every rule of
// the user role.
func TestAdminCoversUser(t *testing.T) {
	roles := rolesByName(t)
	admin := roles["mpijob-platform-admin"].Rules
	for _, rule := range roles["mpijob-platform-user"].Rules {
		for _, g := range rule.APIGroups {
			for _, res := range rule.Resources {
				for _, v := range rule.Verbs {
					if !allows(admin, g, res, v) {
						t.Errorf("mpijob-platform-admin lacks %s on %s in group %q, which mpijob-platform-user has", v, res, g)
					}
				}
			}
		}
	}
}

// kustomization.yaml must list exactly the role files, or `kubectl apply -k`
// would install a different set than the operator embeds.
func TestKustomizationListsEveryRole(t *testing.T) {
	data, err := FS.ReadFile(path.Join(userRolesDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Resources  []string `json:"resources"`
	}
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	files, err := fs.Glob(FS, path.Join(userRolesDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range files {
		if b := path.Base(f); b != "kustomization.yaml" {
			want = append(want, b)
		}
	}
	got := slices.Sorted(slices.Values(k.Resources))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kustomization.yaml resources vs role files (-files +kustomization):\n%s", diff)
	}
}

func TestFSHoldsTheCRD(t *testing.T) {
	data, err := FS.ReadFile("crd/bases/kubeflow.org_mpijobs.yaml")
	if err != nil {
		t.Fatalf("the MPIJob CRD is not embedded: %v", err)
	}
	if !strings.Contains(string(data), "kind: CustomResourceDefinition") {
		t.Errorf("crd/bases/kubeflow.org_mpijobs.yaml is not a CRD")
	}
}
