package kubelet

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Memory limits: each container runs in a memory cgroup of its own, below
// the runtime's own cgroup, with the container's memory limit, so that a
// container that exceeds it is killed by the kernel and reported OOMKilled,
// as on a real node. Where the machine's cgroups cannot be written (no
// memory controller, a read-only hierarchy), limits are not enforced and
// the runtime says so once in its log.

// cgroups is the runtime's parent memory cgroup.
type cgroups struct {
	dir string // absolute path of the parent cgroup folder
	v2  bool   // unified hierarchy (memory.max, memory.events)
}

// cgroupFile records the parent cgroup in the runtime's folder, so that
// cleanup from another process (make cluster-down) finds it.
const cgroupFile = "cgroup"

// newCgroups makes the runtime's parent memory cgroup below the one this
// process runs in. It returns nil and the reason when limits cannot be
// enforced here.
func newCgroups(runtimeDir string) (*cgroups, error) {
	base, v2, err := ownMemoryCgroup()
	if err != nil {
		return nil, err
	}
	cg := &cgroups{dir: filepath.Join(base, NetnsPrefix(runtimeDir)+"pods"), v2: v2}
	_ = cg.removeAll()
	if err := os.Mkdir(cg.dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating memory cgroup %s: %w", cg.dir, err)
	}
	if v2 {
		// Children may use the memory controller only when the parent
		// delegates it.
		if err := os.WriteFile(filepath.Join(cg.dir, "cgroup.subtree_control"), []byte("+memory"), 0o644); err != nil {
			_ = os.Remove(cg.dir)
			return nil, fmt.Errorf("delegating the memory controller: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(runtimeDir, cgroupFile), []byte(cg.dir+"\n"), 0o644); err != nil {
		return nil, err
	}
	return cg, nil
}

// ownMemoryCgroup finds this process's memory cgroup folder.
func ownMemoryCgroup() (dir string, v2 bool, err error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	var unified string
	s := bufio.NewScanner(f)
	for s.Scan() {
		parts := strings.SplitN(s.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				d := filepath.Join("/sys/fs/cgroup/memory", parts[2])
				if _, err := os.Stat(filepath.Join(d, "memory.limit_in_bytes")); err == nil {
					return d, false, nil
				}
			}
		}
		if parts[0] == "0" && parts[1] == "" {
			unified = parts[2]
		}
	}
	if unified != "" {
		d := filepath.Join("/sys/fs/cgroup", unified)
		if _, err := os.Stat(filepath.Join(d, "memory.max")); err == nil {
			return d, true, nil
		}
	}
	return "", false, errors.New("no writable memory cgroup controller")
}

// containerCgroup is one container run's cgroup.
type containerCgroup struct {
	dir string
	v2  bool
}

// add makes a cgroup for one container run with the memory limit (0: none)
// and moves pid into it.
func (cg *cgroups) add(name string, limit int64, pid int) (*containerCgroup, error) {
	c := &containerCgroup{dir: filepath.Join(cg.dir, name), v2: cg.v2}
	if err := os.Mkdir(c.dir, 0o755); err != nil && !os.IsExist(err) {
		return nil, err
	}
	if limit > 0 {
		files := []struct{ name, value string }{{"memory.limit_in_bytes", strconv.FormatInt(limit, 10)}}
		if cg.v2 {
			files = []struct{ name, value string }{{"memory.max", strconv.FormatInt(limit, 10)}, {"memory.swap.max", "0"}}
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(c.dir, f.name), []byte(f.value), 0o644); err != nil {
				c.remove()
				return nil, fmt.Errorf("setting %s: %w", f.name, err)
			}
		}
		if !cg.v2 {
			// No swapping around the limit (where swap accounting exists).
			_ = os.WriteFile(filepath.Join(c.dir, "memory.memsw.limit_in_bytes"), []byte(strconv.FormatInt(limit, 10)), 0o644)
			_ = os.WriteFile(filepath.Join(c.dir, "memory.swappiness"), []byte("0"), 0o644)
		}
	}
	if err := os.WriteFile(filepath.Join(c.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		c.remove()
		return nil, fmt.Errorf("moving pid %d into %s: %w", pid, c.dir, err)
	}
	return c, nil
}

// oomKilled says whether the kernel killed a process of the cgroup for
// exceeding its memory limit.
func (c *containerCgroup) oomKilled() bool {
	file := "memory.oom_control"
	if c.v2 {
		file = "memory.events"
	}
	data, err := os.ReadFile(filepath.Join(c.dir, file))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "oom_kill" && f[1] != "0" {
			return true
		}
	}
	return false
}

// remove deletes the cgroup once its processes are gone.
func (c *containerCgroup) remove() {
	for i := 0; i < 50; i++ {
		if err := os.Remove(c.dir); err == nil || os.IsNotExist(err) {
			return
		}
		time.Sleep(20 * time.Millisecond) // exiting processes leave it a moment later
	}
}

func (cg *cgroups) removeAll() error {
	entries, err := os.ReadDir(cg.dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			(&containerCgroup{dir: filepath.Join(cg.dir, e.Name())}).remove()
		}
	}
	return os.Remove(cg.dir)
}

// RemoveCgroups deletes the memory cgroups of the runtime in dir (after
// its processes are gone) and returns how many container cgroups were left.
func RemoveCgroups(dir string) (int, error) {
	data, err := os.ReadFile(filepath.Join(dir, cgroupFile))
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	cg := &cgroups{dir: strings.TrimSpace(string(data))}
	entries, _ := os.ReadDir(cg.dir)
	n := 0
	for _, e := range entries {
		if e.IsDir() {
			n++
		}
	}
	if err := cg.removeAll(); err != nil && !os.IsNotExist(err) {
		return n, err
	}
	return n, os.Remove(filepath.Join(dir, cgroupFile))
}

// Cgroups counts the container cgroups the runtime in dir holds.
func Cgroups(dir string) int {
	data, err := os.ReadFile(filepath.Join(dir, cgroupFile))
	if err != nil {
		return 0
	}
	entries, _ := os.ReadDir(strings.TrimSpace(string(data)))
	n := 0
	for _, e := range entries {
		if e.IsDir() {
			n++
		}
	}
	return n
}
