package observability_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/mpijob-platform/mpijob-platform/rules"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

// prometheus is a Prometheus server started for one test.
type prometheus struct {
	url string
	log string
}

// target is one scrape job of the test's Prometheus.
type target struct {
	job, url string
	labels   map[string]string
	// token, when set, authenticates to the target; caFile verifies an
	// HTTPS target, insecure skips that (the managers' self-signed
	// certificates, as the shipped ServiceMonitor does).
	token, caFile string
	insecure      bool
	honorLabels   bool
}

// startPrometheus runs Debian's prometheus on 127.0.0.1, scraping targets
// every second and evaluating the shipped rules every second.
func startPrometheus(t *testing.T, targets ...target) *prometheus {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not on PATH: install Debian's prometheus package (apt-get install prometheus), or run make test-deps, which make test runs first")
	}
	dir := t.TempDir()
	ruleFile := filepath.Join(dir, "rules.yaml")
	data, err := rules.RenderGroups("1s")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ruleFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var scrapes []map[string]any
	for _, tg := range targets {
		u, err := url.Parse(tg.url)
		if err != nil {
			t.Fatal(err)
		}
		sc := map[string]any{
			"job_name":       tg.job,
			"scheme":         u.Scheme,
			"metrics_path":   u.Path,
			"honor_labels":   tg.honorLabels,
			"static_configs": []any{map[string]any{"targets": []string{u.Host}, "labels": tg.labels}},
		}
		if tg.token != "" {
			sc["authorization"] = map[string]any{"credentials": tg.token}
		}
		if tg.caFile != "" {
			sc["tls_config"] = map[string]any{"ca_file": tg.caFile}
		}
		if tg.insecure {
			sc["tls_config"] = map[string]any{"insecure_skip_verify": true}
		}
		scrapes = append(scrapes, sc)
	}
	config, err := yaml.Marshal(map[string]any{
		"global":         map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"},
		"rule_files":     []string{ruleFile},
		"scrape_configs": scrapes,
	})
	if err != nil {
		t.Fatal(err)
	}
	configFile := filepath.Join(dir, "prometheus.yaml")
	if err := os.WriteFile(configFile, config, 0o644); err != nil {
		t.Fatal(err)
	}
	ports, err := cluster.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	p := &prometheus{url: "http://" + addr, log: filepath.Join(dir, "prometheus.log")}
	logFile, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+configFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logFile.Close()
		if t.Failed() {
			if out, err := os.ReadFile(p.log); err == nil {
				t.Logf("prometheus log:\n%s", out)
			}
			t.Logf("prometheus config:\n%s", config)
		}
	})
	return p
}

// apiResponse is the envelope of Prometheus' HTTP API.
type apiResponse struct {
	Status    string          `json:"status"`
	Error     string          `json:"error"`
	ErrorType string          `json:"errorType"`
	Data      json.RawMessage `json:"data"`
}

func (p *prometheus) get(ctx context.Context, path string, params url.Values, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+path+"?"+params.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r apiResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("%s: HTTP %d: %w", path, resp.StatusCode, err)
	}
	if r.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, r.ErrorType, r.Error)
	}
	return json.Unmarshal(r.Data, into)
}

// sample is one element of an instant vector.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s sample) value() float64 {
	v, _ := s.Value[1].(string)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0
	}
	return f
}

// query evaluates expr now.
func (p *prometheus) query(ctx context.Context, expr string) ([]sample, error) {
	var data struct {
		ResultType string   `json:"resultType"`
		Result     []sample `json:"result"`
	}
	if err := p.get(ctx, "/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("%s: result type %s, want vector", expr, data.ResultType)
	}
	return data.Result, nil
}

// scraperToken is a service account token allowed to read /metrics, as
// Kueue's metrics endpoint requires (the way a cluster's Prometheus scrapes
// it).
func scraperToken(t *testing.T, ctx context.Context, ns string) string {
	t.Helper()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader-" + ns},
		Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader-" + ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "prometheus"}},
	}
	if err := env.Client.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Client.Delete(context.Background(), binding)
		_ = env.Client.Delete(context.Background(), role)
	})
	return env.ServiceAccountToken(t, ns, "prometheus")
}

// panelQueries are the PromQL queries of every panel of a dashboard, with
// Grafana's variables read the way a dashboard user would see them: the
// rate interval wide enough to cover the test's events, every other
// variable at "All".
func panelQueries(t *testing.T, data []byte) map[string][]string {
	t.Helper()
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$__rate_interval", "10m", "${__rate_interval}", "10m", "$__interval", "1m", "$__range", "10m")
	out := map[string][]string{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out[p.Title] = append(out[p.Title], allValues(vars.Replace(tg.Expr)))
		}
	}
	return out
}

// variableQueries are the dashboard's query variables, each Grafana's
// label_values(selector, label) written as the PromQL that lists the same
// values: group by (label) (selector), with the other variables at "All".
func variableQueries(t *testing.T, data []byte) map[string]string {
	t.Helper()
	var d struct {
		Templating struct {
			List []struct {
				Type  string `json:"type"`
				Name  string `json:"name"`
				Query string `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		inner, ok := strings.CutPrefix(v.Query, "label_values(")
		comma := strings.LastIndex(inner, ",")
		if !ok || comma < 0 || !strings.HasSuffix(inner, ")") {
			t.Fatalf("variable %s: query %q is not label_values(selector, label)", v.Name, v.Query)
		}
		selector, label := inner[:comma], strings.TrimSpace(strings.TrimSuffix(inner[comma+1:], ")"))
		out[v.Name] = allValues(fmt.Sprintf("group by (%s) (%s)", label, selector))
	}
	return out
}

// allValues replaces the remaining $variable and ${variable} references
// with ".*", Grafana's "All" for a regex matcher.
func allValues(expr string) string {
	var b strings.Builder
	for i := 0; i < len(expr); i++ {
		if expr[i] != '$' {
			b.WriteByte(expr[i])
			continue
		}
		j := i + 1
		if j < len(expr) && expr[j] == '{' {
			end := strings.IndexByte(expr[j:], '}')
			if end < 0 {
				b.WriteString(expr[i:])
				break
			}
			i = j + end
		} else {
			for j < len(expr) && (expr[j] == '_' || expr[j] >= 'a' && expr[j] <= 'z' || expr[j] >= 'A' && expr[j] <= 'Z' || expr[j] >= '0' && expr[j] <= '9') {
				j++
			}
			i = j - 1
		}
		b.WriteString(".*")
	}
	return b.String()
}
