package rules

import (
	"regexp"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/mpijob-platform/mpijob-platform/dashboards"
)

var promqlParser = parser.NewParser(parser.Options{})

var dashboardExpr = regexp.MustCompile(`"expr": "((?:[^"\\]|\\.)*)"`)

// Expressions returns every PromQL expression the platform ships: its
// recording rules, alerts and dashboard queries ($__rate_interval read as 5m).
func Expressions() ([]string, error) {
	var out []string
	for _, g := range PrometheusRule("").Spec.Groups {
		for _, r := range g.Rules {
			out = append(out, r.Expr.String())
		}
	}
	_, files, err := dashboards.Files()
	if err != nil {
		return nil, err
	}
	for _, data := range files {
		for _, m := range dashboardExpr.FindAllSubmatch(data, -1) {
			out = append(out, strings.NewReplacer(`\"`, `"`, `\\`, `\`, "$__rate_interval", "5m").Replace(string(m[1])))
		}
	}
	return out, nil
}

// MetricNames returns the metric names the shipped expressions select,
// sorted, without the names recording rules themselves produce.
func MetricNames() ([]string, error) {
	exprs, err := Expressions()
	if err != nil {
		return nil, err
	}
	recorded := map[string]bool{}
	for _, g := range PrometheusRule("").Spec.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
		}
	}
	seen := map[string]bool{}
	for _, e := range exprs {
		expr, err := promqlParser.ParseExpr(e)
		if err != nil {
			return nil, err
		}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok && vs.Name != "" && !recorded[vs.Name] {
				seen[vs.Name] = true
			}
			return nil
		})
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}
