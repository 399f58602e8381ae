package framework

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// auditPolicy records every request made with a ServiceAccount's
// credentials outside kube-system (the product's identities and the test
// users'), with its response code: enough to find each 403 the product
// met, and each rule it used.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: None
  userGroups: ["system:serviceaccounts:kube-system"]
- level: Metadata
  userGroups: ["system:serviceaccounts"]
- level: None
`

// auditArgs writes the audit policy into dir and returns the apiserver
// flags that log to dir/audit.log, and that path.
func auditArgs(dir string) ([]string, string, error) {
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
		return nil, "", err
	}
	log := filepath.Join(dir, "audit.log")
	return []string{
		"--audit-policy-file=" + policy, "--audit-log-path=" + log,
		"--audit-log-format=json", "--audit-log-mode=blocking", "--audit-log-maxsize=0",
	}, log, nil
}

// AuditEvent is what the framework reads of one audit record.
type AuditEvent struct {
	Verb       string `json:"verb"`
	RequestURI string `json:"requestURI"`
	UserAgent  string `json:"userAgent"`
	// Received is when the API server received the request.
	Received time.Time `json:"requestReceivedTimestamp"`
	User     struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		APIGroup    string `json:"apiGroup"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"responseStatus"`
}

// ReadAudit returns the audit records of the given users (all users when
// none are given).
func ReadAudit(path string, users ...string) ([]AuditEvent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []AuditEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(users) == 0 || slices.Contains(users, ev.User.Username) {
			out = append(out, ev)
		}
	}
	return out, sc.Err()
}

// forbiddenRequests lists, one line each, the requests of the product's
// users that the apiserver answered 403: a permission the product needs
// and does not ship.
func forbiddenRequests(path string, users []string, excused func(time.Time) bool) ([]string, error) {
	if len(users) == 0 {
		return nil, nil
	}
	events, err := ReadAudit(path, users...)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, ev := range events {
		if ev.ResponseStatus == nil || ev.ResponseStatus.Code != 403 || notAPermission(ev.ResponseStatus.Message) || excused(ev.Received) {
			continue
		}
		what := ev.RequestURI
		if r := ev.ObjectRef; r != nil {
			res := r.Resource
			if r.Subresource != "" {
				res += "/" + r.Subresource
			}
			if r.APIGroup != "" {
				res += "." + r.APIGroup
			}
			what = fmt.Sprintf("%s %s (namespace %q, name %q)", ev.Verb, res, r.Namespace, r.Name)
		}
		seen[fmt.Sprintf("%s: %s: %s", ev.User.Username, what, strings.TrimSpace(ev.ResponseStatus.Message))] = true
	}
	lines := make([]string, 0, len(seen))
	for l := range seen {
		lines = append(lines, l)
	}
	sort.Strings(lines)
	return lines, nil
}

// notAPermission tells the 403s that are the namespace's state at work, not
// a permission the product lacks: a full ResourceQuota, and a namespace
// being deleted (a test's cleanup while the controller still reacts).
func notAPermission(message string) bool {
	return strings.Contains(message, "exceeded quota") || strings.Contains(message, "because it is being terminated")
}

// Exercised maps a product ServiceAccount's name to the "<group>/<resource>"
// it used (core for the core group) and the verbs it used them with, from
// requests the apiserver authorized.
type Exercised map[string]map[string][]string

// exercised reads what the product's users did in one cluster.
func exercised(path string, users []string) (Exercised, error) {
	out := Exercised{}
	if len(users) == 0 {
		return out, nil
	}
	events, err := ReadAudit(path, users...)
	if err != nil {
		return nil, err
	}
	for _, ev := range events {
		r := ev.ObjectRef
		if r == nil || ev.ResponseStatus == nil || ev.ResponseStatus.Code == 401 || ev.ResponseStatus.Code == 403 {
			continue
		}
		group := r.APIGroup
		if group == "" {
			group = "core"
		}
		res := group + "/" + r.Resource
		if r.Subresource != "" {
			res += "/" + r.Subresource
		}
		sa := ev.User.Username[strings.LastIndex(ev.User.Username, ":")+1:]
		if out[sa] == nil {
			out[sa] = map[string][]string{}
		}
		if !slices.Contains(out[sa][res], ev.Verb) {
			out[sa][res] = append(out[sa][res], ev.Verb)
			sort.Strings(out[sa][res])
		}
	}
	return out, nil
}

// ExercisedDir is where each e2e package records, under the cache, what
// the product's ServiceAccounts did (`go run ./tools/permissions record`
// merges the records into config/rbac/exercised.yaml).
func ExercisedDir(cache string) string { return filepath.Join(cache, "permissions") }

// recordExercised writes this package's record as <package>.json.
func recordExercised(cache, auditLog string, users []string) error {
	ex, err := exercised(auditLog, users)
	if err != nil || len(ex) == 0 {
		return err
	}
	data, err := json.MarshalIndent(ex, "", "  ")
	if err != nil {
		return err
	}
	dir := ExercisedDir(cache)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test") + ".json"
	return os.WriteFile(filepath.Join(dir, name), data, 0o644)
}
