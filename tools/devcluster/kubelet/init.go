package kubelet

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// InitSpec is what the kubelet tells the container's first process. The
// process starts as PID 1 of a fresh PID namespace, inside the pod's network
// namespace, in a mount namespace of its own (ip netns exec made it) and a
// UTS namespace of its own.
type InitSpec struct {
	Hostname string `json:"hostname"`
	// Profile is the image's tree, laid over the host's root (may be
	// empty).
	Profile string `json:"profile,omitempty"`
	// Scratch is an empty folder of the pod's where the container's root
	// is assembled (a tmpfs is mounted on it, inside the container only).
	Scratch string `json:"scratch"`
	// Binds are volumes and the pod's /etc/hosts, /etc/hostname and
	// /etc/resolv.conf, mounted last.
	Binds   []Bind   `json:"binds"`
	Command []string `json:"command"`
	Env     []string `json:"env"`
	Dir     string   `json:"dir,omitempty"`
	UID     uint32   `json:"uid"`
	GID     uint32   `json:"gid"`
	Groups  []uint32 `json:"groups,omitempty"`
}

// Bind is one bind mount.
type Bind struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// exit codes of the init process itself, beyond the program's own.
const (
	exitSetupFailed = 128 // mounts or namespaces could not be set up
	exitNotFound    = 127 // the command does not exist (like a shell's)
	exitNoExec      = 126 // it exists but cannot be executed
)

// The handshake's file descriptors in the init process (ExtraFiles 0 and 1).
const (
	handshakeGo      = 3
	handshakeStarted = 4
)

// RunInit is the container's PID 1: it sets up the container's root, starts
// the command as the pod's user, passes signals on, reaps every orphan, and
// exits with the command's status. It never returns.
func RunInit(specPath string) {
	// The runtime hands over two pipe ends: fd 3 says "you are in your
	// cgroup, go on", fd 4 is closed-with-a-byte once the command runs. The
	// command inherits neither.
	for _, fd := range []int{handshakeGo, handshakeStarted} {
		unix.CloseOnExec(fd)
	}
	spec := &InitSpec{}
	data, err := os.ReadFile(specPath)
	if err == nil {
		err = json.Unmarshal(data, spec)
	}
	if err == nil {
		err = setupRoot(spec)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "process runtime: setting up the container: %v\n", err)
		os.Exit(exitSetupFailed)
	}
	os.Exit(runCommand(spec))
}

// setupRoot gives the container a root of its own: each directory of the
// host's root with the profile's tree on top, seen through an overlay whose
// writable layer is a tmpfs (so a pod never changes the host's files, and
// may mount a volume anywhere), fresh /proc, /tmp, /run and /dev/shm, the
// host's /dev and the network namespace's /sys, and the volumes. It then
// pivots into it. (One overlay of all of / cannot be: the profile lives
// below /, and overlayfs refuses layers inside one another.)
func setupRoot(spec *InitSpec) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
		return fmt.Errorf("setting hostname: %w", err)
	}
	// Bind sources are held open: the new root hides their paths.
	sources := make([]*os.File, len(spec.Binds))
	for i, b := range spec.Binds {
		f, err := os.OpenFile(b.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("volume source: %w", err)
		}
		defer f.Close()
		sources[i] = f
	}
	s := spec.Scratch
	if err := unix.Mount("tmpfs", s, "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("scratch tmpfs: %w", err)
	}
	root := s + "/root"
	if err := overlayRoot(root, s, spec.Profile); err != nil {
		return err
	}
	type mnt struct {
		source, target, fstype string
		flags                  uintptr
		data                   string
	}
	for _, m := range []mnt{
		{"/dev", "/dev", "", unix.MS_BIND | unix.MS_REC, ""},
		{"/sys", "/sys", "", unix.MS_BIND | unix.MS_REC, ""}, // ip netns exec's sysfs of the pod's network
		{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
		{"tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	} {
		target := root + m.target
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.source, target, m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("mounting %s: %w", m.target, err)
		}
	}
	// sshd's privilege separation directory.
	if err := os.MkdirAll(root+"/run/sshd", 0o755); err != nil {
		return err
	}
	for i, b := range spec.Binds {
		if err := bindMount(sources[i], root, b); err != nil {
			return err
		}
	}
	old := root + "/.oldroot"
	if err := os.MkdirAll(old, 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(root, old); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.oldroot", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host's root: %w", err)
	}
	return os.Remove("/.oldroot")
}

// privateTopDirs get fresh mounts in every container instead of the host's.
var privateTopDirs = map[string]bool{"proc": true, "sys": true, "dev": true, "run": true, "tmp": true}

// overlayRoot assembles root from the host's top-level entries: symbolic
// links as they are, directories as overlays (the profile's same directory
// on top, when it has one) with their writable layers under scratch.
func overlayRoot(root, scratch, profile string) error {
	entries, err := os.ReadDir("/")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	// pivot_root wants the new root to be a mount of its own.
	if err := unix.Mount("tmpfs", root, "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("root tmpfs: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		target := filepath.Join(root, name)
		if privateTopDirs[name] {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		}
		if e.Type()&os.ModeSymlink != 0 {
			link, err := os.Readlink("/" + name)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, target); err != nil {
				return err
			}
			continue
		}
		if !e.IsDir() {
			continue // files at the top of the host's root are not the image's
		}
		lower := "/" + name
		if profile != "" && !strings.HasPrefix(profile, lower+"/") {
			if st, err := os.Stat(filepath.Join(profile, name)); err == nil && st.IsDir() {
				lower = filepath.Join(profile, name) + ":" + lower
			}
		}
		upper, work := filepath.Join(scratch, "upper", name), filepath.Join(scratch, "work", name)
		for _, d := range []string{upper, work, target} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		if err := unix.Mount("overlay", target, "overlay", 0, "lowerdir="+lower+",upperdir="+upper+",workdir="+work); err != nil {
			return fmt.Errorf("overlay on /%s: %w", name, err)
		}
	}
	return nil
}

