// Command bundle generates the platform's OLM bundle: bundle/ (the
// ClusterServiceVersion, the CRDs, the metrics Service, metadata and the
// scorecard configuration), bundle.Dockerfile and operator-sdk's PROJECT
// file, from tools/packaging, config/ and upgrade/releases.yaml.
//
//	go run ./tools/bundle [--image REF] [--version V] [--out bundle] [--check]
//
// The output is deterministic. --check writes nothing: it reports how the
// committed files differ from a fresh generation and fails if they do.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/mpijob-platform/mpijob-platform/tools/packaging"
)

func main() {
	o := Options{}
	flag.StringVar(&o.Root, "root", ".", "repository root")
	flag.StringVar(&o.Out, "out", "bundle", "bundle folder, relative to --root")
	flag.StringVar(&o.Image, "image", packaging.Image(), "operator image the CSV deploys (default: $"+packaging.ImageEnv+", else "+packaging.DefaultImage+")")
	flag.StringVar(&o.Version, "version", packaging.Version, "CSV version; upgrade/releases.yaml must list it")
	check := flag.Bool("check", false, "write nothing; fail if the committed files differ from a fresh generation")
	flag.Parse()

	if err := run(o, *check); err != nil {
		fmt.Fprintln(os.Stderr, "bundle:", err)
		os.Exit(1)
	}
}

func run(o Options, check bool) error {
	files, err := Generate(o)
	if err != nil {
		return err
	}
	if check {
		if diffs := Check(o.Root, o.Out, files); len(diffs) > 0 {
			return fmt.Errorf("the bundle is stale; run go run ./tools/bundle and commit the result:\n%s", strings.Join(diffs, "\n"))
		}
		return nil
	}
	if err := Write(o.Root, o.Out, files); err != nil {
		return err
	}
	fmt.Printf("wrote %s/, %s and %s for %s\n", o.Out, Dockerfile, ProjectFile, o.Image)
	return nil
}
