package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/mpijob-platform/mpijob-platform/tools/packaging"
)

const (
	// ModulePath is the module whose go.mod marks the repository root.
	ModulePath = "github.com/mpijob-platform/mpijob-platform"
	// ManagerPackage is the package the image runs.
	ManagerPackage = "./operator/cmd/manager"
	// ImageName is the image's name (title label, default layout folder).
	ImageName = "mpijob-platform-operator"

	// RefNameAnnotation names the image in the layout's index.json.
	RefNameAnnotation = "org.opencontainers.image.ref.name"

	// UID and GID of the non-root user the manager runs as.
	UID = 65532
	GID = 65532
	// User is the config's User field.
	User = "65532:65532"
	// Entrypoint is the manager's path inside the image.
	Entrypoint = "/manager"

	// SourceDateEpochEnv, when set to seconds since the Unix epoch, is the
	// time stamped on files, history and config; otherwise the epoch itself.
	SourceDateEpochEnv = "SOURCE_DATE_EPOCH"
)

// SupportedArches are the architectures --arch accepts.
var SupportedArches = []string{"amd64", "arm64"}

// Passwd and Group are the image's /etc/passwd and /etc/group.
const (
	Passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	Group = "root:x:0:\n" +
		"nonroot:x:65532:\n"
)

// Labels are the image's labels: OCI annotations keys plus the ones
// OpenShift and OLM tooling read. The Containerfile carries the same.
func Labels(version string) map[string]string {
	const (
		summary     = "MPIJob platform operator"
		description = "Runs the MPIJob platform: the MPIJobPlatform operator and the MPIJob controller with its admission webhooks (one binary, /manager, roles platform, mpijob-controller and all)."
	)
	return map[string]string{
		"org.opencontainers.image.title":       ImageName,
		"org.opencontainers.image.description": description,
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.source":      ModulePath,
		"name":                                 ImageName,
		"version":                              version,
		"summary":                              summary,
		"description":                          description,
		"io.k8s.display-name":                  "MPIJob Platform Operator",
		"io.k8s.description":                   description,
		"io.openshift.tags":                    "mpi,mpijob,hpc,operator",
	}
}

// Options says what Build makes.
type Options struct {
	// RepoRoot is the repository root; empty means FindRepoRoot().
	RepoRoot string
	// Out is the OCI layout folder; empty means DefaultOut(RepoRoot).
	// It must not exist, be empty or hold an OCI layout (which is replaced).
	Out string
	// Image is the reference written as ref.name; empty means packaging.Image().
	Image string
	// Version goes into the version labels; empty means packaging.Version.
	Version string
	// Arches to build, amd64 when empty; more than one makes an image index.
	Arches []string
	// Binaries maps an arch to an already built manager; the others are
	// built with `go build`.
	Binaries map[string]string
	// WorkDir keeps the binaries Build compiles; empty means a temporary
	// folder removed when Build returns.
	WorkDir string
	// Created is stamped on files and config; zero means CreatedTime().
	Created time.Time
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Result describes what Build wrote.
type Result struct {
	// Path is the OCI layout folder.
	Path string
	// Ref is the ref.name annotation.
	Ref string
	// Digest is the digest of the top manifest: the image, or the index
	// when several arches were built.
	Digest v1.Hash
	// MediaType of that manifest.
	MediaType types.MediaType
	// ManifestSize is the size of that manifest in bytes.
	ManifestSize int64
	// TotalSize is the size of every blob it references (manifests,
	// configs, compressed layers) in bytes.
	TotalSize int64
	// Images has one entry per arch, in the order built.
	Images []ArchImage
	// Binaries maps each arch to the manager it packaged (valid after
	// Build returns only when they were given or WorkDir was set).
	Binaries map[string]string
}

// ArchImage is the image of one architecture.
type ArchImage struct {
	Arch   string
	Digest v1.Hash
	Size   int64
}

// FindRepoRoot walks up from the working directory to the folder whose
// go.mod declares ModulePath.
func FindRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if isRepoRoot(dir) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for module %s above the working directory", ModulePath)
		}
		dir = parent
	}
}

func isRepoRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == ModulePath
		}
	}
	return false
}

// DefaultOut is <repo>/.cache/image/<ImageName>.
func DefaultOut(repoRoot string) string {
	return filepath.Join(repoRoot, ".cache", "image", ImageName)
}

