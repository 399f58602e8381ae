package logs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// fakeSource serves canned logs; tests change its pods and state while Run
// follows them.
type fakeSource struct {
	mu       sync.Mutex
	pods     []corev1.Pod
	logs     map[string]string
	errs     map[string]error
	finished bool
	// block makes streams of these pods wait for release before EOF.
	block   map[string]chan struct{}
	streams []string
}

func (f *fakeSource) Pods(context.Context) ([]corev1.Pod, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]corev1.Pod(nil), f.pods...), nil
}

// blockingReader holds its EOF until release is closed, or fails when its
// stream's context ends (as client-go's body does).
type blockingReader struct {
	ctx     context.Context
	r       io.Reader
	release chan struct{}
}

func (b *blockingReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if errors.Is(err, io.EOF) {
		select {
		case <-b.release:
		case <-b.ctx.Done():
			return n, b.ctx.Err()
		}
	}
	return n, err
}

func (f *fakeSource) Stream(ctx context.Context, p *corev1.Pod, _ bool) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.streams = append(f.streams, p.Name)
	if err := f.errs[p.Name]; err != nil {
		return nil, err
	}
	var r io.Reader = strings.NewReader(f.logs[p.Name])
	if ch := f.block[p.Name]; ch != nil {
		r = &blockingReader{ctx: ctx, r: r, release: ch}
	}
	return io.NopCloser(r), nil
}

func (f *fakeSource) Finished(context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.finished, nil
}

func (f *fakeSource) set(fn func(f *fakeSource)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func pod(name string, phase corev1.PodPhase) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name)}, Status: corev1.PodStatus{Phase: phase}}
}

func TestRunPrefixesAllPods(t *testing.T) {
	src := &fakeSource{
		pods: []corev1.Pod{pod("job-launcher", corev1.PodSucceeded), pod("job-worker-0", corev1.PodRunning)},
		logs: map[string]string{"job-launcher": "hello\nworld\n", "job-worker-0": "no newline at end"},
	}
	var out bytes.Buffer
	if err := Run(context.Background(), src, &out, Options{Prefix: true}); err != nil {
		t.Fatal(err)
	}
	want := "[job-launcher] hello\n[job-launcher] world\n[job-worker-0] no newline at end\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func TestRunWithoutPrefix(t *testing.T) {
	src := &fakeSource{pods: []corev1.Pod{pod("l", corev1.PodRunning)}, logs: map[string]string{"l": "a\nb\n"}}
	var out bytes.Buffer
	if err := Run(context.Background(), src, &out, Options{}); err != nil || out.String() != "a\nb\n" {
		t.Errorf("got %q, %v", out.String(), err)
	}
}

func TestRunReportsErrorsAndKeepsGoing(t *testing.T) {
	src := &fakeSource{
		pods: []corev1.Pod{pod("a", corev1.PodRunning), pod("b", corev1.PodRunning), pod("c", corev1.PodPending)},
		logs: map[string]string{"b": "from b\n"},
		errs: map[string]error{"a": errors.New("the server rejected our request")},
	}
	var out bytes.Buffer
	err := Run(context.Background(), src, &out, Options{Prefix: true})
	if err == nil || err.Error() != "logs of pod a: the server rejected our request; pod c has not started yet (phase Pending); use --follow to wait" {
		t.Errorf("error: %v", err)
	}
	if out.String() != "[b] from b\n" {
		t.Errorf("output %q", out.String())
	}
}

func TestRunNoPods(t *testing.T) {
	if err := Run(context.Background(), &fakeSource{}, io.Discard, Options{}); err == nil {
		t.Error("want an error without pods")
	}
}

func TestFollowWaitsForPodsAndPicksUpNewOnes(t *testing.T) {
	release := make(chan struct{})
	src := &fakeSource{
		pods:  []corev1.Pod{pod("launcher", corev1.PodPending)},
		logs:  map[string]string{"launcher": "l1\nl2\n", "worker-0": "w1\n", "worker-1": "late\n"},
		block: map[string]chan struct{}{"launcher": release},
	}
	var (
		mu  sync.Mutex
		out bytes.Buffer
	)
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	done := make(chan error)
	go func() {
		done <- Run(context.Background(), src, w, Options{Follow: true, Prefix: true, Poll: 5 * time.Millisecond})
	}()
	time.Sleep(30 * time.Millisecond)
	src.set(func(f *fakeSource) {
		f.pods = []corev1.Pod{pod("launcher", corev1.PodRunning), pod("worker-0", corev1.PodRunning)}
	})
	time.Sleep(30 * time.Millisecond)
	src.set(func(f *fakeSource) { f.pods = append(f.pods, pod("worker-1", corev1.PodSucceeded)) })
	time.Sleep(30 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Run returned before the job finished: %v", err)
	default:
	}
	src.set(func(f *fakeSource) { f.finished = true })
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the job finished")
	}
	mu.Lock()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	mu.Unlock()
	sort.Strings(lines)
	want := []string{"[launcher] l1", "[launcher] l2", "[worker-0] w1", "[worker-1] late"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("lines %q, want %q", lines, want)
	}
	if len(src.streams) != 3 {
		t.Errorf("each pod is streamed once, got %v", src.streams)
	}
}

// Workers keep running after the launcher ends (cleanPodPolicy None) and
// their streams never end: follow still returns once the job is finished,
// with every line read.
func TestFollowEndsWhenTheJobFinishesWhileWorkersRun(t *testing.T) {
	never := make(chan struct{})
	src := &fakeSource{
		pods:  []corev1.Pod{pod("launcher", corev1.PodRunning), pod("worker-0", corev1.PodRunning)},
		logs:  map[string]string{"launcher": "l1\n", "worker-0": "w1\n"},
		block: map[string]chan struct{}{"worker-0": never},
	}
	var (
		mu  sync.Mutex
		out bytes.Buffer
	)
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	done := make(chan error)
	go func() {
		done <- Run(context.Background(), src, w, Options{Follow: true, Prefix: true, Poll: 5 * time.Millisecond, Drain: 20 * time.Millisecond})
	}()
	time.Sleep(30 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Run returned while the job runs: %v", err)
	default:
	}
	src.set(func(f *fakeSource) {
		f.pods[0].Status.Phase = corev1.PodSucceeded
		f.finished = true
	})
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("a worker cut after the job finished is not an error: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the job finished")
	}
	mu.Lock()
	defer mu.Unlock()
	if got := out.String(); !strings.Contains(got, "[launcher] l1\n") || !strings.Contains(got, "[worker-0] w1\n") {
		t.Errorf("output %q", got)
	}
}

func TestFollowStopsOnCancel(t *testing.T) {
	src := &fakeSource{pods: []corev1.Pod{pod("launcher", corev1.PodPending)}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- Run(ctx, src, io.Discard, Options{Follow: true, Poll: 5 * time.Millisecond}) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop on cancel")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
