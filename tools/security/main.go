// Command security scans the project's dependencies for known
// vulnerabilities without reaching the internet (make security):
//
//   - Go: govulncheck (golang.org/x/vuln, pinned in this module) against a
//     database built here from the OSV files of the golang.org/x/vulndb
//     module (pinned too: its pseudo-version is the date of the advisory
//     data, printed with its age). The main module is scanned at symbol
//     level; a vulnerability whose code our code calls fails the scan
//     unless allowlist.yaml lists it with a reason and a date to look
//     again. The tool modules (the local cluster, linters) never ship and
//     are not scanned.
//   - npm and Python: no advisory source is reachable from here (the
//     registries' advisory endpoints answer 405 and 404), so they are
//     reported as not scanned, every time, never skipped silently.
//
// Run it from tools/security: go run . [-repo DIR] [-cache DIR].
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

const vulndbModule = "golang.org/x/vulndb"

func main() {
	repo := flag.String("repo", "../..", "the repository root")
	cache := flag.String("cache", "", "where the built database is kept (default <repo>/.cache/security, or $MPIJOB_CACHE_DIR/security)")
	flag.Parse()
	if err := run(*repo, *cache, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "security:", err)
		os.Exit(1)
	}
}

func run(repo, cache string, out io.Writer) error {
	repo, err := filepath.Abs(repo)
	if err != nil {
		return err
	}
	if cache == "" {
		cache = filepath.Join(repo, ".cache")
		if d := os.Getenv("MPIJOB_CACHE_DIR"); d != "" {
			cache = d
		}
		cache = filepath.Join(cache, "security")
	}
	toolDir := filepath.Join(repo, "tools", "security")
	db, err := ensureDB(toolDir, cache, out)
	if err != nil {
		return err
	}
	allow, err := loadAllowlist(filepath.Join(toolDir, "allowlist.yaml"))
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "go: govulncheck of the main module (symbol level), every package")
	findings, err := govulncheck(toolDir, repo, db)
	if err != nil {
		return err
	}
	failed := judge(findings, allow, time.Now(), out)
	fmt.Fprintln(out, "npm (console/frontend/package-lock.json): NOT SCANNED: the npm registry's advisory endpoint answers 405 here and no package it serves carries advisory data")
	fmt.Fprintln(out, "python (sdk/python): NOT SCANNED: PyPI's JSON API answers 404 here (pip-audit's source) and no package it serves carries current advisory data")
	if failed > 0 {
		return fmt.Errorf("%d vulnerabilities reach our code; upgrade the module (or Go) to the fixed version, or, for a false positive, add it to tools/security/allowlist.yaml with a reason and a date to look again", failed)
	}
	return nil
}

// pseudoDate reads the commit time out of a pseudo-version
// (v0.0.0-20261105234957-e22db6528018).
var pseudoDate = regexp.MustCompile(`-(\d{14})-[0-9a-f]{12}$`)

// ensureDB builds govulncheck's database from the pinned vulndb module's
// OSV files, once per version, and says how fresh it is.
func ensureDB(toolDir, cache string, out io.Writer) (string, error) {
	dir, version, err := moduleDir(toolDir, vulndbModule)
	if err != nil {
		return "", err
	}
	osv := filepath.Join(dir, "data", "osv")
	entries, err := filepath.Glob(filepath.Join(osv, "*.json"))
	if err != nil || len(entries) == 0 {
		return "", fmt.Errorf("no OSV files in %s (%v)", osv, err)
	}
	fresh := "date unknown"
	if m := pseudoDate.FindStringSubmatch(version); m != nil {
		if t, err := time.Parse("20060102150405", m[1]); err == nil {
			fresh = fmt.Sprintf("of %s, %d days old", t.Format("2006-01-02"), int(time.Since(t).Hours()/24))
		}
	}
	fmt.Fprintf(out, "go: advisory data %s@%s (%s), %d entries\n", vulndbModule, version, fresh, len(entries))
	db := filepath.Join(cache, "vulndb-"+version)
	if _, err := os.Stat(filepath.Join(db, "index", "db.json")); err == nil {
		return db, nil
	}
	tmp := db + ".partial"
	_ = os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
		return "", err
	}
	if err := goTool(toolDir, "", io.Discard, "indexdb", "-vulns", osv, "-out", tmp); err != nil {
		return "", fmt.Errorf("building the vulnerability database: %w", err)
	}
	if err := os.Rename(tmp, db); err != nil {
		return "", err
	}
	return db, nil
}

func moduleDir(toolDir, module string) (dir, version string, err error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}} {{.Version}}", module)
	cmd.Dir = toolDir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	o, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("go list -m %s: %w: %s", module, err, stderr.String())
	}
	fields := strings.Fields(string(o))
	if len(fields) != 2 || fields[0] == "" {
		// Not downloaded yet: go list prints no Dir.
		dl := exec.Command("go", "mod", "download", module)
		dl.Dir, dl.Env = toolDir, cmd.Env
		if o, err := dl.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("go mod download %s: %w: %s", module, err, o)
		}
		return moduleDir(toolDir, module)
	}
	return fields[0], fields[1], nil
}

// goTool runs a tool pinned in tools/security's go.mod, in dir (the tool
// module when empty).
func goTool(toolDir, dir string, stdout io.Writer, args ...string) error {
	cmd := exec.Command("go", append([]string{"tool", "-modfile=" + filepath.Join(toolDir, "go.mod")}, args...)...)
	cmd.Dir = dir
	if dir == "" {
		cmd.Dir = toolDir
	}
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go tool %s: %w: %s", args[0], err, stderr.String())
	}
	return nil
}