// CreatedTime is $SOURCE_DATE_EPOCH, else the Unix epoch.
func CreatedTime() (time.Time, error) {
	s := os.Getenv(SourceDateEpochEnv)
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s=%q: %w", SourceDateEpochEnv, s, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// BuildBinary compiles the manager for linux/arch into dir and returns
// its path.
func BuildBinary(ctx context.Context, repoRoot, arch, dir string) (string, error) {
	if !slices.Contains(SupportedArches, arch) {
		return "", fmt.Errorf("arch %q: supported are %s", arch, strings.Join(SupportedArches, ", "))
	}
	out := filepath.Join(dir, "manager-linux-"+arch)
	cmd := exec.CommandContext(ctx, "go", "build",
		"-trimpath", "-buildvcs=false", "-ldflags=-s -w",
		"-o", out, ManagerPackage)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s for linux/%s: %w\n%s", ManagerPackage, arch, err, stderr.String())
	}
	return out, nil
}

// Build compiles the manager (unless given), makes the image for each
// arch and writes the OCI layout.
func Build(ctx context.Context, o Options) (*Result, error) {
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	logf := func(format string, args ...any) { fmt.Fprintf(logw, format+"\n", args...) }

	var err error
	if o.RepoRoot == "" {
		if o.RepoRoot, err = FindRepoRoot(); err != nil {
			return nil, err
		}
	}
	if o.Out == "" {
		o.Out = DefaultOut(o.RepoRoot)
	}
	if o.Image == "" {
		o.Image = packaging.Image()
	}
	if o.Version == "" {
		o.Version = packaging.Version
	}
	if len(o.Arches) == 0 {
		o.Arches = []string{"amd64"}
	}
	for i, a := range o.Arches {
		if !slices.Contains(SupportedArches, a) {
			return nil, fmt.Errorf("arch %q: supported are %s", a, strings.Join(SupportedArches, ", "))
		}
		if slices.Contains(o.Arches[:i], a) {
			return nil, fmt.Errorf("arch %q given twice", a)
		}
	}
	if o.Created.IsZero() {
		if o.Created, err = CreatedTime(); err != nil {
			return nil, err
		}
	}

	binaries := make(map[string]string, len(o.Arches))
	for _, a := range o.Arches {
		if p := o.Binaries[a]; p != "" {
			binaries[a] = p
		}
	}
	if len(binaries) < len(o.Arches) {
		work := o.WorkDir
		if work == "" {
			tmp, err := os.MkdirTemp("", "mpijob-image-")
			if err != nil {
				return nil, fmt.Errorf("temporary folder: %w", err)
			}
			defer os.RemoveAll(tmp)
			work = tmp
		} else if err := os.MkdirAll(work, 0o755); err != nil {
			return nil, fmt.Errorf("work folder: %w", err)
		}
		for _, a := range o.Arches {
			if binaries[a] != "" {
				continue
			}
			logf("building %s for linux/%s (CGO_ENABLED=0 -trimpath -ldflags \"-s -w\")", ManagerPackage, a)
			start := time.Now()
			p, err := BuildBinary(ctx, o.RepoRoot, a, work)
			if err != nil {
				return nil, err
			}
			logf("built %s in %s", p, time.Since(start).Round(time.Millisecond))
			binaries[a] = p
		}
	}

	res := &Result{Path: o.Out, Ref: o.Image, Binaries: binaries}
	labels := Labels(o.Version)
	images := make([]v1.Image, 0, len(o.Arches))
	for _, a := range o.Arches {
		if err := CheckBinary(binaries[a], a); err != nil {
			return nil, err
		}
		logf("assembling the linux/%s image from %s", a, binaries[a])
		img, err := archImage(binaries[a], a, labels, o.Created)
		if err != nil {
			return nil, fmt.Errorf("linux/%s image: %w", a, err)
		}
		d, err := img.Digest()
		if err != nil {
			return nil, fmt.Errorf("linux/%s image digest: %w", a, err)
		}
		size, err := imageSize(img)
		if err != nil {
			return nil, fmt.Errorf("linux/%s image size: %w", a, err)
		}
		images = append(images, img)
		res.Images = append(res.Images, ArchImage{Arch: a, Digest: d, Size: size})
		res.TotalSize += size
	}

	if err := prepareOut(o.Out); err != nil {
		return nil, err
	}
	logf("writing the OCI layout to %s", o.Out)
	lp, err := layout.Write(o.Out, empty.Index)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", o.Out, err)
	}
	annotations := map[string]string{RefNameAnnotation: o.Image}
	var top partial.Describable
	if len(images) == 1 {
		top = images[0]
		err = lp.AppendImage(images[0], layout.WithAnnotations(annotations),
			layout.WithPlatform(v1.Platform{OS: "linux", Architecture: o.Arches[0]}))
	} else {
		adds := make([]mutate.IndexAddendum, 0, len(images))
		for i, img := range images {
			adds = append(adds, mutate.IndexAddendum{
				Add: img,
				Descriptor: v1.Descriptor{
					Platform: &v1.Platform{OS: "linux", Architecture: o.Arches[i]},
				},
			})
		}
		idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
		top = idx
		err = lp.AppendIndex(idx, layout.WithAnnotations(annotations))
	}
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", o.Out, err)
	}

	if res.Digest, err = top.Digest(); err != nil {
		return nil, fmt.Errorf("digest: %w", err)
	}
	if res.MediaType, err = top.MediaType(); err != nil {
		return nil, fmt.Errorf("media type: %w", err)
	}
	if res.ManifestSize, err = top.Size(); err != nil {
		return nil, fmt.Errorf("manifest size: %w", err)
	}
	if len(images) > 1 {
		res.TotalSize += res.ManifestSize
	}
	return res, nil
}

