// Command image builds the operator image without a container engine: it
// compiles ./operator/cmd/manager for linux and writes an OCI image layout
// with go-containerregistry, the way ko does.
//
//	go run ./tools/image [--out DIR] [--image REF] [--arch amd64] [--arch arm64]
//
// `make image` runs it. The Containerfile at the repository root describes
// the same image for people who build with a container engine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mpijob-platform/mpijob-platform/tools/packaging"
)

// archFlag collects repeated --arch values.
type archFlag []string

func (a *archFlag) String() string { return strings.Join(*a, ",") }

func (a *archFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*a = append(*a, s)
		}
	}
	return nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	out := fs.String("out", "", "OCI layout folder (default <repo>/.cache/image/"+ImageName+"); an earlier layout there is replaced")
	ref := fs.String("image", "", "image reference written as "+RefNameAnnotation+" (default $"+packaging.ImageEnv+", else "+packaging.DefaultImage+")")
	var arches archFlag
	fs.Var(&arches, "arch", "linux architecture to build: amd64 (default) or arm64; give it twice for a multi-arch index")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	res, err := Build(ctx, Options{Out: *out, Image: *ref, Arches: arches, Log: os.Stdout})
	if err != nil {
		return err
	}
	for _, img := range res.Images {
		fmt.Printf("linux/%s image %s (%s)\n", img.Arch, img.Digest, humanSize(img.Size))
	}
	fmt.Printf("done in %s\n", time.Since(start).Round(time.Millisecond))
	fmt.Printf("layout: %s\n", res.Path)
	fmt.Printf("image:  %s\n", res.Ref)
	fmt.Printf("digest: %s (%s)\n", res.Digest, res.MediaType)
	fmt.Printf("size:   %d bytes (%s: manifests, configs and compressed layers)\n", res.TotalSize, humanSize(res.TotalSize))
	return nil
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
