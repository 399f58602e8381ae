package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/mpijob-platform/mpijob-platform/tools/packaging"
)

// TestBuildImage builds the manager and the image the way `make image` does,
// reads the OCI layout back and checks what a cluster will run. A second
// build from the same binary must give the same digest.
func TestBuildImage(t *testing.T) {
	ctx := t.Context()
	created, err := CreatedTime()
	if err != nil {
		t.Fatal(err)
	}
	const ref = "mpijob-platform/mpijob-platform-operator:test"
	out := filepath.Join(t.TempDir(), "layout")

	start := time.Now()
	res, err := Build(ctx, Options{Out: out, Image: ref, WorkDir: t.TempDir(), Log: t.Output()})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	t.Logf("first build (with go build) took %s: %s, %d bytes", time.Since(start).Round(time.Millisecond), res.Digest, res.TotalSize)
	if res.Path != out || res.Ref != ref {
		t.Errorf("result path/ref = %s, %s; want %s, %s", res.Path, res.Ref, out, ref)
	}
	if res.MediaType != types.OCIManifestSchema1 {
		t.Errorf("result media type = %s, want %s", res.MediaType, types.OCIManifestSchema1)
	}
	if len(res.Images) != 1 || res.Images[0].Arch != "amd64" || res.Images[0].Digest != res.Digest {
		t.Errorf("result images = %+v, want one amd64 image with digest %s", res.Images, res.Digest)
	}

	img := readLayout(t, out, ref, res.Digest)
	if err := validate.Image(img); err != nil {
		t.Errorf("image does not validate (digests, sizes, diff IDs): %v", err)
	}
	size, err := imageSize(img)
	if err != nil {
		t.Fatal(err)
	}
	if size != res.TotalSize {
		t.Errorf("image size read back = %d, result says %d", size, res.TotalSize)
	}

	checkConfig(t, img, created)
	files := readLayer(t, img)
	checkFiles(t, files, created)
	checkStaticELF(t, files["manager"].body)
	if err := CheckBinary(res.Binaries["amd64"], "arm64"); err == nil {
		t.Error("CheckBinary accepted the amd64 manager as an arm64 one")
	}

	// Reproducible: the same binary gives the same image, whatever the
	// reference (ref.name lives in index.json, not in the image).
	res2, err := Build(ctx, Options{Out: filepath.Join(t.TempDir(), "again"), Binaries: res.Binaries, Log: t.Output()})
	if err != nil {
		t.Fatalf("second Build: %v", err)
	}
	if res2.Digest != res.Digest || res2.TotalSize != res.TotalSize {
		t.Errorf("second build from the same binary = %s (%d bytes), first = %s (%d bytes); builds are not reproducible",
			res2.Digest, res2.TotalSize, res.Digest, res.TotalSize)
	}
	if res2.Ref != packaging.Image() {
		t.Errorf("default reference = %q, want packaging.Image() = %q", res2.Ref, packaging.Image())
	}
	readLayout(t, res2.Path, packaging.Image(), res.Digest)

	// Building again into the same folder replaces the layout rather than
	// adding a second manifest to it.
	if _, err := Build(ctx, Options{Out: out, Image: ref, Binaries: res.Binaries}); err != nil {
		t.Fatalf("rebuild into the same layout: %v", err)
	}
	readLayout(t, out, ref, res.Digest)
}

// readLayout checks index.json (one manifest, named ref, digest want) and
// returns the image.
func readLayout(t *testing.T, dir, ref string, want v1.Hash) v1.Image {
	t.Helper()
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatalf("layout.FromPath(%s): %v", dir, err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatalf("layout index: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatalf("layout index manifest: %v", err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("layout %s has %d manifests, want 1", dir, len(im.Manifests))
	}
	desc := im.Manifests[0]
	if got := desc.Annotations[RefNameAnnotation]; got != ref {
		t.Errorf("%s = %q, want %q", RefNameAnnotation, got, ref)
	}
	if desc.Digest != want {
		t.Errorf("layout manifest digest = %s, want %s", desc.Digest, want)
	}
	if desc.MediaType != types.OCIManifestSchema1 {
		t.Errorf("layout manifest media type = %s, want %s", desc.MediaType, types.OCIManifestSchema1)
	}
	if desc.Platform == nil || desc.Platform.OS != "linux" || desc.Platform.Architecture != "amd64" {
		t.Errorf("layout manifest platform = %+v, want linux/amd64", desc.Platform)
	}
	img, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatalf("image %s: %v", desc.Digest, err)
	}
	return img
}