// elfMachines maps an arch to the ELF machine its binaries declare.
var elfMachines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// CheckBinary checks that path is a static linux ELF executable for arch:
// an image FROM scratch has no dynamic loader or C library to offer.
func CheckBinary(path, arch string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("manager binary %s: %w", path, err)
	}
	defer f.Close()
	if want := elfMachines[arch]; f.Machine != want {
		return fmt.Errorf("manager binary %s is for %s, not %s (%s)", path, f.Machine, arch, want)
	}
	if f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		return fmt.Errorf("manager binary %s: OS ABI %s is not linux", path, f.OSABI)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("manager binary %s is dynamically linked (has an interpreter); build it with CGO_ENABLED=0", path)
		}
	}
	return nil
}

// prepareOut empties out when it holds an earlier layout, so that the
// layout's index.json names only the new image. A folder with other
// contents is left alone and is an error.
func prepareOut(out string) error {
	entries, err := os.ReadDir(out)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(out, "oci-layout")); err != nil {
		return fmt.Errorf("output folder %s is not empty and holds no OCI layout; refusing to overwrite it: %w", out, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(out, e.Name())); err != nil {
			return fmt.Errorf("clearing the previous layout: %w", err)
		}
	}
	return nil
}

// archImage is the image of one arch: empty base, one layer, config.
func archImage(binary, arch string, labels map[string]string, created time.Time) (v1.Image, error) {
	layerTar, err := rootfsTar(binary, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.DefaultCompression), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}

	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	t := v1.Time{Time: created}
	cfg := &v1.ConfigFile{
		Architecture: arch,
		OS:           "linux",
		Created:      t,
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Entrypoint: []string{Entrypoint},
			User:       User,
			WorkingDir: "/",
			Env:        []string{"PATH=/"},
			Labels:     labels,
		},
	}
	img, err := mutate.ConfigFile(base, cfg)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Author:    ModulePath,
			Created:   t,
			CreatedBy: "go run ./tools/image",
			Comment:   "/manager, /etc/passwd, /etc/group, /home/nonroot, /tmp",
		},
		MediaType: types.OCILayer,
	})
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	return img, nil
}

// rootfsTar is the image's only layer, uncompressed: /etc/passwd,
// /etc/group, /home/nonroot, /tmp (1777) and /manager (0755, nonroot).
func rootfsTar(binary string, created time.Time) ([]byte, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("manager binary: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64, uid int, owner string) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, Uid: uid, Gid: uid, Uname: owner, Gname: owner, ModTime: created}
	}
	file := func(name string, mode int64, uid int, owner string, size int) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Uid: uid, Gid: uid, Uname: owner, Gname: owner, ModTime: created, Size: int64(size)}
	}
	entries := []struct {
		hdr  *tar.Header
		body []byte
	}{
		{dir("etc/", 0o755, 0, "root"), nil},
		{file("etc/group", 0o644, 0, "root", len(Group)), []byte(Group)},
		{file("etc/passwd", 0o644, 0, "root", len(Passwd)), []byte(Passwd)},
		{dir("home/", 0o755, 0, "root"), nil},
		{dir("home/nonroot/", 0o700, UID, "nonroot"), nil},
		{file("manager", 0o755, UID, "nonroot", len(bin)), bin},
		{dir("tmp/", 0o1777, 0, "root"), nil},
	}
	for _, e := range entries {
		if err := tw.WriteHeader(e.hdr); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", e.hdr.Name, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", e.hdr.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return buf.Bytes(), nil
}

// imageSize adds up the manifest, the config and the compressed layers.
func imageSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	total, err := img.Size()
	if err != nil {
		return 0, err
	}
	total += m.Config.Size
	for _, l := range m.Layers {
		total += l.Size
	}
	return total, nil
}
