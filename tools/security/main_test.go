package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// Two findings of one vulnerability (one called, one only imported) and
// one of another that is only imported, as govulncheck -format json
// streams them.
const stream = `{"config":{"scanner_name":"govulncheck"}}
{"osv":{"id":"GO-2026-0001","summary":"Panic in a parser"}}
{"osv":{"id":"GO-2026-0002","summary":"Leak in a client"}}
{"finding":{"osv":"GO-2026-0001","fixed_version":"v1.2.0","trace":[{"module":"example.com/parser","version":"v1.1.0","package":"example.com/parser"}]}}
{"finding":{"osv":"GO-2026-0001","fixed_version":"v1.2.0","trace":[{"module":"example.com/parser","version":"v1.1.0","package":"example.com/parser","function":"Parse","position":{"filename":"parser.go","line":10}},{"module":"github.com/mpijob-platform/mpijob-platform","package":"github.com/mpijob-platform/mpijob-platform/cli","function":"Run","position":{"filename":"cli/run.go","line":42}}]}}
{"finding":{"osv":"GO-2026-0002","fixed_version":"v0.3.0","trace":[{"module":"example.com/client","version":"v0.2.0"}]}}
`

func TestParseFoldsFindingsPerVulnerability(t *testing.T) {
	got, err := parse(strings.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d findings, want 2: %+v", len(got), got)
	}
	if f := got[0]; f.ID != "GO-2026-0001" || !f.Called || f.Fixed != "v1.2.0" || f.Found != "v1.1.0" || f.Summary != "Panic in a parser" ||
		f.Example != "cli/run.go:42 calls example.com/parser.Parse" {
		t.Errorf("first: %+v", f)
	}
	if f := got[1]; f.ID != "GO-2026-0002" || f.Called {
		t.Errorf("second: %+v, want only imported", f)
	}
}

func TestJudge(t *testing.T) {
	findings, err := parse(strings.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	cases := map[string]struct {
		allow      map[string]allowed
		wantFailed int
		wantOut    string
	}{
		"called and not allowed":   {nil, 1, "FAIL GO-2026-0001: Panic in a parser in example.com/parser v1.1.0, fixed in v1.2.0"},
		"allowed until tomorrow":   {map[string]allowed{"GO-2026-0001": {ID: "GO-2026-0001", Reason: "only test data", Reviewed: "2026-11-01", Expires: "2026-12-08"}}, 0, "allowed (only test data"},
		"allowed until today":      {map[string]allowed{"GO-2026-0001": {ID: "GO-2026-0001", Reason: "r", Reviewed: "2026-11-01", Expires: "2026-12-07"}}, 0, "allowed"},
		"allow-list entry expired": {map[string]allowed{"GO-2026-0001": {ID: "GO-2026-0001", Reason: "r", Reviewed: "2026-09-01", Expires: "2026-12-01"}}, 1, "expired on 2026-12-01"},
		"stale allow-list entry":   {map[string]allowed{"GO-2026-0002": {ID: "GO-2026-0002", Reason: "r", Reviewed: "2026-11-01", Expires: "2027-01-01"}}, 1, "GO-2026-0002 no longer matches a finding"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if n := judge(findings, tc.allow, now, &out); n != tc.wantFailed {
				t.Errorf("failed %d, want %d", n, tc.wantFailed)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("output lacks %q:\n%s", tc.wantOut, out.String())
			}
			if !strings.Contains(out.String(), "1 more in packages or modules it requires but does not call") {
				t.Errorf("output does not count the uncalled one:\n%s", out.String())
			}
		})
	}
}