func bindMount(src *os.File, root string, b Bind) error {
	if err := CheckMountPath(b.Target); err != nil {
		return err
	}
	target, err := resolveIn(root, b.Target)
	if err != nil {
		return fmt.Errorf("volume mount %s: %w", b.Target, err)
	}
	st, err := src.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() {
		if err := os.MkdirAll(target, 0o755); err != nil {
			return fmt.Errorf("volume mount %s: %w", b.Target, err)
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return fmt.Errorf("volume mount %s: %w", b.Target, err)
		}
		if f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o644); err == nil {
			f.Close()
		}
	}
	from := fmt.Sprintf("/proc/self/fd/%d", src.Fd())
	if err := unix.Mount(from, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("volume mount %s: %w", b.Target, err)
	}
	if b.ReadOnly {
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("volume mount %s read-only: %w", b.Target, err)
		}
	}
	return nil
}

// resolveIn is path inside root with every symbolic link on the way
// followed as the container will see it (an absolute link is relative to
// root), so that a mount point never lands outside the container's root
// (/var/run is a link to /run).
func resolveIn(root, path string) (string, error) {
	parts := strings.Split(strings.Trim(filepath.Clean(path), "/"), "/")
	cur := "/"
	for hops := 0; len(parts) > 0; {
		next := filepath.Join(cur, parts[0])
		parts = parts[1:]
		st, err := os.Lstat(filepath.Join(root, next))
		if err != nil || st.Mode()&os.ModeSymlink == 0 {
			cur = next // a directory, or not there yet (created later)
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("too many symbolic links in %s", path)
		}
		link, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(cur, link)
		}
		parts = append(strings.Split(strings.Trim(filepath.Clean(link), "/"), "/"), parts...)
		cur = "/"
	}
	if err := CheckMountPath(cur); err != nil {
		return "", err
	}
	return filepath.Join(root, cur), nil
}

// reservedMounts are where the runtime mounts what every container has.
var reservedMounts = []string{"/proc", "/sys", "/dev"}

// CheckMountPath says whether the runtime can mount a volume at path:
// anywhere but inside /proc, /sys and /dev (whose contents the runtime
// provides), and never at /.
func CheckMountPath(path string) error {
	clean := filepath.Clean(path)
	if !filepath.IsAbs(clean) {
		return fmt.Errorf("mount path %q is not absolute", path)
	}
	if clean == "/" {
		return fmt.Errorf("mount path %q would hide the whole image", path)
	}
	for _, d := range reservedMounts {
		if clean == d || strings.HasPrefix(clean, d+"/") {
			return fmt.Errorf("mount path %q is inside %s, which the process runtime provides itself", path, d)
		}
	}
	return nil
}

func runCommand(spec *InitSpec) int {
	if len(spec.Command) == 0 {
		fmt.Fprintln(os.Stderr, "process runtime: the container has no command and its image no entrypoint")
		return exitNotFound
	}
	path, err := lookPath(spec.Command[0], spec.Env)
	if err != nil {
		fmt.Fprintf(os.Stderr, "process runtime: %v\n", err)
		return exitNotFound
	}
	dir := spec.Dir
	if dir == "" {
		dir = "/"
	}
	// Like container runtimes, create a missing working directory (in the
	// container's writable layer), owned by the container's user.
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		if err := os.MkdirAll(dir, 0o755); err == nil {
			_ = os.Chown(dir, int(spec.UID), int(spec.GID))
		}
	}
	// Wait until the runtime has put this process into the container's
	// cgroup, so the command's memory is counted from its first page.
	goAhead := os.NewFile(handshakeGo, "handshake-go")
	_, _ = goAhead.Read(make([]byte, 1))
	_ = goAhead.Close()
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGCHLD)
	proc, err := os.StartProcess(path, spec.Command, &os.ProcAttr{
		Dir:   dir,
		Env:   spec.Env,
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys: &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: spec.UID, Gid: spec.GID, Groups: spec.Groups},
			Setsid:     true,
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "process runtime: starting %s: %v\n", spec.Command[0], err)
		if errors.Is(err, os.ErrPermission) {
			return exitNoExec
		}
		return exitNotFound
	}
	// The command runs: the runtime may now report the container Running.
	started := os.NewFile(handshakeStarted, "handshake-started")
	_, _ = started.Write([]byte{1})
	_ = started.Close()
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			_ = syscall.Kill(proc.Pid, sig.(syscall.Signal))
			continue
		}
		// Reap every child that exited: the command and any orphan
		// reparented to us.
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if err != nil || pid <= 0 {
				break
			}
			if pid == proc.Pid {
				if ws.Signaled() {
					return 128 + int(ws.Signal())
				}
				return ws.ExitStatus()
			}
		}
	}
	return exitSetupFailed
}

// lookPath resolves name with the container's PATH (not the kubelet's).
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", fmt.Errorf("%s: no such file in the image", name)
		}
		return name, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: executable not found in $PATH (%s)", name, path)
}
