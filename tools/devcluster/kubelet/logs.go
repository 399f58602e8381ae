package kubelet

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// api serves the part of the kubelet API the API server proxies to:
// GET /containerLogs/<namespace>/<pod>/<container> with follow, previous,
// tailLines and limitBytes, and /healthz; and /podProxy (see podProxy).
func (k *Kubelet) api() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("/containerLogs/", k.containerLogs)
	mux.HandleFunc("/podProxy/", k.podProxy)
	return mux
}

func (k *Kubelet) containerLogs(rw http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/containerLogs/"), "/")
	if len(parts) != 3 {
		http.Error(rw, "want /containerLogs/<namespace>/<pod>/<container>", http.StatusBadRequest)
		return
	}
	w := k.worker(parts[0], parts[1])
	if w == nil {
		http.Error(rw, fmt.Sprintf("pod %s/%s is not on this node", parts[0], parts[1]), http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	follow := q.Get("follow") == "true"
	path, running, err := w.logPath(parts[2], q.Get("previous") == "true")
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		data = nil // not started yet: empty
	}
	if s := q.Get("tailLines"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			data = tail(data, n)
		}
	}
	limit := int64(-1)
	if s := q.Get("limitBytes"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			limit = n
		}
	}
	rw.Header().Set("Content-Type", "text/plain")
	out := io.Writer(rw)
	if limit > 0 && int64(len(data)) > limit {
		data = data[:limit]
	}
	if _, err := out.Write(data); err != nil || !follow || !running {
		return
	}
	// Follow: stream what the container writes until it exits or the
	// client goes away.
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	offset := int64(len(data))
	if s := q.Get("tailLines"); s != "" {
		st, _ := f.Stat()
		offset = st.Size()
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return
	}
	flusher, _ := rw.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	buf := make([]byte, 32*1024)
	for {
		n, _ := f.Read(buf)
		if n > 0 {
			if _, err := out.Write(buf[:n]); err != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
			continue
		}
		if _, still, _ := w.logPath(parts[2], false); !still {
			// One more read for the last words, then the end.
			if n, _ := f.Read(buf); n > 0 {
				_, _ = out.Write(buf[:n])
			}
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logPath is the log file of the container's current (or previous) run and
// whether that run is still going.
func (w *podWorker) logPath(container string, previous bool) (string, bool, error) {
	w.mu.Lock()
	info, ok := w.logs[container]
	pod := w.pod
	w.mu.Unlock()
	if !ok {
		for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
			if c.Name == container {
				// Not started yet: nothing to read, nothing to follow.
				return filepath.Join(w.dir, "logs", container, "0.log"), false, nil
			}
		}
		return "", false, fmt.Errorf("container %q is not in pod %q", container, w.name)
	}
	n := info.run
	if previous {
		if n == 0 {
			return "", false, fmt.Errorf("previous terminated container %q in pod %q not found", container, w.name)
		}
		n--
	}
	return filepath.Join(w.dir, "logs", container, fmt.Sprintf("%d.log", n)), !previous && info.running, nil
}

func tail(data []byte, n int) []byte {
	if n == 0 {
		return nil
	}
	trimmed := bytes.TrimSuffix(data, []byte("\n"))
	idx := len(trimmed)
	for i := 0; i < n; i++ {
		j := bytes.LastIndexByte(trimmed[:idx], '\n')
		if j < 0 {
			return data
		}
		idx = j
	}
	return data[idx+1:]
}
