package backend

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
)

// FuzzJobQuery: any query string either gets a 400 with a reason or a
// page that holds at most perPage rows, every one matching the filters,
// in the query's order; nothing panics.
func FuzzJobQuery(f *testing.F) {
	for _, seed := range []string{
		"", "page=2&perPage=3", "sort=-gpus&status=Running", "type=MPIJob,PyTorchJob&search=Team",
		"since=2026-01-02T15:04:05Z", "page=9223372036854775807&perPage=500", "perPage=0", "sort=%2Dname&page=-1",
	} {
		f.Add(seed)
	}
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]JobSummary, 0, 40)
	for i := range 40 {
		rows = append(rows, JobSummary{
			Type: []string{"MPIJob", "PyTorchJob"}[i%2], Namespace: fmt.Sprintf("team-%d", i%3), Name: fmt.Sprintf("job-%02d", i),
			Status: mpijob.Phases[i%len(mpijob.Phases)], GPUs: int64(i % 5), Created: base.Add(time.Duration(i) * time.Hour),
		})
	}
	f.Fuzz(func(t *testing.T, raw string) {
		// The raw query as a server receives it (any bytes after "?").
		q, err := parseJobQuery(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/api/v1/trainingjobs", RawQuery: raw}})
		if err != nil {
			return
		}
		items := make([]*JobSummary, len(rows))
		for i := range rows {
			items[i] = &rows[i]
		}
		page, total := q.apply(items)
		if total < 0 || total > len(rows) || len(page) > total || q.PerPage > 0 && len(page) > q.PerPage {
			t.Fatalf("query %q: %d rows of %d, perPage %d", raw, len(page), total, q.PerPage)
		}
		for i := range page {
			if !q.match(&page[i]) {
				t.Fatalf("query %q: row %+v does not match", raw, page[i])
			}
			if i > 0 && q.compare(&page[i-1], &page[i]) > 0 {
				t.Fatalf("query %q: rows %d and %d out of order", raw, i-1, i)
			}
		}
	})
}
