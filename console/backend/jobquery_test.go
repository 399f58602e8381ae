package backend

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
)

func TestParseJobQuery(t *testing.T) {
	since := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	cases := map[string]struct {
		query   string
		want    jobQuery
		wantErr string
	}{
		"defaults: every job, newest first": {query: "", want: jobQuery{Types: map[string]bool{}, Sort: "-created", Page: 1}},
		"everything": {
			query: "type=MPIJob,%20PyTorchJob&status=Running&since=2026-01-02T15:04:05Z&search=%20Bert%20&sort=name&page=3&perPage=20",
			want:  jobQuery{Types: map[string]bool{"mpijob": true, "pytorchjob": true}, Status: mpijob.PhaseRunning, Since: since, Search: "bert", Sort: "name", Page: 3, PerPage: 20},
		},
		"unknown status":  {query: "status=Done", wantErr: "status must be one of"},
		"bad since":       {query: "since=yesterday", wantErr: "RFC 3339"},
		"unknown sort":    {query: "sort=-age", wantErr: "sort must be one of"},
		"page 0":          {query: "page=0", wantErr: "page must be an integer from 1"},
		"perPage 0":       {query: "perPage=0", wantErr: "perPage must be an integer from 1"},
		"perPage too big": {query: "perPage=501", wantErr: "at most 500"},
		"perPage word":    {query: "perPage=ten", wantErr: `not "ten"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := parseJobQuery(httptest.NewRequest("GET", "/api/v1/trainingjobs?"+tc.query, nil))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one holding %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJobQueryApply(t *testing.T) {
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	row := func(ns, name string, hours int, status mpijob.Phase, gpus int64) *JobSummary {
		return &JobSummary{Type: "MPIJob", Namespace: ns, Name: name, Created: base.Add(time.Duration(hours) * time.Hour), Status: status, GPUs: gpus}
	}
	rows := func() []*JobSummary {
		return []*JobSummary{
			row("a", "bert", 1, mpijob.PhaseRunning, 8),
			row("a", "gpt", 3, mpijob.PhaseQueued, 16),
			row("b", "bert", 3, mpijob.PhaseSucceeded, 8), // same time as a/gpt: namespace, then name
			row("b", "resnet", 2, mpijob.PhaseRunning, 4),
			{Type: "PyTorchJob", Namespace: "a", Name: "vit", Created: base, Status: mpijob.PhaseRunning},
		}
	}
	names := func(items []JobSummary) []string {
		out := []string{}
		for _, s := range items {
			out = append(out, s.Namespace+"/"+s.Name)
		}
		return out
	}
	cases := map[string]struct {
		q         jobQuery
		want      []string
		wantTotal int
	}{
		"every job, newest first, ties by namespace and name": {
			q: jobQuery{Sort: "-created", Page: 1}, want: []string{"a/gpt", "b/bert", "b/resnet", "a/bert", "a/vit"}, wantTotal: 5,
		},
		"oldest first": {q: jobQuery{Sort: "created", Page: 1}, want: []string{"a/vit", "a/bert", "b/resnet", "a/gpt", "b/bert"}, wantTotal: 5},
		"by name, page 2 of 2": {
			q: jobQuery{Sort: "name", Page: 2, PerPage: 2}, want: []string{"a/gpt", "b/resnet"}, wantTotal: 5,
		},
		"a page past the end is empty": {q: jobQuery{Sort: "name", Page: 9, PerPage: 2}, want: []string{}, wantTotal: 5},
		"most GPUs first":              {q: jobQuery{Sort: "-gpus", Page: 1, PerPage: 2}, want: []string{"a/gpt", "a/bert"}, wantTotal: 5},
		"status":                       {q: jobQuery{Sort: "name", Status: mpijob.PhaseRunning, Page: 1}, want: []string{"a/bert", "b/resnet", "a/vit"}, wantTotal: 3},
		"kind":                         {q: jobQuery{Sort: "name", Types: map[string]bool{"pytorchjob": true}, Page: 1}, want: []string{"a/vit"}, wantTotal: 1},
		"search name or namespace": {
			q: jobQuery{Sort: "name", Search: "b", Page: 1}, want: []string{"a/bert", "b/bert", "b/resnet"}, wantTotal: 3,
		},
		"since": {q: jobQuery{Sort: "name", Since: base.Add(2 * time.Hour), Page: 1}, want: []string{"b/bert", "a/gpt", "b/resnet"}, wantTotal: 3},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			page, total := tc.q.apply(rows())
			if diff := cmp.Diff(tc.want, names(page)); diff != "" || total != tc.wantTotal {
				t.Errorf("page (-want +got):\n%s\ntotal %d, want %d", diff, total, tc.wantTotal)
			}
		})
	}
}
