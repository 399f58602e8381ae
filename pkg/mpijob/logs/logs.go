// Package logs multiplexes the logs of an MPIJob's pods: it streams each
// selected pod, optionally prefixing every line with "[pod-name] ", and in
// follow mode it waits for pods to start and picks up pods that appear
// later (a relaunched launcher, workers created after the launcher).
package logs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Source is where pods and their logs come from; the command implements it
// with the Kubernetes API, tests with a fake.
type Source interface {
	// Pods lists the pods whose logs are wanted, in display order.
	Pods(ctx context.Context) ([]corev1.Pod, error)
	// Stream opens the log of one pod.
	Stream(ctx context.Context, pod *corev1.Pod, follow bool) (io.ReadCloser, error)
	// Finished reports whether no more pods will start (the job is over).
	Finished(ctx context.Context) (bool, error)
}

// Options control Run.
type Options struct {
	// Follow keeps streaming and picks up new pods until the job is finished
	// (then drains, see Drain), or the context ends.
	Follow bool
	// Prefix puts "[pod-name] " before each line.
	Prefix bool
	// Poll is how often follow mode looks for new pods (default 1s).
	Poll time.Duration
	// Drain is how long follow mode keeps reading once the job is finished
	// (default 2s): the launcher's stream ends by itself, while workers
	// may keep running (cleanPodPolicy None) and are cut after it.
	Drain time.Duration
}

// Started says whether a pod's containers have started, so that it has logs.
func Started(p *corev1.Pod) bool {
	switch p.Status.Phase {
	case corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed:
		return true
	}
	return false
}

// lineWriter writes whole lines under a lock shared by all pods' streams.
type lineWriter struct {
	mu  sync.Mutex
	out io.Writer
}

func (w *lineWriter) copy(r io.Reader, prefix string) error {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			if line[len(line)-1] != '\n' {
				line += "\n"
			}
			w.mu.Lock()
			_, werr := io.WriteString(w.out, prefix+line)
			w.mu.Unlock()
			if werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func streamPod(ctx context.Context, src Source, w *lineWriter, p *corev1.Pod, opts Options) error {
	rc, err := src.Stream(ctx, p, opts.Follow)
	if err != nil {
		return fmt.Errorf("logs of pod %s: %w", p.Name, err)
	}
	defer rc.Close()
	prefix := ""
	if opts.Prefix {
		prefix = "[" + p.Name + "] "
	}
	if err := w.copy(rc, prefix); err != nil && ctx.Err() == nil {
		return fmt.Errorf("logs of pod %s: %w", p.Name, err)
	}
	return nil
}

// Run writes the logs of the source's pods to out.
func Run(ctx context.Context, src Source, out io.Writer, opts Options) error {
	w := &lineWriter{out: out}
	if !opts.Follow {
		pods, err := src.Pods(ctx)
		if err != nil {
			return err
		}
		if len(pods) == 0 {
			return errors.New("no pods found for the job (a finished job's pods may have been cleaned up)")
		}
		var errs []error
		for i := range pods {
			if !Started(&pods[i]) {
				errs = append(errs, fmt.Errorf("pod %s has not started yet (phase %s); use --follow to wait", pods[i].Name, phaseOf(&pods[i])))
				continue
			}
			if err := streamPod(ctx, src, w, &pods[i], opts); err != nil {
				errs = append(errs, err)
			}
		}
		return joinErrors(errs...)
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Drain <= 0 {
		opts.Drain = 2 * time.Second
	}
	// Streams end on their own, or when the job is over and drained.
	streamCtx, cutStreams := context.WithCancel(ctx)
	defer cutStreams()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		errs    []error
		active  int
		started = map[types.UID]bool{}
	)
	tick := time.NewTicker(opts.Poll)
	defer tick.Stop()
	for {
		pods, err := src.Pods(ctx)
		if err != nil && ctx.Err() == nil {
			wg.Wait()
			return joinErrors(append(errs, err)...)
		}
		for i := range pods {
			p := pods[i]
			key := p.UID
			if key == "" {
				key = types.UID(p.Namespace + "/" + p.Name)
			}
			if started[key] || !Started(&p) {
				continue
			}
			started[key] = true
			mu.Lock()
			active++
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := streamPod(streamCtx, src, w, &p, opts)
				mu.Lock()
				defer mu.Unlock()
				active--
				if err != nil {
					errs = append(errs, err)
				}
			}()
		}
		if ctx.Err() == nil {
			done, err := src.Finished(ctx)
			if err != nil {
				cutStreams()
				wg.Wait()
				return joinErrors(append(errs, err)...)
			}
			if done {
				// Pods that started since the last listing still get read.
				if more, err := src.Pods(ctx); err == nil && hasNew(more, started) {
					continue
				}
				drain(&wg, opts.Drain)
				cutStreams()
				wg.Wait()
				mu.Lock()
				defer mu.Unlock()
				return joinErrors(errs...)
			}
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			return joinErrors(errs...)
		case <-tick.C:
		}
	}
}

// drain waits for the streams to end by themselves, at most d.
func drain(wg *sync.WaitGroup, d time.Duration) {
	ended := make(chan struct{})
	go func() { wg.Wait(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(d):
	}
}

func hasNew(pods []corev1.Pod, started map[types.UID]bool) bool {
	for i := range pods {
		key := pods[i].UID
		if key == "" {
			key = types.UID(pods[i].Namespace + "/" + pods[i].Name)
		}
		if !started[key] && Started(&pods[i]) {
			return true
		}
	}
	return false
}

func phaseOf(p *corev1.Pod) corev1.PodPhase {
	if p.Status.Phase == "" {
		return corev1.PodPending
	}
	return p.Status.Phase
}

// multiError joins errors on one line, so that the command prints a single
// "error: ..." line however many pods failed.
type multiError []error

func (m multiError) Error() string {
	msgs := make([]string, len(m))
	for i, err := range m {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (m multiError) Unwrap() []error { return m }

func joinErrors(errs ...error) error {
	var out multiError
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	if len(out) == 0 {
		return nil
	}
	if len(out) == 1 {
		return out[0]
	}
	return out
}
