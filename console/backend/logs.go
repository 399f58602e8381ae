package backend

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/logs"
)

// podLogSource is logs.Source over the caller's clients for one job's
// launcher, one worker, or all its pods.
type podLogSource struct {
	c       *Clients
	ns, job string
	role    string // launcher, worker or all
	index   int    // the worker's index when role is worker
	tail    *int64
}

func (s *podLogSource) Pods(ctx context.Context) ([]corev1.Pod, error) {
	pods, err := jobPods(ctx, s.c, s.ns, s.job)
	if err != nil {
		return nil, err
	}
	byName := map[string]corev1.Pod{}
	var views []PodView
	for _, p := range pods {
		v := podView(&p)
		if s.role != "all" && (v.Role != s.role || (s.role == kubeflow.RoleWorker && (v.Index == nil || *v.Index != s.index))) {
			continue
		}
		byName[p.Name] = p
		views = append(views, v)
	}
	sortPods(views)
	out := make([]corev1.Pod, 0, len(views))
	for _, v := range views {
		out = append(out, byName[v.Name])
	}
	return out, nil
}

func (s *podLogSource) Stream(ctx context.Context, pod *corev1.Pod, follow bool) (io.ReadCloser, error) {
	opts := &corev1.PodLogOptions{Follow: follow, TailLines: s.tail}
	if len(pod.Spec.Containers) > 0 {
		opts.Container = pod.Spec.Containers[0].Name
	}
	return s.c.Kube.CoreV1().Pods(s.ns).GetLogs(pod.Name, opts).Stream(ctx)
}

func (s *podLogSource) Finished(ctx context.Context) (bool, error) {
	job := &kubeflow.MPIJob{}
	if err := s.c.Client.Get(ctx, types.NamespacedName{Namespace: s.ns, Name: s.job}, job); err != nil {
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	}
	st := mpijob.PhaseOf(job)
	return st == "Succeeded" || st == "Failed", nil
}

// maxLogBytes bounds a log read without follow (the download included).
const maxLogBytes = 16 << 20

// logs answers GET .../logs?role=launcher|worker|all&index=N&tail=N
// &follow=true&download=true. Without follow it returns text/plain; with
// follow a text/event-stream whose data events are log lines, followed by
// an "end" event (or an "error" event with an Error body).
func (s *Server) logs(w http.ResponseWriter, r *http.Request, c *Clients) {
	q := r.URL.Query()
	src := &podLogSource{c: c, ns: r.PathValue("namespace"), job: r.PathValue("name"), role: q.Get("role")}
	switch src.role {
	case "":
		src.role = kubeflow.RoleLauncher
	case kubeflow.RoleLauncher, "all":
	case kubeflow.RoleWorker:
		i, err := strconv.Atoi(q.Get("index"))
		if err != nil || i < 0 {
			badRequest(w, "role=worker needs index=N, the worker's index (0 for "+src.job+"-worker-0)")
			return
		}
		src.index = i
	default:
		badRequest(w, "role must be launcher, worker or all, not "+strconv.Quote(src.role))
		return
	}
	if t := q.Get("tail"); t != "" {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || n < 0 {
			badRequest(w, "tail must be a non-negative number of lines, not "+strconv.Quote(t))
			return
		}
		src.tail = &n
	}
	// Reading the job first turns a job the caller may not read into a
	// 403 or 404, before anything is streamed.
	if err := c.Client.Get(r.Context(), types.NamespacedName{Namespace: src.ns, Name: src.job}, &kubeflow.MPIJob{}); err != nil {
		writeError(w, err, warnings(c))
		return
	}
	opts := logs.Options{Prefix: src.role == "all"}
	if q.Get("follow") == "true" {
		opts.Follow = true
		followLogs(w, r, src, opts)
		return
	}
	var buf bytes.Buffer
	err := logs.Run(r.Context(), src, &limitedWriter{w: &buf, n: maxLogBytes}, opts)
	if err != nil && buf.Len() == 0 {
		writeError(w, fmt.Errorf("reading the logs of mpijob %s: %w", src.job, err), warnings(c))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err != nil {
		w.Header().Set("X-Log-Error", strings.ReplaceAll(err.Error(), "\n", " "))
	}
	if q.Get("download") == "true" {
		name := src.job + "-" + src.role
		if src.role == kubeflow.RoleWorker {
			name += "-" + strconv.Itoa(src.index)
		}
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.log"`)
	}
	_, _ = w.Write(buf.Bytes())
}

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		return 0, fmt.Errorf("the log is longer than %d MiB: use tail=N or kubectl odh mpijob logs", maxLogBytes>>20)
	}
	l.n -= len(p)
	return l.w.Write(p)
}

// keepAlive is how often an idle event stream gets a comment, so that
// proxies do not close it.
var keepAlive = 15 * time.Second

// sseWriter turns whole log lines into server-sent events.
type sseWriter struct {
	mu sync.Mutex
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (s *sseWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if _, err := io.WriteString(s.w, "data: "+strings.TrimRight(line, "\r")+"\n"); err != nil {
			return 0, err
		}
	}
	if _, err := io.WriteString(s.w, "\n"); err != nil {
		return 0, err
	}
	return len(p), s.rc.Flush()
}

func (s *sseWriter) event(name, data string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = io.WriteString(s.w, "event: "+name+"\ndata: "+data+"\n\n")
	_ = s.rc.Flush()
}

func (s *sseWriter) comment(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = io.WriteString(s.w, ": "+text+"\n\n")
	_ = s.rc.Flush()
}

func followLogs(w http.ResponseWriter, r *http.Request, src *podLogSource, opts logs.Options) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sw := &sseWriter{w: w, rc: http.NewResponseController(w)}
	sw.comment("streaming the logs of mpijob " + src.job)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		t := time.NewTicker(keepAlive)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				sw.comment("keep-alive")
			}
		}
	}()
	if err := logs.Run(ctx, src, sw, opts); err != nil && ctx.Err() == nil {
		_, body := errorBody(err)
		data, _ := json.Marshal(body)
		sw.event("error", string(data))
	}
	sw.event("end", `{}`)
}