func checkConfig(t *testing.T, img v1.Image, created time.Time) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform = %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	if !cf.Created.Equal(created) {
		t.Errorf("created = %s, want %s", cf.Created, created)
	}
	c := cf.Config
	if diff := cmp.Diff([]string{"/manager"}, c.Entrypoint); diff != "" {
		t.Errorf("entrypoint (-want +got):\n%s", diff)
	}
	if len(c.Cmd) != 0 {
		t.Errorf("cmd = %q, want none", c.Cmd)
	}
	if c.User != "65532:65532" {
		t.Errorf("user = %q, want 65532:65532", c.User)
	}
	if uid, _, _ := strings.Cut(c.User, ":"); uid == "" || uid == "0" || uid == "root" {
		t.Errorf("user %q is root", c.User)
	}
	if c.WorkingDir != "/" {
		t.Errorf("working dir = %q, want /", c.WorkingDir)
	}
	if diff := cmp.Diff([]string{"PATH=/"}, c.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.title":    "mpijob-platform-operator",
		"org.opencontainers.image.version":  packaging.Version,
		"org.opencontainers.image.licenses": "Apache-2.0",
		"version":                           packaging.Version,
		"name":                              "mpijob-platform-operator",
	} {
		if got := c.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"org.opencontainers.image.description", "summary", "description", "io.k8s.display-name", "io.k8s.description", "io.openshift.tags"} {
		if c.Labels[k] == "" {
			t.Errorf("label %s is missing", k)
		}
	}
	if diff := cmp.Diff(Labels(packaging.Version), c.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if len(cf.RootFS.DiffIDs) != 1 || len(cf.History) != 1 {
		t.Errorf("rootfs has %d layers and %d history entries, want 1 and 1", len(cf.RootFS.DiffIDs), len(cf.History))
	}
}

type layerFile struct {
	hdr  *tar.Header
	body []byte
}

// readLayer returns the single layer's entries by name (no leading "/"
// or "./", directories without their trailing "/").
func readLayer(t *testing.T, img v1.Image) map[string]layerFile {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatalf("layers: %v", err)
	}
	if len(layers) != 1 {
		t.Fatalf("image has %d layers, want 1", len(layers))
	}
	mt, err := layers[0].MediaType()
	if err != nil {
		t.Fatal(err)
	}
	if mt != types.OCILayer {
		t.Errorf("layer media type = %s, want %s", mt, types.OCILayer)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatalf("layer: %v", err)
	}
	defer rc.Close()
	files := map[string]layerFile{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("layer tar: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("layer tar %s: %v", hdr.Name, err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(hdr.Name, "./"), "/"), "/")
		if _, dup := files[name]; dup {
			t.Errorf("layer has %s twice", name)
		}
		files[name] = layerFile{hdr: hdr, body: body}
	}
	return files
}