// finding is one vulnerability of the scan: called says our code calls
// its vulnerable symbols (not just imports the package).
type finding struct {
	ID, Summary, Module, Found, Fixed string
	Called                            bool
	Example                           string
}

// The parts of govulncheck's JSON stream (-format json) read here.
type message struct {
	OSV *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
	Finding *struct {
		OSV          string `json:"osv"`
		FixedVersion string `json:"fixed_version"`
		Trace        []struct {
			Module   string `json:"module"`
			Version  string `json:"version"`
			Package  string `json:"package"`
			Function string `json:"function"`
			Receiver string `json:"receiver"`
			Position *struct {
				Filename string `json:"filename"`
				Line     int    `json:"line"`
			} `json:"position"`
		} `json:"trace"`
	} `json:"finding"`
}

func govulncheck(toolDir, repo, db string) ([]finding, error) {
	var stdout bytes.Buffer
	if err := goTool(toolDir, repo, &stdout, "govulncheck", "-db", "file://"+db, "-format", "json", "./..."); err != nil {
		return nil, err
	}
	return parse(&stdout)
}

// parse folds govulncheck's stream into one finding per vulnerability.
func parse(r io.Reader) ([]finding, error) {
	byID := map[string]*finding{}
	summaries := map[string]string{}
	dec := json.NewDecoder(bufio.NewReader(r))
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("reading govulncheck's output: %w", err)
		}
		if m.OSV != nil {
			summaries[m.OSV.ID] = m.OSV.Summary
		}
		if m.Finding == nil || len(m.Finding.Trace) == 0 {
			continue
		}
		f := byID[m.Finding.OSV]
		if f == nil {
			top := m.Finding.Trace[0]
			f = &finding{ID: m.Finding.OSV, Module: top.Module, Found: top.Version, Fixed: m.Finding.FixedVersion}
			byID[f.ID] = f
		}
		if top := m.Finding.Trace[0]; top.Function != "" && !f.Called {
			f.Called = true
			last := m.Finding.Trace[len(m.Finding.Trace)-1]
			if last.Position != nil {
				f.Example = fmt.Sprintf("%s:%d calls %s.%s", last.Position.Filename, last.Position.Line, top.Package, top.Function)
			}
		}
	}
	out := make([]finding, 0, len(byID))
	for _, f := range byID {
		f.Summary = summaries[f.ID]
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// allowed is a reviewed false positive.
type allowed struct {
	ID string `json:"id"`
	// Reason says why our code is not affected.
	Reason string `json:"reason"`
	// Reviewed is when someone checked; Expires when to check again (at
	// most a quarter later): an expired entry fails the scan.
	Reviewed string `json:"reviewed"`
	Expires  string `json:"expires"`
}

func loadAllowlist(path string) (map[string]allowed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var list []allowed
	if err := yaml.UnmarshalStrict(data, &list); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[string]allowed{}
	for _, a := range list {
		if a.ID == "" || a.Reason == "" || a.Reviewed == "" || a.Expires == "" {
			return nil, fmt.Errorf("%s: entry %+v needs id, reason, reviewed and expires", path, a)
		}
		for _, d := range []string{a.Reviewed, a.Expires} {
			if _, err := time.Parse(time.DateOnly, d); err != nil {
				return nil, fmt.Errorf("%s: %s: date %q: %w", path, a.ID, d, err)
			}
		}
		out[a.ID] = a
	}
	return out, nil
}

// judge prints the findings and counts those that fail the scan: called,
// and not allow-listed (or allow-listed past its date).
func judge(findings []finding, allow map[string]allowed, now time.Time, out io.Writer) int {
	failed, imported := 0, 0
	for _, f := range findings {
		if !f.Called {
			imported++
			continue
		}
		where := f.Module
		if where == "stdlib" || where == "" {
			where = "the Go standard library"
		}
		verdict := "FAIL"
		if a, ok := allow[f.ID]; ok {
			if exp, _ := time.Parse(time.DateOnly, a.Expires); now.Before(exp.AddDate(0, 0, 1)) {
				verdict = "allowed (" + a.Reason + "; reviewed " + a.Reviewed + ", again by " + a.Expires + ")"
			} else {
				verdict = "FAIL (its allow-list entry expired on " + a.Expires + ")"
			}
		}
		if strings.HasPrefix(verdict, "FAIL") {
			failed++
		}
		fixed := f.Fixed
		if fixed == "" {
			fixed = "no fix yet"
		}
		fmt.Fprintf(out, "  %s %s: %s in %s %s, fixed in %s; e.g. %s\n", verdict, f.ID, f.Summary, where, f.Found, fixed, f.Example)
	}
	for id := range allow {
		if !calledIn(findings, id) {
			fmt.Fprintf(out, "  note: allow-list entry %s no longer matches a finding; remove it\n", id)
		}
	}
	fmt.Fprintf(out, "go: %d vulnerabilities our code calls (%d failing), %d more in packages or modules it requires but does not call\n", len(findings)-imported, failed, imported)
	return failed
}

func calledIn(findings []finding, id string) bool {
	for _, f := range findings {
		if f.ID == id && f.Called {
			return true
		}
	}
	return false
}
