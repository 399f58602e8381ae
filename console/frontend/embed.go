// Package frontend serves the console's React front end: the Vite build in
// web/dist when it was built before the Go binary (make console), else a
// placeholder page that says how to build it. The build output is not
// committed; web/placeholder is, so the package always compiles.
package frontend

import (
	"embed"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
)

//go:embed all:web
var web embed.FS

// Built says whether the binary carries the built front end.
func Built() bool {
	_, err := fs.Stat(web, "web/dist/index.html")
	return err == nil
}

// Embedded returns the embedded front end (or the placeholder).
func Embedded() fs.FS {
	dir := "web/placeholder"
	if Built() {
		dir = "web/dist"
	}
	sub, err := fs.Sub(web, dir)
	if err != nil {
		panic(err) // both directories are compiled in
	}
	return sub
}

// Dir returns the front end in a directory on disk (--static-dir).
func Dir(dir string) fs.FS { return os.DirFS(dir) }

// Handler serves files of root and answers every other path that is not
// a file with index.html, so that the single-page app's routes
// (/jobs/team-a/pi) load on refresh. Hashed assets are cached for long;
// index.html never.
func Handler(root fs.FS) http.Handler {
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name != "" && name != "index.html" {
			if st, err := fs.Stat(root, name); err == nil && !st.IsDir() {
				if strings.HasPrefix(name, "assets/") {
					w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
				}
				files.ServeHTTP(w, r)
				return
			}
			if strings.HasPrefix(name, "assets/") {
				http.NotFound(w, r)
				return
			}
		}
		index, err := fs.ReadFile(root, "index.html")
		if err != nil {
			http.Error(w, "the front end has no index.html", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(index)
	})
}
