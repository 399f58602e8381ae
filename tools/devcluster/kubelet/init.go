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
	// Overlays lay Lower (a profile's tree, may be empty) over Target
	// with a writable layer in the container's tmpfs.
	Overlays []Overlay `json:"overlays"`
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

// Overlay is one directory seen through a profile.
type Overlay struct {
	Target string `json:"target"`
	Lower  string `json:"lower,omitempty"`
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

// RunInit is the container's PID 1: it sets up the mounts, starts the
// command as the pod's user, passes signals on, reaps every orphan, and
// exits with the command's status. It never returns.
func RunInit(specPath string) {
	spec := &InitSpec{}
	data, err := os.ReadFile(specPath)
	if err == nil {
		err = json.Unmarshal(data, spec)
	}
	if err == nil {
		err = setupMounts(spec)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "process runtime: setting up the container: %v\n", err)
		os.Exit(exitSetupFailed)
	}
	os.Exit(runCommand(spec))
}

func setupMounts(spec *InitSpec) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
		return fmt.Errorf("setting hostname: %w", err)
	}
	// Bind sources may live under /tmp or /run, which are replaced below:
	// hold them open and bind from the descriptors.
	sources := make([]*os.File, len(spec.Binds))
	for i, b := range spec.Binds {
		f, err := os.OpenFile(b.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("volume source: %w", err)
		}
		defer f.Close()
		sources[i] = f
	}
	lowers := make([]string, len(spec.Overlays))
	for i, o := range spec.Overlays {
		if o.Lower != "" {
			if _, err := os.Stat(o.Lower); err == nil {
				lowers[i] = o.Lower
			}
		}
	}
	// A fresh /run holds the writable layers and sshd's privilege
	// separation directory.
	if err := unix.Mount("tmpfs", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mounting /run: %w", err)
	}
	for i, o := range spec.Overlays {
		if _, err := os.Stat(o.Target); err != nil {
			continue // the host has no such directory; nothing to lay over
		}
		upper := fmt.Sprintf("/run/.container/%d/upper", i)
		work := fmt.Sprintf("/run/.container/%d/work", i)
		for _, d := range []string{upper, work} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		lower := o.Target
		if lowers[i] != "" {
			lower = lowers[i] + ":" + o.Target
		}
		opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
		if err := unix.Mount("overlay", o.Target, "overlay", 0, opts); err != nil {
			return fmt.Errorf("overlay on %s: %w", o.Target, err)
		}
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return err
	}
	for _, d := range []string{"/tmp", "/dev/shm"} {
		if err := unix.Mount("tmpfs", d, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
			return fmt.Errorf("mounting %s: %w", d, err)
		}
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	for i, b := range spec.Binds {
		if err := bindMount(sources[i], b); err != nil {
			return err
		}
	}
	return nil
}

func bindMount(src *os.File, b Bind) error {
	if err := insideWritable(b.Target); err != nil {
		return err
	}
	st, err := src.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() {
		if err := os.MkdirAll(b.Target, 0o755); err != nil {
			return fmt.Errorf("volume mount %s: %w", b.Target, err)
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(b.Target), 0o755); err != nil {
			return fmt.Errorf("volume mount %s: %w", b.Target, err)
		}
		if f, err := os.OpenFile(b.Target, os.O_CREATE|os.O_RDONLY, 0o644); err == nil {
			f.Close()
		}
	}
	from := fmt.Sprintf("/proc/self/fd/%d", src.Fd())
	if err := unix.Mount(from, b.Target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("volume mount %s: %w", b.Target, err)
	}
	if b.ReadOnly {
		if err := unix.Mount("", b.Target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("volume mount %s read-only: %w", b.Target, err)
		}
	}
	return nil
}

// insideWritable refuses mount paths where creating the mount point would
// change the host's own file system.
func insideWritable(target string) error {
	if err := CheckMountPath(target); err != nil {
		return err
	}
	return nil
}

// CheckMountPath says whether the runtime can mount a volume at path: under
// an overlaid or private directory, or exactly at an existing host directory
// (which the mount then hides inside the container only).
func CheckMountPath(path string) error {
	clean := filepath.Clean(path)
	if !filepath.IsAbs(clean) {
		return fmt.Errorf("mount path %q is not absolute", path)
	}
	clean = resolveExisting(clean)
	for _, d := range append(append([]string{}, OverlayDirs...), PrivateDirs...) {
		if clean == d || strings.HasPrefix(clean, d+"/") {
			return nil
		}
	}
	if st, err := os.Stat(clean); err == nil && st.IsDir() {
		return nil
	}
	return fmt.Errorf("mount path %q is outside the directories the process runtime can give a pod (%s)",
		path, strings.Join(append(append([]string{}, OverlayDirs...), PrivateDirs...), ", "))
}

// resolveExisting follows the symbolic links of the longest existing prefix
// of path (/var/run is /run on Debian).
func resolveExisting(path string) string {
	rest := ""
	for p := path; ; p = filepath.Dir(p) {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(real, rest)
		}
		if p == "/" {
			return path
		}
		rest = filepath.Join(filepath.Base(p), rest)
	}
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
