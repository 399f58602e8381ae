package main

import (
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// Every resource the product grants has its reason written down.
func TestEveryGrantHasAReason(t *testing.T) {
	repo, err := cluster.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	page, err := render(repo)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "`core/pods` | ") {
		t.Errorf("the page lists no pods rule:\n%s", page)
	}
}

func TestVerbs(t *testing.T) {
	for name, tc := range map[string]struct {
		resource string
		granted  []string
		used     []string
		want     string
	}{
		"used and unused":            {"core/pods", []string{"create", "deletecollection"}, []string{"create"}, "create, deletecollection *unused*"},
		"bind is a check":            {"rbac.authorization.k8s.io/clusterroles", []string{"bind"}, nil, "bind *checked*"},
		"finalizers are a check":     {"kubeflow.org/mpijobs/finalizers", []string{"update"}, nil, "update *checked*"},
		"a check that was requested": {"kubeflow.org/mpijobs/finalizers", []string{"update"}, []string{"update"}, "update"},
		"list streamed by a watch":   {"core/pods", []string{"list", "watch"}, []string{"watch"}, "list *via watch*, watch"},
		"create by apply":            {"apps/deployments", []string{"create", "patch"}, []string{"patch"}, "create *via apply*, patch"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := verbs(tc.resource, tc.granted, tc.used); got != tc.want {
				t.Errorf("verbs = %q, want %q", got, tc.want)
			}
		})
	}
	if got := resources(rbacv1.PolicyRule{APIGroups: []string{"", "batch"}, Resources: []string{"jobs"}}); strings.Join(got, ",") != "core/jobs,batch/jobs" {
		t.Errorf("resources = %v", got)
	}
}
