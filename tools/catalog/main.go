// Command catalog renders the platform's file-based OLM catalog,
// catalog/mpijob-platform/catalog.yaml, from the release history
// (upgrade/releases.yaml), the CRD snapshots of upgrade/crds/ and the
// current bundle (bundle/, written by tools/bundle). Before rendering it
// checks the history: a linear replaces chain per channel and CRDs that
// every release evolves compatibly.
//
//	go run ./tools/catalog [--out catalog] [--bundle bundle] [--check]
//
// The output is deterministic and validated as `opm validate` does. --check
// writes nothing: it fails if the committed catalog differs from a fresh
// render.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-cmp/cmp"
)

func main() {
	o := Options{}
	flag.StringVar(&o.Root, "root", ".", "repository root")
	flag.StringVar(&o.Out, "out", "catalog", "catalog folder, relative to --root")
	flag.StringVar(&o.Bundle, "bundle", "bundle", "bundle folder of the current release, relative to --root")
	check := flag.Bool("check", false, "write nothing; fail if the committed catalog differs from a fresh render")
	flag.Parse()

	if err := run(context.Background(), o, *check); err != nil {
		fmt.Fprintln(os.Stderr, "catalog:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o Options, check bool) error {
	file, data, err := Generate(ctx, o)
	if err != nil {
		return err
	}
	if check {
		if diff := Check(o.Root, o.Out, file, data); diff != "" {
			return fmt.Errorf("the catalog is stale; run go run ./tools/catalog and commit the result:\n%s", diff)
		}
		return nil
	}
	dst := filepath.Join(o.Root, filepath.FromSlash(file))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(dst), err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	fmt.Printf("wrote %s\n", file)
	return nil
}

// Check compares the rendered catalog file with the committed one and
// reports other files in the catalog folder (opm would serve them too).
// No difference: "".
func Check(root, out, file string, data []byte) string {
	var diff bytes.Buffer
	have, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(file)))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(&diff, "%s: missing\n", file)
	case err != nil:
		fmt.Fprintf(&diff, "%s: %v\n", file, err)
	case !bytes.Equal(have, data):
		d := cmp.Diff(string(have), string(data))
		if len(d) > 4000 {
			d = d[:4000] + "\n..."
		}
		fmt.Fprintf(&diff, "%s: stale (-committed +rendered):\n%s\n", file, d)
	}
	_ = filepath.WalkDir(filepath.Join(root, out), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil //nolint:nilerr // a missing folder is reported above as a missing file
		}
		rel, _ := filepath.Rel(root, p)
		if filepath.ToSlash(rel) != file {
			fmt.Fprintf(&diff, "%s: not rendered by tools/catalog\n", filepath.ToSlash(rel))
		}
		return nil
	})
	return diff.String()
}
