// Command permissions writes docs/reference/permissions.md: every rule the
// product's ServiceAccounts are granted (as the chart, the bundle and the
// platform install them), why (config/rbac/reasons.yaml) and what an e2e
// run of the product used (config/rbac/exercised.yaml).
//
//	go run ./tools/permissions          # write the page (make generate)
//	go run ./tools/permissions record   # after make test: merge the e2e suites' records into exercised.yaml
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/mpijob-platform/mpijob-platform/operator/pkg/identity"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
	"github.com/mpijob-platform/mpijob-platform/tools/packaging"
)

const (
	reasonsFile   = "config/rbac/reasons.yaml"
	exercisedFile = "config/rbac/exercised.yaml"
	pageFile      = "docs/reference/permissions.md"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "permissions:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	repo, err := cluster.FindRepoRoot()
	if err != nil {
		return err
	}
	switch {
	case len(args) == 0:
		page, err := render(repo)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(repo, pageFile), page, 0o644)
	case len(args) == 1 && args[0] == "record":
		return record(repo)
	default:
		return fmt.Errorf("usage: go run ./tools/permissions [record]")
	}
}

// exercised is ServiceAccount -> "<group>/<resource>" -> verbs, as the e2e
// framework records it (test/framework.Exercised).
type exercised map[string]map[string][]string

// record merges the e2e suites' records (under the cache) into
// config/rbac/exercised.yaml.
func record(repo string) error {
	dir := filepath.Join(cluster.DefaultCacheDir(repo), "permissions")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no records in %s: run the e2e suites first (make test)", dir)
	}
	merged := exercised{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var one exercised
		if err := json.Unmarshal(data, &one); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for sa, byRes := range one {
			if merged[sa] == nil {
				merged[sa] = map[string][]string{}
			}
			for res, verbs := range byRes {
				merged[sa][res] = union(merged[sa][res], verbs)
			}
		}
	}
	data, err := yaml.Marshal(merged)
	if err != nil {
		return err
	}
	header := "# What the product's ServiceAccounts did in one e2e run of every suite (make test), by \"<group>/<resource>\":\n" +
		"# written by `go run ./tools/permissions record` from the apiserver's audit logs; docs/reference/permissions.md shows it.\n"
	fmt.Printf("recorded %d suites into %s\n", len(files), exercisedFile)
	return os.WriteFile(filepath.Join(repo, exercisedFile), append([]byte(header), data...), 0o644)
}

