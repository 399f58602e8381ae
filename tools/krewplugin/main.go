// Command krewplugin packages kubectl-odh for krew, kubectl's plugin
// manager: one archive per platform (the binary and LICENSE) and the
// plugin manifest odh.yaml naming each archive's URL and SHA-256, ready
// for a release and a krew-index pull request. Users then run
// `kubectl krew install odh`, and `kubectl odh ...` and `oc odh ...` work.
//
//	go run ./tools/krewplugin [--out .cache/dist/krew] [--platforms linux/amd64,...] [--base-url URL]
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
	"github.com/mpijob-platform/mpijob-platform/tools/packaging"
)

// Platforms krew users install from.
var defaultPlatforms = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"}

func main() {
	repo, err := cluster.FindRepoRoot()
	if err != nil {
		fail(err)
	}
	version := "v" + packaging.Version
	out := flag.String("out", filepath.Join(cluster.DefaultCacheDir(repo), "dist", "krew"), "folder for the archives and odh.yaml")
	platforms := flag.String("platforms", strings.Join(defaultPlatforms, ","), "comma-separated os/arch list")
	baseURL := flag.String("base-url", "https://github.com/mpijob-platform/mpijob-platform/releases/download/"+version, "where the release publishes the archives")
	flag.Parse()
	if err := run(repo, *out, version, *baseURL, strings.Split(*platforms, ",")); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "krewplugin:", err)
	os.Exit(1)
}

func run(repo, out, version, baseURL string, platforms []string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	license, err := os.ReadFile(filepath.Join(repo, "LICENSE"))
	if err != nil {
		return err
	}
	var entries []Platform
	for _, p := range platforms {
		goos, goarch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok || goos == "" || goarch == "" {
			return fmt.Errorf("platform %q: want os/arch, e.g. linux/amd64", p)
		}
		fmt.Fprintf(os.Stderr, "building kubectl-odh %s for %s/%s\n", version, goos, goarch)
		bin, err := build(repo, version, goos, goarch)
		if err != nil {
			return err
		}
		name, data, err := archive(goos, goarch, bin, license)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		entries = append(entries, platformEntry(goos, goarch, strings.TrimSuffix(baseURL, "/")+"/"+name, hex.EncodeToString(sum[:])))
	}
	manifest, err := yaml.Marshal(Manifest(version, entries))
	if err != nil {
		return err
	}
	path := filepath.Join(out, "odh.yaml")
	if err := os.WriteFile(path, manifest, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s and %d archive(s)\n", path, len(entries))
	return nil
}

// binName is the plugin's executable on goos.
func binName(goos string) string {
	if goos == "windows" {
		return "kubectl-odh.exe"
	}
	return "kubectl-odh"
}

// build compiles kubectl-odh for one platform, statically and
// reproducibly, with its version stamped in.
func build(repo, version, goos, goarch string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "krewplugin-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, binName(goos))
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -X github.com/mpijob-platform/mpijob-platform/cli/pkg/cmd.Version="+version,
		"-o", bin, "./cli/cmd/kubectl-odh")
	cmd.Dir, cmd.Stdout, cmd.Stderr = repo, os.Stderr, os.Stderr
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("building for %s/%s: %w", goos, goarch, err)
	}
	return os.ReadFile(bin)
}

// archive packs the binary and LICENSE: a zip for Windows, else a
// tar.gz, with fixed times so the same binary gives the same archive.
func archive(goos, goarch string, bin, license []byte) (string, []byte, error) {
	files := []struct {
		name string
		mode int64
		data []byte
	}{{binName(goos), 0o755, bin}, {"LICENSE", 0o644, license}}
	stamp := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	base := fmt.Sprintf("kubectl-odh_%s_%s", goos, goarch)
	if goos == "windows" {
		zw := zip.NewWriter(&buf)
		for _, f := range files {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: stamp})
			if err != nil {
				return "", nil, err
			}
			if _, err := w.Write(f.data); err != nil {
				return "", nil, err
			}
		}
		if err := zw.Close(); err != nil {
			return "", nil, err
		}
		return base + ".zip", buf.Bytes(), nil
	}
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: stamp, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return "", nil, err
		}
		if _, err := io.Copy(tw, bytes.NewReader(f.data)); err != nil {
			return "", nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return "", nil, err
	}
	if err := gz.Close(); err != nil {
		return "", nil, err
	}
	return base + ".tar.gz", buf.Bytes(), nil
}
