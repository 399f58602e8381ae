package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
)

func TestHandlerServesHealthAndAPI(t *testing.T) {
	h, err := Options{BindAddress: "127.0.0.1:0"}.Handler(&rest.Config{Host: "https://127.0.0.1:1"}, logr.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for path, want := range map[string]int{"/healthz": 200, "/api/v1/config": 200, "/api/v1/whoami": 401, "/": 200} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestDevTokenNeedsLoopback(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (Options{BindAddress: ":8080", DevTokenFile: file}).devToken(); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("dev token on all interfaces: err = %v, want a refusal naming loopback", err)
	}
	if tok, err := (Options{BindAddress: "127.0.0.1:8080", DevTokenFile: file}).devToken(); err != nil || tok != "abc" {
		t.Errorf("dev token on loopback = %q, %v", tok, err)
	}
}

func TestWriteCookieSecret(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := WriteCookieSecret(a); err != nil {
		t.Fatal(err)
	}
	if err := WriteCookieSecret(b); err != nil {
		t.Fatal(err)
	}
	x, _ := os.ReadFile(a)
	y, _ := os.ReadFile(b)
	if len(x) != 32 || string(x) == string(y) {
		t.Errorf("cookie secrets %q and %q: want 32 random characters each", x, y)
	}
}

func TestPrometheusURLChecked(t *testing.T) {
	for u, ok := range map[string]bool{"": true, "http://prometheus:9090": true, "https://thanos.example.com/prom/": true, "prometheus:9090": false, "ftp://x": false, "http://": false} {
		_, err := Options{BindAddress: "127.0.0.1:0", PrometheusURL: u}.Handler(&rest.Config{Host: "https://127.0.0.1:1"}, logr.Discard(), nil)
		if (err == nil) != ok {
			t.Errorf("prometheus URL %q: err = %v, want ok = %v", u, err, ok)
		}
	}
}
