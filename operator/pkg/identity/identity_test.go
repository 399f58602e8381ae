package identity

import (
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// The controller reads only the Secrets it names: no list or watch of
// Secrets anywhere, and in its namespace only the webhook certificate.
func TestControllerSeesNoSecretItDidNotMake(t *testing.T) {
	id, err := NewController("mpijob-system")
	if err != nil {
		t.Fatal(err)
	}
	check := func(kind string, rules []rbacv1.PolicyRule) {
		for _, r := range rules {
			if !slices.Contains(r.Resources, "secrets") {
				continue
			}
			for _, v := range r.Verbs {
				if v == "list" || v == "watch" || v == "*" {
					t.Errorf("%s grants %s on secrets", kind, v)
				}
				if kind == "Role" && (v == "get" || v == "update") && !slices.Equal(r.ResourceNames, []string{WebhookCertSecret}) {
					t.Errorf("Role grants %s on secrets beyond %s: %v", v, WebhookCertSecret, r.ResourceNames)
				}
			}
		}
	}
	check("ClusterRole", id.ClusterRole.Rules)
	check("Role", id.Role.Rules)
}

// Suspend and cleanPodPolicy delete workers with one DeleteCollection; a
// shipped role without it left suspended jobs running.
func TestControllerMayDeleteWorkersAtOnce(t *testing.T) {
	id, err := NewController("mpijob-system")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ group, resource, verb string }{
		{"", "pods", "deletecollection"},
		{"", "pods", "update"},
		{"networking.k8s.io", "networkpolicies", "update"},
		{"kubeflow.org", "mpijobs/finalizers", "update"},
	} {
		found := false
		for _, r := range id.ClusterRole.Rules {
			if slices.Contains(r.APIGroups, want.group) && slices.Contains(r.Resources, want.resource) && slices.Contains(r.Verbs, want.verb) {
				found = true
			}
		}
		if !found {
			t.Errorf("the controller's ClusterRole lacks %s on %s.%s", want.verb, want.resource, want.group)
		}
	}
	if id.ClusterRoleBinding.Subjects[0].Namespace != "mpijob-system" || id.RoleBinding.Subjects[0].Name != ControllerServiceAccount {
		t.Errorf("bindings name the wrong subject: %+v %+v", id.ClusterRoleBinding.Subjects, id.RoleBinding.Subjects)
	}
}
