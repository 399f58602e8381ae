package frontend_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// stamp records which package-lock.json node_modules was installed from;
// it lives inside node_modules so that deleting one deletes both.
const stamp = "node_modules/.mpijob-console-lock.sha256"

// npm runs one npm command in this directory and fails the test with its
// output.
func npm(t *testing.T, args ...string) {
	t.Helper()
	start := time.Now()
	cmd := exec.Command("npm", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "CI=true", "NO_COLOR=1", "npm_config_fund=false", "npm_config_audit=false", "npm_config_update_notifier=false")
	if err := cmd.Run(); err != nil {
		t.Fatalf("npm %v: %v\n%s", args, err, out.String())
	}
	t.Logf("npm %v: %s", args, time.Since(start).Round(100*time.Millisecond))
}

// TestFrontend installs the front end's locked dependencies when they
// changed, runs its component tests (Vitest, jsdom) and builds it into
// web/dist, which the console binary embeds.
func TestFrontend(t *testing.T) {
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatal("npm not found: install Node.js 20.19 or newer (the console's front end is built with npm)")
	}
	lock, err := os.ReadFile("package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])
	if got, err := os.ReadFile(stamp); err != nil || string(got) != want {
		npm(t, "ci", "--no-audit", "--no-fund", "--loglevel=error")
		if err := os.WriteFile(filepath.FromSlash(stamp), []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	npm(t, "test", "--", "--run")
	npm(t, "run", "build")
	if _, err := os.Stat("web/dist/index.html"); err != nil {
		t.Fatalf("the build made no web/dist/index.html: %v", err)
	}
}
