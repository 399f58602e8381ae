package main

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/operator-framework/operator-registry/alpha/declcfg"
	"github.com/operator-framework/operator-registry/alpha/property"
	"github.com/operator-framework/operator-registry/pkg/lib/config"

	"github.com/mpijob-platform/mpijob-platform/tools/catalog/releases"
)

// repoRoot is the repository root seen from this package's folder.
const repoRoot = "../.."

func repoOptions() Options { return Options{Root: repoRoot, Out: "catalog", Bundle: "bundle"} }

// TestCommittedCatalogValidates runs exactly what `opm validate catalog`
// runs on the committed catalog, then the replaces-chain check.
func TestCommittedCatalogValidates(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(repoRoot, "catalog")
	if err := config.Validate(ctx, os.DirFS(dir)); err != nil {
		t.Fatalf("opm validate: %v", err)
	}
	if err := ValidateDir(ctx, dir); err != nil {
		t.Fatal(err)
	}
	cfg, err := declcfg.LoadFS(ctx, os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	hist, err := releases.Load(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Packages) != 1 || cfg.Packages[0].DefaultChannel != hist.DefaultChannel || cfg.Packages[0].Icon == nil {
		t.Errorf("want one package with default channel %s and an icon, got %+v", hist.DefaultChannel, cfg.Packages)
	}
	if len(cfg.Channels) != len(hist.Channels) || len(cfg.Bundles) != len(hist.Releases) {
		t.Errorf("%d channels and %d bundles, want %d and %d", len(cfg.Channels), len(cfg.Bundles), len(hist.Channels), len(hist.Releases))
	}
	for _, b := range cfg.Bundles {
		props, err := property.Parse(b.Properties)
		if err != nil {
			t.Fatal(err)
		}
		if len(props.GVKs) != 2 {
			t.Errorf("%s: want the two owned APIs as olm.gvk, got %+v", b.Name, props.GVKs)
		}
		if b.Name == hist.CSVName(hist.Latest().Version) && len(props.CSVMetadatas) != 1 {
			t.Errorf("%s: the current bundle needs its olm.csv.metadata", b.Name)
		}
		images := map[string]bool{}
		for _, ri := range b.RelatedImages {
			images[ri.Image] = true
		}
		r, _ := hist.Find(props.Packages[0].Version)
		if !images[r.BundleImage] || !images[r.OperatorImage] {
			t.Errorf("%s: relatedImages %v lack %s or %s", b.Name, b.RelatedImages, r.BundleImage, r.OperatorImage)
		}
	}
}

// TestCommittedCatalogIsFresh fails when catalog/ differs from a fresh
// render: run `go run ./tools/catalog` (after `go run ./tools/bundle`).
func TestCommittedCatalogIsFresh(t *testing.T) {
	o := repoOptions()
	file, data, err := Generate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if diff := Check(o.Root, o.Out, file, data); diff != "" {
		t.Errorf("the committed catalog is stale; run `go run ./tools/catalog`:\n%s", diff)
	}
}

func TestCRDHistory(t *testing.T) {
	hist, err := releases.Load(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckCRDHistory(repoRoot, hist); err != nil {
		t.Error(err)
	}
}

func TestCheckChain(t *testing.T) {
	good := declcfg.Channel{Name: "stable", Entries: []declcfg.ChannelEntry{
		{Name: "p.v1.0.0"}, {Name: "p.v1.0.1", Replaces: "p.v1.0.0"}, {Name: "p.v1.1.0", Replaces: "p.v1.0.1", SkipRange: ">=1.0.0 <1.1.0"},
	}}
	if err := CheckChain(good); err != nil {
		t.Error(err)
	}
	bad := declcfg.Channel{Name: "stable", Entries: []declcfg.ChannelEntry{
		{Name: "p.v1.0.0", Replaces: "p.v0.9.0"}, {Name: "p.v1.0.1"}, {Name: "p.v1.1.0", Replaces: "p.v1.0.0"},
	}}
	err := CheckChain(bad)
	if err == nil {
		t.Fatal("want a broken chain reported")
	}
	for _, want := range []string{
		"p.v1.0.0, the channel's first entry, replaces p.v0.9.0",
		`p.v1.0.1 replaces "", want the previous entry p.v1.0.0`,
		`p.v1.1.0 replaces "p.v1.0.0", want the previous entry p.v1.0.1`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

const twoReleases = `
package: mpijob-platform
defaultChannel: stable
channels: [{name: candidate}, {name: fast}, {name: stable}]
releases:
- version: 1.0.0
  channels: [candidate, fast]
  bundleImage: mpijob-platform/mpijob-platform-operator-bundle:v1.0.0
  operatorImage: mpijob-platform/mpijob-platform-operator:1.0.0
- version: 1.1.0
  channels: [candidate, fast, stable]
  replaces: {candidate: 1.0.0, fast: 1.0.0}
  skipRange: ">=1.0.0 <1.1.0"
  bundleImage: mpijob-platform/mpijob-platform-operator-bundle:v1.1.0
  operatorImage: mpijob-platform/mpijob-platform-operator:1.1.0
`

// TestTwoReleases renders a history with an earlier release into a scratch
// repository: the earlier bundle comes from its CRD snapshot, then from the
// committed catalog, verbatim; the graph validates as opm validates it.
func TestTwoReleases(t *testing.T) {
	root := t.TempDir()
	copyDir(t, filepath.Join(repoRoot, "bundle"), filepath.Join(root, "bundle"))
	for _, v := range []string{"1.0.0", "1.1.0"} {
		copyDir(t, filepath.Join(repoRoot, releases.CRDsDir, "1.1.0"), filepath.Join(root, releases.CRDsDir, v))
	}
	if err := os.WriteFile(filepath.Join(root, releases.Path), []byte(twoReleases), 0o644); err != nil {
		t.Fatal(err)
	}
	o := Options{Root: root, Out: "catalog", Bundle: "bundle"}
	ctx := context.Background()
	file, data, err := Generate(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	cfg := decode(t, data)
	want := map[string][]declcfg.ChannelEntry{
		"candidate": {{Name: "mpijob-platform.v1.0.0"}, {Name: "mpijob-platform.v1.1.0", Replaces: "mpijob-platform.v1.0.0", SkipRange: ">=1.0.0 <1.1.0"}},
		"fast":      {{Name: "mpijob-platform.v1.0.0"}, {Name: "mpijob-platform.v1.1.0", Replaces: "mpijob-platform.v1.0.0", SkipRange: ">=1.0.0 <1.1.0"}},
		"stable":    {{Name: "mpijob-platform.v1.1.0", SkipRange: ">=1.0.0 <1.1.0"}},
	}
	for _, c := range cfg.Channels {
		if got, _ := json.Marshal(c.Entries); string(got) != mustJSON(t, want[c.Name]) {
			t.Errorf("channel %s: %s, want %s", c.Name, got, mustJSON(t, want[c.Name]))
		}
	}
	old := bundleNamed(t, cfg, "mpijob-platform.v1.0.0")
	props, err := property.Parse(old.Properties)
	if err != nil {
		t.Fatal(err)
	}
	if len(props.Packages) != 1 || props.Packages[0].Version != "1.0.0" || len(props.GVKs) != 2 || len(props.CSVMetadatas) != 0 {
		t.Errorf("1.0.0 rebuilt from its snapshot: %+v", props)
	}

	// Once committed, an earlier release's entry is carried over as it is.
	dst := filepath.Join(root, filepath.FromSlash(file))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	marked := strings.Replace(string(data), "- image: mpijob-platform/mpijob-platform-operator:1.0.0\n  name: manager\n",
		"- image: mpijob-platform/mpijob-platform-operator:1.0.0\n  name: manager\n- image: mpijob-platform/mpijob-platform-sidecar:1.0.0\n  name: sidecar\n", 1)
	if marked == string(data) {
		t.Fatal("test setup: 1.0.0's related images not found")
	}
	if err := os.WriteFile(dst, []byte(marked), 0o644); err != nil {
		t.Fatal(err)
	}
	_, again, err := Generate(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != marked {
		t.Errorf("the committed 1.0.0 entry was not carried over verbatim")
	}
	if err := ValidateDir(ctx, filepath.Join(root, "catalog")); err != nil {
		t.Error(err)
	}
}

func TestReleasesRules(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"missing replaces": {twoReleasesWith(`replaces: {candidate: 1.0.0, fast: 1.0.0}`, `replaces: {candidate: 1.0.0}`),
			"in channel \"fast\" it must replace 1.0.0"},
		"first in channel cannot replace": {twoReleasesWith(`replaces: {candidate: 1.0.0, fast: 1.0.0}`, `replaces: {candidate: 1.0.0, fast: 1.0.0, stable: 1.0.0}`),
			"it is the first release of channel \"stable\" and cannot replace 1.0.0"},
		"descending": {twoReleasesWith("- version: 1.1.0", "- version: 0.9.0"), "versions must ascend"},
		"unknown channel": {twoReleasesWith("channels: [candidate, fast, stable]\n  replaces", "channels: [candidate, fast, beta]\n  replaces"),
			"channel \"beta\" is not declared"},
		"skipRange includes itself": {twoReleasesWith(`skipRange: ">=1.0.0 <1.1.0"`, `skipRange: ">=1.0.0 <=1.1.0"`), "includes the release itself"},
		"unknown field":             {twoReleasesWith("skipRange:", "skipRanges:"), "unknown field"},
		"short commit": {twoReleasesWith("operatorImage: mpijob-platform/mpijob-platform-operator:1.0.0\n", "operatorImage: mpijob-platform/mpijob-platform-operator:1.0.0\n  commit: e1e7bc0\n"),
			"is not a full commit hash"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := releases.Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want an error with %q, got %v", tc.want, err)
			}
		})
	}
	if _, err := releases.Parse([]byte(twoReleases)); err != nil {
		t.Errorf("the two-release history is valid: %v", err)
	}
}

func twoReleasesWith(old, replacement string) string {
	if !strings.Contains(twoReleases, old) {
		panic("test setup: " + old + " not in twoReleases")
	}
	return strings.Replace(twoReleases, old, replacement, 1)
}

func decode(t *testing.T, data []byte) *declcfg.DeclarativeConfig {
	t.Helper()
	cfg, err := declcfg.LoadReader(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func bundleNamed(t *testing.T, cfg *declcfg.DeclarativeConfig, name string) declcfg.Bundle {
	t.Helper()
	for _, b := range cfg.Bundles {
		if b.Name == name {
			return b
		}
	}
	t.Fatalf("no bundle %s", name)
	return declcfg.Bundle{}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestValidateRejectsBrokenCatalog makes sure the opm validation is live: a
// channel entry naming no bundle fails it.
func TestValidateRejectsBrokenCatalog(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "catalog", CatalogPath("mpijob-platform")))
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(context.Background(), data, "mpijob-platform"); err != nil {
		t.Fatalf("the committed catalog: %v", err)
	}
	broken := strings.Replace(string(data), "entries:\n- name: mpijob-platform.v1.0.0\nname: stable",
		"entries:\n- name: mpijob-platform.v1.0.0\n- name: mpijob-platform.v9.9.9\n  replaces: mpijob-platform.v1.0.0\nname: stable", 1)
	if broken == string(data) {
		t.Fatal("test setup: the stable channel was not found")
	}
	err = Validate(context.Background(), []byte(broken), "mpijob-platform")
	if err == nil || !strings.Contains(err.Error(), "mpijob-platform.v9.9.9") {
		t.Errorf("want opm validate to reject the unknown bundle, got %v", err)
	}
}
