// Package dashboards holds the platform's Grafana dashboards: Go sources
// built with grafana-foundation-sdk (a maintained, typed builder generated
// from Grafana's own schemas, unlike grafana-tools/sdk whose last change
// dates from 2022), and the JSON they generate, committed next to them and
// embedded for the platform's monitoring component. `make generate`
// rewrites the JSON (go run ./tools/dashboards). The dashboards use
// Grafana's classic JSON model, which Grafana 10 and later, the dashboard
// sidecar and grafana-operator all load (the SDK's v2 schema needs
// Grafana 12).
package dashboards

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// datasource is the dashboards' "datasource" variable: every panel and
// query reads the Prometheus chosen there.
var datasource = common.DataSourceRef{Type: ptr("prometheus"), Uid: ptr("${datasource}")}

func ptr[T any](v T) *T { return &v }

// datasourceVariable picks the Prometheus data source.
func datasourceVariable() *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus")
}

// labelVariable offers the values of label on the series selector selects,
// several at once, "All" by default (as the regex .*); panels filter with
// label=~"$name".
func labelVariable(name, title, selector, label string) *dashboard.QueryVariableBuilder {
	q := fmt.Sprintf("label_values(%s, %s)", selector, label)
	return dashboard.NewQueryVariableBuilder(name).
		Label(title).
		Datasource(datasource).
		Query(dashboard.StringOrMap{String: &q}).
		Definition(q).
		Multi(true).
		IncludeAll(true).
		AllValue(".*").
		Current(dashboard.VariableOption{Text: dashboard.StringOrArrayOfString{String: ptr("All")}, Value: dashboard.StringOrArrayOfString{String: ptr("$__all")}}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalCaseInsensitiveAsc)
}

// Generated holds the generated <uid>.json files.
//
//go:embed *.json
var Generated embed.FS

// Builders returns every dashboard, by file name (its uid).
func Builders() map[string]func() (dashboard.Dashboard, error) {
	return map[string]func() (dashboard.Dashboard, error){
		OverviewUID: Overview,
		GPUUID:      GPU,
		QuotaUID:    Quota,
		ScalingUID:  Scaling,
	}
}

// Render builds one dashboard as indented JSON with a trailing newline.
func Render(build func() (dashboard.Dashboard, error)) ([]byte, error) {
	d, err := build()
	if err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// Files returns the generated dashboards by uid, sorted by uid.
func Files() ([]string, map[string][]byte, error) {
	entries, err := fs.Glob(Generated, "*.json")
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(entries)
	out := map[string][]byte{}
	var uids []string
	for _, e := range entries {
		data, err := Generated.ReadFile(e)
		if err != nil {
			return nil, nil, err
		}
		uid := strings.TrimSuffix(e, ".json")
		if _, ok := Builders()[uid]; !ok {
			return nil, nil, fmt.Errorf("%s has no Go source: remove it or add its builder", e)
		}
		out[uid] = data
		uids = append(uids, uid)
	}
	return uids, out, nil
}