func checkFiles(t *testing.T, files map[string]layerFile, created time.Time) {
	t.Helper()
	var names []string
	for n, f := range files {
		names = append(names, n)
		if !f.hdr.ModTime.Equal(created) {
			t.Errorf("%s mtime = %s, want %s", n, f.hdr.ModTime, created)
		}
	}
	want := []string{"etc", "etc/group", "etc/passwd", "home", "home/nonroot", "manager", "tmp"}
	if diff := cmp.Diff(want, slices.Sorted(slices.Values(names))); diff != "" {
		t.Errorf("layer entries (-want +got):\n%s", diff)
	}

	mgr, ok := files["manager"]
	switch {
	case !ok:
		t.Fatal("layer has no /manager")
	case mgr.hdr.Typeflag != tar.TypeReg:
		t.Errorf("/manager type = %c, want a regular file", mgr.hdr.Typeflag)
	case mgr.hdr.FileInfo().Mode()&0o111 == 0:
		t.Errorf("/manager mode = %s, not executable", mgr.hdr.FileInfo().Mode())
	}
	if m := mgr.hdr.FileInfo().Mode().Perm(); m != 0o755 {
		t.Errorf("/manager mode = %o, want 755", m)
	}
	if mgr.hdr.Uid != 65532 || mgr.hdr.Gid != 65532 {
		t.Errorf("/manager owner = %d:%d, want 65532:65532", mgr.hdr.Uid, mgr.hdr.Gid)
	}

	passwd := string(files["etc/passwd"].body)
	if !strings.Contains(passwd, "nonroot:x:65532:65532") {
		t.Errorf("/etc/passwd has no nonroot:x:65532:65532 entry:\n%s", passwd)
	}
	if !strings.HasPrefix(passwd, "root:x:0:0:") {
		t.Errorf("/etc/passwd has no root entry first:\n%s", passwd)
	}
	group := string(files["etc/group"].body)
	if !strings.Contains(group, "nonroot:x:65532:") || !strings.Contains(group, "root:x:0:") {
		t.Errorf("/etc/group lacks root or nonroot:\n%s", group)
	}

	tmp, ok := files["tmp"]
	if !ok {
		t.Fatal("layer has no /tmp")
	}
	mode := tmp.hdr.FileInfo().Mode()
	if !mode.IsDir() || mode&fs.ModeSticky == 0 || mode.Perm() != 0o777 {
		t.Errorf("/tmp mode = %s (%o), want a directory with mode 1777", mode, tmp.hdr.Mode)
	}
	if tmp.hdr.Mode&0o7777 != 0o1777 {
		t.Errorf("/tmp tar mode = %o, want 1777", tmp.hdr.Mode)
	}
	if len(tmp.body) != 0 {
		t.Errorf("/tmp carries data")
	}
}