func union(a, b []string) []string {
	set := map[string]bool{}
	for _, v := range append(append([]string{}, a...), b...) {
		set[v] = true
	}
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// grant is one role of one ServiceAccount.
type grant struct {
	kind, name string // ClusterRole or Role (in the platform namespace)
	rules      []rbacv1.PolicyRule
}

type account struct {
	name, what string
	grants     []grant
}

// accounts are the product's ServiceAccounts with what the product grants
// them, read from the same code the chart, the bundle and the platform use.
func accounts() ([]account, error) {
	op, err := packaging.NewOperator(packaging.DefaultNamespace, packaging.DefaultImage)
	if err != nil {
		return nil, err
	}
	ctrl, err := identity.NewController(packaging.DefaultNamespace)
	if err != nil {
		return nil, err
	}
	return []account{
		{name: op.ServiceAccount.Name, what: "the platform operator (`--role=platform`), installed by the chart, the bundle or the kustomize bases", grants: []grant{
			{"ClusterRole", op.ClusterRole.Name, op.ClusterRole.Rules},
			{"Role", op.Role.Name, op.Role.Rules},
		}},
		{name: ctrl.ServiceAccount.Name, what: "the MPIJob controller and its webhooks (`--role=mpijob-controller`), created by the platform", grants: []grant{
			{"ClusterRole", ctrl.ClusterRole.Name, ctrl.ClusterRole.Rules},
			{"Role", ctrl.Role.Name, ctrl.Role.Rules},
		}},
	}, nil
}

// notRequests are permissions the apiserver checks without a request of
// that verb: binding a role, and owner references with blockOwnerDeletion.
func notRequest(resource, verb string) bool {
	return verb == "bind" || verb == "escalate" || strings.HasSuffix(resource, "/finalizers") || strings.HasSuffix(resource, "/custom-host")
}

func render(repo string) ([]byte, error) {
	var reasons map[string]map[string]string
	if err := readYAML(filepath.Join(repo, reasonsFile), &reasons); err != nil {
		return nil, err
	}
	ex := exercised{}
	if err := readYAML(filepath.Join(repo, exercisedFile), &ex); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	accts, err := accounts()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("<!-- Generated by `go run ./tools/permissions` (make generate) from the product's roles, " + reasonsFile + " and " + exercisedFile + "; do not edit. -->\n")
	b.WriteString("# Permissions of the product's ServiceAccounts\n\n")
	b.WriteString("Every rule the product grants its own ServiceAccounts, why, and which verbs one e2e run of every suite used\n")
	b.WriteString("(the e2e suites run each part as its ServiceAccount and record its requests from the apiserver's audit log;\n")
	b.WriteString("`go run ./tools/permissions record` after `make test` refreshes the record). A request refused with 403 fails the\n")
	b.WriteString("suite. Verbs marked *checked* are authorization checks without a request of their own (binding a role, owner\n")
	b.WriteString("references with blockOwnerDeletion), so no audit record can show them; *via watch*: informers list through a\n")
	b.WriteString("streaming watch and fall back to a plain list on apiservers without it; *via apply*: server-side apply creates\n")
	b.WriteString("objects with a patch, which the apiserver authorizes as create. Verbs marked *unused* were not needed by any\n")
	b.WriteString("suite: reads the informer cache answers (get), writes of optional dependencies the dev cluster lacks, or leader\n")
	b.WriteString("election (the e2e suites run one replica); the reason says which. The console's ServiceAccount (`mpijob-console`)\n")
	b.WriteString("is granted only list and watch of `mpijobs.kubeflow.org` (the shipped ClusterRole `mpijob-platform-console`), for its\n")
	b.WriteString("job index; everything else it does with its callers' tokens (see [console.md](../console.md#identity-and-isolation)).\n")
	b.WriteString("See also [install.md](../operations/install.md#permissions).\n")
	var missing []string
	for _, a := range accts {
		fmt.Fprintf(&b, "\n## `%s`\n\n%s.\n", a.name, capitalize(a.what))
		for _, g := range a.grants {
			where := "cluster-wide"
			if g.kind == "Role" {
				where = "in the platform namespace"
			}
			fmt.Fprintf(&b, "\n### %s `%s` (%s)\n\n", g.kind, g.name, where)
			b.WriteString("| resource | verbs | names | why |\n|---|---|---|---|\n")
			for _, r := range g.rules {
				for _, res := range resources(r) {
					why, ok := reasons[a.name][res]
					if !ok {
						missing = append(missing, a.name+": "+res)
					}
					names := strings.Join(r.ResourceNames, ", ")
					if names == "" {
						names = "all"
					}
					fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", res, verbs(res, r.Verbs, ex[a.name][res]), names, why)
				}
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("%s has no reason for: %s", reasonsFile, strings.Join(missing, "; "))
	}
	return b.Bytes(), nil
}

// resources are a rule's "<group>/<resource>" keys.
func resources(r rbacv1.PolicyRule) []string {
	var out []string
	for _, g := range r.APIGroups {
		if g == "" {
			g = "core"
		}
		for _, res := range r.Resources {
			out = append(out, g+"/"+res)
		}
	}
	return out
}

func verbs(resource string, granted, used []string) string {
	parts := make([]string, 0, len(granted))
	for _, v := range granted {
		switch {
		case contains(used, v):
			parts = append(parts, v)
		case notRequest(resource, v):
			parts = append(parts, v+" *checked*")
		// Informers list through a watch (client-go's streaming lists), and
		// falls back to a plain list where the apiserver has none.
		case v == "list" && contains(used, "watch"):
			parts = append(parts, v+" *via watch*")
		// Server-side apply creates with a patch, authorized as create.
		case v == "create" && contains(used, "patch"):
			parts = append(parts, v+" *via apply*")
		default:
			parts = append(parts, v+" *unused*")
		}
	}
	return strings.Join(parts, ", ")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func readYAML(path string, into any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return yaml.UnmarshalStrict(data, into)
}
