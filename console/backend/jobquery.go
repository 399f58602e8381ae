package backend

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
)

// jobQuery is what the list page asks of the unified list: the jobs that
// match its filters, sorted, one page of them. Paging, filtering and
// sorting happen here, so that a browser receives one page, whatever the
// number of jobs.
type jobQuery struct {
	// Types are the kinds wanted, lower case; empty: every kind.
	Types map[string]bool
	// Status is the phase wanted; empty: any.
	Status mpijob.Phase
	// Since keeps jobs created at or after it; zero: any time.
	Since time.Time
	// Search keeps jobs whose name or namespace holds it (lower case).
	Search string
	// Sort is a sort key, "-" first for descending.
	Sort string
	// Page counts from 1; PerPage 0 means every matching job.
	Page, PerPage int
}

// sortKeys are the orders the list offers. Ties are broken by namespace,
// then name, so that pages never overlap.
var sortKeys = map[string]func(a, b *JobSummary) int{
	"created": func(a, b *JobSummary) int { return a.Created.Compare(b.Created) },
	"name":    func(a, b *JobSummary) int { return strings.Compare(a.Name, b.Name) },
	"status":  func(a, b *JobSummary) int { return strings.Compare(string(a.Status), string(b.Status)) },
	"gpus":    func(a, b *JobSummary) int { return cmp.Compare(a.GPUs, b.GPUs) },
}

// newestFirst is the lists' default order.
var newestFirst = jobQuery{Sort: "-created"}

const maxPerPage = 500

// parseJobQuery reads ?type=MPIJob,PyTorchJob&status=Running&since=RFC3339
// &search=text&sort=-created&page=1&perPage=20. Without perPage every
// matching job is returned, as before paging existed.
func parseJobQuery(r *http.Request) (jobQuery, error) {
	v := r.URL.Query()
	q := jobQuery{Types: map[string]bool{}, Sort: "-created", Page: 1}
	for _, t := range strings.Split(v.Get("type"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			q.Types[strings.ToLower(t)] = true
		}
	}
	if s := v.Get("status"); s != "" {
		if !slices.Contains(mpijob.Phases, mpijob.Phase(s)) {
			return q, fmt.Errorf("status must be one of %v, not %q", mpijob.Phases, s)
		}
		q.Status = mpijob.Phase(s)
	}
	if s := v.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return q, fmt.Errorf("since must be an RFC 3339 time such as 2026-01-02T15:04:05Z, not %q", s)
		}
		q.Since = t
	}
	q.Search = strings.ToLower(strings.TrimSpace(v.Get("search")))
	if s := v.Get("sort"); s != "" {
		if _, ok := sortKeys[strings.TrimPrefix(s, "-")]; !ok {
			return q, fmt.Errorf("sort must be one of created, name, status, gpus (with - first for descending), not %q", s)
		}
		q.Sort = s
	}
	for _, p := range []struct {
		name string
		to   *int
		min  int
	}{{"page", &q.Page, 1}, {"perPage", &q.PerPage, 1}} {
		s := v.Get(p.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < p.min || (p.name == "perPage" && n > maxPerPage) {
			return q, fmt.Errorf("%s must be an integer from %d (perPage at most %d), not %q", p.name, p.min, maxPerPage, s)
		}
		*p.to = n
	}
	return q, nil
}

// wants says whether the query lists a kind at all.
func (q jobQuery) wants(kind string) bool { return len(q.Types) == 0 || q.Types[strings.ToLower(kind)] }

func (q jobQuery) match(s *JobSummary) bool {
	return q.wants(s.Type) &&
		(q.Status == "" || s.Status == q.Status) &&
		(q.Since.IsZero() || !s.Created.Before(q.Since)) &&
		(q.Search == "" || strings.Contains(strings.ToLower(s.Name), q.Search) || strings.Contains(strings.ToLower(s.Namespace), q.Search))
}

// compare orders two rows by the query's sort key, then by namespace,
// name and kind, so that pages never overlap.
func (q jobQuery) compare(a, b *JobSummary) int {
	c := sortKeys[strings.TrimPrefix(q.Sort, "-")](a, b)
	if strings.HasPrefix(q.Sort, "-") {
		c = -c
	}
	if c != 0 {
		return c
	}
	if c = strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	if c = strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return strings.Compare(a.Type, b.Type)
}

// apply filters, sorts and pages items (reordering them in place): the
// page and how many jobs matched. It sorts pointers: 50,000 rows sort in
// milliseconds.
func (q jobQuery) apply(items []*JobSummary) (page []JobSummary, total int) {
	matched := items[:0]
	for _, it := range items {
		if q.match(it) {
			matched = append(matched, it)
		}
	}
	slices.SortFunc(matched, q.compare)
	from, to := 0, len(matched)
	if q.PerPage > 0 {
		// A page past the end is empty; the comparison keeps a huge
		// page number from overflowing the product.
		from = len(matched)
		if q.Page-1 <= len(matched)/q.PerPage {
			from = min((q.Page-1)*q.PerPage, len(matched))
		}
		to = min(from+q.PerPage, len(matched))
	}
	page = make([]JobSummary, 0, to-from)
	for _, it := range matched[from:to] {
		page = append(page, *it)
	}
	return page, len(matched)
}