// checkStaticELF checks that the binary in the layer is a linux/amd64 ELF
// executable without a program interpreter, i.e. statically linked.
func checkStaticELF(t *testing.T, bin []byte) {
	t.Helper()
	if !bytes.HasPrefix(bin, []byte("\x7fELF")) {
		t.Fatalf("/manager does not start with the ELF magic: % x", bin[:min(len(bin), 4)])
	}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("/manager is not an ELF file: %v", err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		t.Errorf("/manager is %s %s, want ELFCLASS64 EM_X86_64", f.Class, f.Machine)
	}
	if f.Type != elf.ET_EXEC {
		t.Errorf("/manager ELF type = %s, want ET_EXEC (a static, non-PIE executable)", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("/manager has a PT_INTERP program header: it is dynamically linked")
		}
		if p.Type == elf.PT_DYNAMIC {
			t.Errorf("/manager has a PT_DYNAMIC program header: it is dynamically linked")
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		t.Errorf("/manager needs shared libraries %v", libs)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("/manager has a symbol table; it should be built with -ldflags \"-s -w\"")
	}
}

// TestContainerfileMatches checks that the Containerfile describes the same
// image as tools/image: version, labels, user, entrypoint, passwd/group.
func TestContainerfileMatches(t *testing.T) {
	root, err := FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "Containerfile"))
	if err != nil {
		t.Fatal(err)
	}
	insts := instructions(string(data))

	var froms []string
	var version string
	labels := map[string]string{}
	last := map[string]string{}
	labelRE := regexp.MustCompile(`([A-Za-z0-9_.\-]+)="([^"]*)"`)
	for _, in := range insts {
		kw, rest, _ := strings.Cut(in, " ")
		kw = strings.ToUpper(kw)
		rest = strings.TrimSpace(rest)
		last[kw] = rest
		switch kw {
		case "FROM":
			froms = append(froms, rest)
		case "ARG":
			if v, ok := strings.CutPrefix(rest, "VERSION="); ok {
				version = v
			}
		case "LABEL":
			for _, m := range labelRE.FindAllStringSubmatch(rest, -1) {
				labels[m[1]] = m[2]
			}
		}
	}
	if version != packaging.Version {
		t.Errorf("Containerfile ARG VERSION=%q, want packaging.Version %q", version, packaging.Version)
	}
	for k, v := range labels {
		labels[k] = strings.ReplaceAll(v, "${VERSION}", version)
	}
	if diff := cmp.Diff(Labels(packaging.Version), labels); diff != "" {
		t.Errorf("Containerfile labels differ from Labels() (-tools/image +Containerfile):\n%s", diff)
	}
	if len(froms) != 2 || !strings.HasSuffix(froms[0], " AS builder") || froms[1] != "scratch" {
		t.Errorf("Containerfile stages = %q, want a builder stage and FROM scratch", froms)
	}
	for _, f := range froms {
		image := strings.Fields(f)
		for _, w := range image {
			if strings.HasPrefix(w, "--") || w == "AS" {
				continue
			}
			if first, _, ok := strings.Cut(w, "/"); ok && strings.ContainsAny(first, ".:") {
				t.Errorf("Containerfile FROM %q names a registry host", f)
			}
		}
	}
	for kw, want := range map[string]string{"USER": User, "ENTRYPOINT": `["` + Entrypoint + `"]`, "WORKDIR": "/", "ENV": "PATH=/"} {
		if last[kw] != want {
			t.Errorf("Containerfile %s = %q, want %q", kw, last[kw], want)
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags="-s -w"`, "./operator/cmd/manager", "chmod 1777 /rootfs/tmp",
		printfEscape(Passwd), printfEscape(Group)} {
		if !strings.Contains(string(data), want) {
			t.Errorf("Containerfile lacks %q", want)
		}
	}
}

// instructions joins continuation lines and drops comments.
func instructions(s string) []string {
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if l, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(l)
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

func printfEscape(s string) string { return strings.ReplaceAll(s, "\n", `\n`) }

func TestCreatedTime(t *testing.T) {
	t.Setenv(SourceDateEpochEnv, "")
	got, err := CreatedTime()
	if err != nil || !got.Equal(time.Unix(0, 0)) {
		t.Errorf("CreatedTime() without %s = %s, %v; want the epoch", SourceDateEpochEnv, got, err)
	}
	t.Setenv(SourceDateEpochEnv, "1700000000")
	got, err = CreatedTime()
	if err != nil || !got.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("CreatedTime() = %s, %v; want 1700000000", got, err)
	}
	t.Setenv(SourceDateEpochEnv, "yesterday")
	if _, err := CreatedTime(); err == nil {
		t.Errorf("CreatedTime() accepted %s=yesterday", SourceDateEpochEnv)
	}
}

func TestPrepareOutRefusesForeignFolder(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := prepareOut(dir); err == nil {
		t.Fatal("prepareOut emptied a folder that holds no OCI layout")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("prepareOut removed a file it does not own: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion": "1.0.0"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := prepareOut(dir); err != nil {
		t.Fatalf("prepareOut on an earlier layout: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("prepareOut left %d entries in an earlier layout", len(entries))
	}
	if err := prepareOut(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("prepareOut on a missing folder: %v", err)
	}
}

func TestBuildRejectsUnknownArch(t *testing.T) {
	_, err := Build(t.Context(), Options{Out: t.TempDir(), Arches: []string{"s390x"}})
	if err == nil || !strings.Contains(err.Error(), "s390x") {
		t.Errorf("Build with arch s390x = %v, want an error naming it", err)
	}
	_, err = Build(t.Context(), Options{Out: t.TempDir(), Arches: []string{"amd64", "amd64"}})
	if err == nil {
		t.Error("Build accepted amd64 twice")
	}
}

func TestCheckBinaryRejectsNonELF(t *testing.T) {
	notELF := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CheckBinary(notELF, "amd64"); err == nil {
		t.Error("CheckBinary accepted a shell script")
	}
}
