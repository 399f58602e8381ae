// Package releases reads upgrade/releases.yaml, the release history of the
// platform's OLM package: which versions were published, in which channels,
// what each one replaces and which bundle image holds it. The bundle
// generator (tools/bundle) takes the current version's channels from it and
// the catalog generator (tools/catalog) renders the upgrade graph from it.
package releases

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/blang/semver/v4"
	"sigs.k8s.io/yaml"
)

// Path is where the release history lives, relative to the repository root.
const Path = "upgrade/releases.yaml"

// CRDsDir holds one folder per release, named by its version, with the CRDs
// that release shipped (e.g. upgrade/crds/1.0.0/*.yaml).
const CRDsDir = "upgrade/crds"

// File is the content of upgrade/releases.yaml.
type File struct {
	// Package is the OLM package name.
	Package string `json:"package"`
	// DefaultChannel is the channel a Subscription without one follows.
	DefaultChannel string `json:"defaultChannel"`
	// Channels of the package, each with what it promises.
	Channels []Channel `json:"channels"`
	// Releases in ascending version order, oldest first.
	Releases []Release `json:"releases"`
}

// Channel is one upgrade channel.
type Channel struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// Release is one published version.
type Release struct {
	// Version is the semantic version (the CSV's spec.version).
	Version string `json:"version"`
	// Channels that carry this release.
	Channels []string `json:"channels"`
	// Replaces maps each of Channels to the version this release replaces
	// there: the previous release of that channel. A channel where this is
	// the first release has no entry.
	Replaces map[string]string `json:"replaces,omitempty"`
	// SkipRange is a semver range of versions that may upgrade straight to
	// this one, in addition to the Replaces chain.
	SkipRange string `json:"skipRange,omitempty"`
	// BundleImage is the image holding this release's bundle/ folder.
	BundleImage string `json:"bundleImage"`
	// OperatorImage is the operator image the release's CSV deploys.
	OperatorImage string `json:"operatorImage"`
	// Note says what the release brings, for people reading the history.
	Note string `json:"note,omitempty"`
	// Commit is the commit of this repository the release was cut from (40
	// hex digits): its bundle/, chart and binaries build from there. The
	// upgrade e2e builds the previous release from it.
	Commit string `json:"commit,omitempty"`
}

// CSVName is the ClusterServiceVersion (and catalog bundle) name of version.
func (f *File) CSVName(version string) string {
	return f.Package + ".v" + version
}

var fullCommit = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Load reads and validates root/upgrade/releases.yaml.
func Load(root string) (*File, error) {
	data, err := os.ReadFile(filepath.Join(root, Path))
	if err != nil {
		return nil, fmt.Errorf("read release history: %w", err)
	}
	return Parse(data)
}

// Parse decodes a releases.yaml document strictly and validates it.
func Parse(data []byte) (*File, error) {
	f := &File{}
	if err := yaml.UnmarshalStrict(data, f); err != nil {
		return nil, fmt.Errorf("%s: %w", Path, err)
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", Path, err)
	}
	return f, nil
}

// Find returns the release of version.
func (f *File) Find(version string) (Release, bool) {
	for _, r := range f.Releases {
		if r.Version == version {
			return r, true
		}
	}
	return Release{}, false
}

// Latest returns the newest release.
func (f *File) Latest() Release {
	return f.Releases[len(f.Releases)-1]
}

// InChannel returns the releases a channel carries, oldest first.
func (f *File) InChannel(channel string) []Release {
	var out []Release
	for _, r := range f.Releases {
		if slices.Contains(r.Channels, channel) {
			out = append(out, r)
		}
	}
	return out
}

// ChannelNames lists the channels in the order the file declares them.
func (f *File) ChannelNames() []string {
	names := make([]string, 0, len(f.Channels))
	for _, c := range f.Channels {
		names = append(names, c.Name)
	}
	return names
}

// SnapshotDir is the folder with the CRDs release version shipped.
func SnapshotDir(root, version string) string {
	return filepath.Join(root, CRDsDir, version)
}

// Validate checks the history is a well-formed upgrade graph: versions are
// semantic and ascending, every release names channels that exist, and each
// release's Replaces names exactly the previous release of each of its
// channels, so every channel is one linear replaces chain.
func (f *File) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if f.Package == "" {
		add("package is empty")
	}
	declared := map[string]bool{}
	for _, c := range f.Channels {
		if c.Name == "" {
			add("a channel has no name")
		}
		if declared[c.Name] {
			add("channel %q is declared twice", c.Name)
		}
		declared[c.Name] = true
	}
	if !declared[f.DefaultChannel] {
		add("defaultChannel %q is not one of channels %v", f.DefaultChannel, f.ChannelNames())
	}
	if len(f.Releases) == 0 {
		add("no releases")
	}

	var prev *semver.Version
	last := map[string]string{} // channel -> newest release seen so far
	for i, r := range f.Releases {
		where := fmt.Sprintf("releases[%d] (%s)", i, r.Version)
		v, err := semver.Parse(r.Version)
		if err != nil {
			add("%s: version is not semantic (MAJOR.MINOR.PATCH[-PRERELEASE]): %w", where, err)
			continue
		}
		if prev != nil && !v.GT(*prev) {
			add("%s: versions must ascend, oldest first; %s is not after %s", where, v, prev)
		}
		prev = &v
		if r.BundleImage == "" {
			add("%s: bundleImage is empty", where)
		}
		if r.OperatorImage == "" {
			add("%s: operatorImage is empty", where)
		}
		if r.Commit != "" && !fullCommit.MatchString(r.Commit) {
			add("%s: commit %q is not a full commit hash (40 lowercase hex digits)", where, r.Commit)
		}
		if len(r.Channels) == 0 {
			add("%s: is in no channel", where)
		}
		seen := map[string]bool{}
		for _, ch := range r.Channels {
			if !declared[ch] {
				add("%s: channel %q is not declared", where, ch)
			}
			if seen[ch] {
				add("%s: channel %q is listed twice", where, ch)
			}
			seen[ch] = true
		}
		for ch := range r.Replaces {
			if !seen[ch] {
				add("%s: replaces names channel %q, which does not carry this release", where, ch)
			}
		}
		for _, ch := range r.Channels {
			want, had := last[ch]
			got, has := r.Replaces[ch]
			switch {
			case had && !has:
				add("%s: in channel %q it must replace %s, the channel's previous release (replaces: {%s: %s})", where, ch, want, ch, want)
			case had && got != want:
				add("%s: in channel %q it replaces %s, but the channel's previous release is %s", where, ch, got, want)
			case !had && has:
				add("%s: it is the first release of channel %q and cannot replace %s", where, ch, got)
			}
			last[ch] = r.Version
		}
		if r.SkipRange != "" {
			rng, err := semver.ParseRange(r.SkipRange)
			if err != nil {
				add("%s: skipRange %q: %w", where, r.SkipRange, err)
			} else if rng(v) {
				add("%s: skipRange %q includes the release itself", where, r.SkipRange)
			}
		}
	}
	for _, c := range f.Channels {
		if _, ok := last[c.Name]; !ok && c.Name != "" {
			add("channel %q has no release (a catalog channel needs at least one entry)", c.Name)
		}
	}
	return errors.Join(errs...)
}
