package cli_test

import (
	"strings"
	"testing"

	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

// Each persona acts with its own token and the role the product ships for
// it: a viewer (view, which aggregates mpijob-platform-viewer) follows a
// team's jobs but cannot submit one; a data scientist sees only the
// namespaces it is bound in; a platform admin (mpijob-platform-admin, not
// cluster-admin) lists every team's jobs.
func TestPersonas(t *testing.T) {
	teamA, teamB := env.CreateNamespace(t, "cli-team-a"), env.CreateNamespace(t, "cli-team-b")
	alice := dataScientist(t, teamA)
	bob := env.CreateUser(t, teamB, "bob", framework.DataScientistRole)
	victor := env.CreateUser(t, teamA, "victor", framework.ViewerRole)
	root := env.CreatePlatformAdmin(t, env.CreateNamespace(t, "cli-admins"), "root")

	if r := odh(t, alice, jobYAML(teamA, "a-job", 0), "mpijob", "create", "-f", "-"); r.code != 0 {
		t.Fatalf("alice creates in her namespace: %s", r)
	}
	if r := odh(t, bob, jobYAML(teamB, "b-job", 0), "mpijob", "create", "-f", "-"); r.code != 0 {
		t.Fatalf("bob creates in his namespace: %s", r)
	}

	// The viewer reads, and is told no (exit 4) when he writes.
	if r := odh(t, victor, "", "mpijob", "get", "a-job"); r.code != 0 || !strings.Contains(r.stdout, "a-job") {
		t.Errorf("victor gets a-job in his namespace (the kubeconfig's default): %s", r)
	}
	if r := odh(t, victor, "", "mpijob", "describe", "a-job"); r.code != 0 || !strings.Contains(r.stdout, "a-job") {
		t.Errorf("victor describes a-job: %s", r)
	}
	r := odh(t, victor, jobYAML(teamA, "v-job", 0), "mpijob", "create", "-f", "-")
	if r.code != 4 || !strings.Contains(r.stderr, "forbidden") {
		t.Errorf("victor creates a job: want exit 4 and forbidden: %s", r)
	}
	oneErrorLine(t, r)
	if r := odh(t, victor, "", "mpijob", "delete", "a-job"); r.code != 4 {
		t.Errorf("victor deletes a-job: want exit 4: %s", r)
	}

	// A data scientist sees her team only.
	if r := odh(t, alice, "", "mpijob", "get", "-n", teamB); r.code != 4 {
		t.Errorf("alice lists team B's jobs: want exit 4: %s", r)
	}
	if r := odh(t, alice, "", "mpijob", "get", "-A"); r.code != 4 {
		t.Errorf("alice lists every namespace: want exit 4: %s", r)
	}

	// The platform admin sees every team's jobs.
	r = odh(t, root, "", "mpijob", "get", "-A")
	if r.code != 0 {
		t.Fatalf("the platform admin lists every namespace: %s", r)
	}
	for _, want := range [][2]string{{teamA, "a-job"}, {teamB, "b-job"}} {
		found := false
		for _, line := range strings.Split(r.stdout, "\n") {
			f := strings.Fields(line)
			found = found || len(f) >= 2 && f[0] == want[0] && f[1] == want[1]
		}
		if !found {
			t.Errorf("get -A as the platform admin lacks %s/%s:\n%s", want[0], want[1], r.stdout)
		}
	}
}
