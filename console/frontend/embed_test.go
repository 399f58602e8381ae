package frontend

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/fstest"
)

func TestHandler(t *testing.T) {
	root := fstest.MapFS{
		"index.html":      {Data: []byte("<html>app</html>")},
		"assets/app-1.js": {Data: []byte("console.log(1)")},
		"favicon.ico":     {Data: []byte("ico")},
	}
	h := Handler(root)
	for path, want := range map[string]struct {
		code  int
		body  string
		cache string
	}{
		"/":                  {200, "<html>app</html>", "no-cache"},
		"/jobs/team-a/pi":    {200, "<html>app</html>", "no-cache"},
		"/admin":             {200, "<html>app</html>", "no-cache"},
		"/assets/app-1.js":   {200, "console.log(1)", "public, max-age=31536000, immutable"},
		"/assets/missing.js": {404, "404 page not found\n", ""},
		"/favicon.ico":       {200, "ico", ""},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != want.code || string(body) != want.body || rec.Header().Get("Cache-Control") != want.cache {
			t.Errorf("GET %s = %d %q (Cache-Control %q), want %d %q (%q)", path, rec.Code, body, rec.Header().Get("Cache-Control"), want.code, want.body, want.cache)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d, want 405", rec.Code)
	}
}

// The binary always carries a page: the build or the placeholder.
func TestEmbedded(t *testing.T) {
	if _, err := Embedded().Open("index.html"); err != nil {
		t.Fatalf("embedded front end has no index.html (built=%v): %v", Built(), err)
	}
}
