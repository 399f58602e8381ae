package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

type result struct {
	// Stages are the seconds from each job's create call to: all its pods
	// created, all its workers bound to a node, all Running, its Running
	// condition written, Succeeded. Percentiles over the jobs.
	Stages       map[string]stat `json:"stages"`
	WritesPerJob float64         `json:"writesPerJob"`
	PeakRSSMiB   float64         `json:"peakRSSMiB"`
	// StartRSSMiB is the controller's RSS once started (before the
	// measured jobs, after any history); MaxSampledRSSMiB the most it had
	// in the once-a-second samples over the run.
	StartRSSMiB      float64 `json:"startRSSMiB"`
	MaxSampledRSSMiB float64 `json:"maxSampledRSSMiB"`
	Succeeded        int     `json:"succeeded"`
	RunningRecorded  int     `json:"runningRecorded"`
	RepeatedDeletes  int     `json:"repeatedDeletes"`
	PodsLeft         int     `json:"podsLeft"`
	// PodsTerminating are workers deleted but not gone yet a minute after
	// the last job finished (the nodes' backlog).
	PodsTerminating int `json:"podsTerminating"`
	// WritesByKind breaks the writes down by "verb resource[/subresource]".
	WritesByKind map[string]int `json:"writesByKind"`
	// CPUSeconds is user+system CPU time over the run, by process: the
	// controller, kube-apiserver, kube-scheduler, kwok.
	CPUSeconds map[string]float64 `json:"cpuSeconds"`
}

// stat is one stage's percentiles, in seconds (-1: no job got there).
type stat struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	N   int     `json:"n"`
}

func statOf(values []float64) stat {
	return stat{P50: percentile(values, 50), P90: percentile(values, 90), P99: percentile(values, 99), N: len(values)}
}

// The stages, in the order a job goes through them. Through Kueue, a job
// is admitted first, and its time from admission to all workers Running is
// a stage of its own.
var stages = []struct{ key, what string }{
	{"admitted", "admitted by Kueue (queue wait)"},
	{"created", "all pods created"},
	{"bound", "all workers bound"},
	{"running", "all workers Running"},
	{"admittedRunning", "admission to all workers Running"},
	{"condition", "Running condition written"},
	{"succeeded", "Succeeded"},
}

const benchNamespace = "bench"

const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
- level: None
`

// jobTrack is what the bench sees of one job, in its own clock.
type jobTrack struct {
	created        time.Time
	admitted       time.Time // Kueue resumed the job
	pods           map[string]bool
	boundWorkers   map[string]bool
	runningWorkers map[string]bool
	allPods        time.Time
	allBound       time.Time
	allRunning     time.Time
	condition      time.Time // Running condition first seen True
	succeeded      time.Time
	sawRunning     bool
}

func newTrack() *jobTrack {
	return &jobTrack{created: time.Now(), pods: map[string]bool{}, boundWorkers: map[string]bool{}, runningWorkers: map[string]bool{}}
}

func measure(ctx context.Context, o options) (*result, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout+5*time.Minute)
	defer cancel()
	repo, err := cluster.FindRepoRoot()
	if err != nil {
		return nil, err
	}
	cache := cluster.DefaultCacheDir(repo)
	if err := os.MkdirAll(filepath.Join(cache, "bench"), 0o755); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(filepath.Join(cache, "bench"), o.Controller+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	var bin, userAgent string
	crdDir := filepath.Join(repo, "config", "crd", "bases")
	switch o.Controller {
	case "ours":
		bin, userAgent = o.Manager, "manager/"
		if bin == "" {
			bin = filepath.Join(dir, "manager")
			build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./operator/cmd/manager")
			build.Dir = repo
			if out, err := build.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("building the manager: %w: %s", err, out)
			}
		}
	case "upstream":
		bin, crdDir, err = cluster.EnsureUpstreamMPIOperator(ctx, cluster.BuildOptions{RepoRoot: repo, CacheDir: cache, Progress: os.Stderr})
		if err != nil {
			return nil, err
		}
		userAgent = "mpi-operator/"
	case "floor":
		userAgent = floorUserAgent
	default:
		return nil, fmt.Errorf("unknown controller %q", o.Controller)
	}
	policy := filepath.Join(dir, "audit-policy.yaml")
	auditLog := filepath.Join(dir, "audit.log")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
		return nil, err
	}
	c, err := cluster.Start(ctx, cluster.Options{
		Dir: filepath.Join(dir, "cluster"), RepoRoot: repo, CacheDir: cache,
		GPUNodes: o.Nodes, WithoutKueue: !o.Kueue, CRDDirs: []string{crdDir}, Progress: os.Stderr,
		APIServerArgs: []string{
			// This network namespace has only loopback, which may not be advertised.
			"--advertise-address=10.255.255.254",
			"--audit-policy-file=" + policy, "--audit-log-path=" + auditLog,
			"--audit-log-format=json", "--audit-log-mode=batch",
		},
	})
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = c.Stop()
		}
	}()

	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), kubeflow.AddToScheme(scheme), kueue.AddToScheme(scheme)); err != nil {
		return nil, err
	}
	cfg := rest.CopyConfig(c.Config)
	cfg.UserAgent = floorUserAgent + "v0" // only the floor's writes are counted by it
	cfg.QPS, cfg.Burst = 1000, 2000
	cl, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	for _, ns := range []string{benchNamespace, "mpi-operator"} {
		if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return nil, err
		}
	}
	// The history (and the queues) are written, and the MPIJobs created, by
	// users of their own, whom no run counts.
	clientAs := func(userAgent string) (client.Client, error) {
		as := rest.CopyConfig(cfg)
		as.UserAgent = userAgent
		return client.New(as, client.Options{Scheme: scheme})
	}
	hcl, err := clientAs("mpijob-bench-history/v0")
	if err != nil {
		return nil, err
	}
	if err := createHistory(ctx, hcl, o); err != nil {
		return nil, err
	}
	if o.Kueue {
		if err := createQueues(ctx, hcl, o); err != nil {
			return nil, err
		}
	}
	ucl, err := clientAs("mpijob-bench-user/v0")
	if err != nil {
		return nil, err
	}
	cpuBefore := clusterCPU(c)
	ctrl, err := startController(o, bin, c.Kubeconfig, dir)
	if err != nil {
		return nil, err
	}
	defer ctrl.stop()
	rss := sampleRSS(ctrl)

	tracks := map[string]*jobTrack{}
	var mu sync.Mutex
	done := make(chan struct{})
	watchCtx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	podEvents := make(chan runtime.Object, 4096)
	jobEvents := make(chan runtime.Object, 1024)
	go follow(watchCtx, cl, &corev1.PodList{}, podEvents)
	floor := o.Controller == "floor"
	if floor {
		go follow(watchCtx, cl, &batchv1.JobList{}, jobEvents)
	}
	if !floor || o.Kueue {
		go follow(watchCtx, cl, &kubeflow.MPIJobList{}, jobEvents)
	}
	f := &jobFollower{tracks: tracks, mu: &mu, jobs: o.Jobs, kueue: o.Kueue, done: done}
	// The floor through Kueue: the bench does a controller's work, at once.
	floorWork := make(chan func() error, 2*o.Jobs)
	floorErr := make(chan error, 1)
	if floor && o.Kueue {
		f.onAdmit = func(name string) { floorWork <- func() error { return createFloorJob(ctx, cl, name, o) } }
		f.onFloorDone = func(name string) { floorWork <- func() error { return finishFloorJob(ctx, cl, name) } }
		for range 32 {
			go func() {
				for {
					select {
					case work := <-floorWork:
						if err := work(); err != nil {
							select {
							case floorErr <- err:
							default:
							}
						}
					case <-watchCtx.Done():
						return
					}
				}
			}()
		}
	}
	go followPods(podEvents, tracks, &mu, o.Workers)
	go f.follow(jobEvents)

	err = forEach(o.Jobs, 32, func(i int) error {
		name := fmt.Sprintf("job-%04d", i)
		mu.Lock()
		tracks[name] = newTrack()
		mu.Unlock()
		if floor && !o.Kueue {
			return createFloorJob(ctx, cl, name, o)
		}
		return ucl.Create(ctx, benchJob(name, o))
	})
	if err != nil {
		return nil, fmt.Errorf("creating jobs: %w", err)
	}
	select {
	case <-done:
	case err := <-floorErr:
		return nil, err
	case <-time.After(o.Timeout):
		fmt.Fprintf(os.Stderr, "bench: %s: timed out after %s; reporting what finished\n", o.Controller, o.Timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Give cleanPodPolicy a moment, then count the workers left behind:
	// pods nobody deletes. Pods being deleted are the nodes' (kwok's)
	// backlog, counted apart (the floor has no cleanPodPolicy).
	res := &result{CPUSeconds: map[string]float64{}}
	deadline := time.Now().Add(60 * time.Second)
	for o.Controller != "floor" {
		pods := &corev1.PodList{}
		if err := cl.List(ctx, pods, client.InNamespace(benchNamespace), client.MatchingLabels{kubeflow.JobRoleLabel: kubeflow.RoleWorker}); err != nil {
			return nil, err
		}
		res.PodsLeft, res.PodsTerminating = 0, 0
		var left []string
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				res.PodsTerminating++
				continue
			}
			res.PodsLeft++
			if len(left) < 5 {
				left = append(left, fmt.Sprintf("%s (phase %s, created %s)", p.Name, p.Status.Phase, p.CreationTimestamp.Format(time.RFC3339)))
			}
		}
		if len(pods.Items) == 0 || time.Now().After(deadline) {
			for _, l := range left {
				fmt.Fprintf(os.Stderr, "bench: %s: pod left behind: %s\n", o.Controller, l)
			}
			break
		}
		time.Sleep(time.Second)
	}
	for name, after := range clusterCPU(c) {
		res.CPUSeconds[name] = after - cpuBefore[name]
	}
	if ctrl.cmd != nil {
		res.PeakRSSMiB = peakRSSMiB(ctrl.cmd.Process.Pid)
		res.CPUSeconds["controller"] = cpuSeconds(ctrl.cmd.Process.Pid)
		res.StartRSSMiB, res.MaxSampledRSSMiB = rss.stop()
	}

	mu.Lock()
	values := map[string][]float64{}
	since := func(key string, t, from time.Time) {
		if !t.IsZero() {
			values[key] = append(values[key], t.Sub(from).Seconds())
		}
	}
	for _, t := range tracks {
		since("admitted", t.admitted, t.created)
		if !t.admitted.IsZero() {
			since("admittedRunning", t.allRunning, t.admitted)
		}
		since("created", t.allPods, t.created)
		since("bound", t.allBound, t.created)
		since("running", t.allRunning, t.created)
		since("condition", t.condition, t.created)
		since("succeeded", t.succeeded, t.created)
		if !t.succeeded.IsZero() {
			res.Succeeded++
		}
		if t.sawRunning {
			res.RunningRecorded++
		}
	}
	mu.Unlock()
	res.Stages = map[string]stat{}
	for _, st := range stages {
		res.Stages[st.key] = statOf(values[st.key])
	}

	// Stopping the apiserver flushes its audit log.
	ctrl.stop()
	stopped = true
	if err := c.Stop(); err != nil {
		return nil, err
	}
	writes, repeated, byKind, err := countWrites(auditLog, userAgent)
	if err != nil {
		return nil, err
	}
	res.WritesPerJob = float64(writes) / float64(o.Jobs)
	res.RepeatedDeletes = repeated
	res.WritesByKind = byKind
	return res, nil
}

// controllerProc is the controller under measure; nil cmd for the floor.
type controllerProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

func startController(o options, bin, kubeconfig, dir string) (*controllerProc, error) {
	var args []string
	switch o.Controller {
	case "floor":
		return &controllerProc{}, nil
	case "ours":
		args = []string{"--kubeconfig=" + kubeconfig, "--metrics-bind-address=0", "--health-probe-bind-address=0",
			"--kube-api-qps=500", "--kube-api-burst=1000"} // 16 workers, the configuration's default
		args = append(args, strings.Fields(o.OursArgs)...)
	default:
		// Upstream in its best tuning: 8 threads, QPS 100, work-queue limit lifted.
		args = []string{"--kubeConfig=" + kubeconfig, "--threadiness=8", "--kube-api-qps=100", "--kube-api-burst=200",
			"--controller-queue-rate-limit=1000000", "--controller-queue-burst=1000000", "--lock-namespace=mpi-operator"}
	}
	logFile, err := os.Create(filepath.Join(dir, "controller.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	p := &controllerProc{cmd: cmd, done: make(chan struct{}), log: logFile}
	go func() { _ = cmd.Wait(); close(p.done) }()
	select {
	case <-p.done:
		return nil, fmt.Errorf("the %s controller exited at start; see %s", o.Controller, logFile.Name())
	case <-time.After(3 * time.Second):
	}
	return p, nil
}

// stop ends the controller (SIGTERM, then SIGKILL after 10 s); again is a
// no-op.
func (p *controllerProc) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
	p.cmd = nil
}

// clusterCPU is the CPU seconds used so far by the cluster's processes
// that do the work of a run.
func clusterCPU(c *cluster.Cluster) map[string]float64 {
	out := map[string]float64{}
	for _, p := range c.State.Processes {
		switch p.Name {
		case "apiserver", "scheduler", "kwok", "etcd", "controller-manager", "kueue":
			out[p.Name] = cpuSeconds(p.PID)
		}
	}
	return out
}

// cpuSeconds is a process's user+system CPU time (/proc/PID/stat fields
// 14 and 15, in clock ticks of 1/100 s on Linux).
func cpuSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name (field 2) may hold spaces; count from after it.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return (utime + stime) / 100
}

func benchJob(name string, o options) *kubeflow.MPIJob {
	container := func(n string, gpu bool) corev1.Container {
		c := corev1.Container{Name: n, Image: "example.invalid/bench:1"}
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}
		if gpu {
			c.Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
		}
		return c
	}
	job := &kubeflow.MPIJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: benchNamespace},
		Spec: kubeflow.MPIJobSpec{
			SlotsPerWorker: ptr.To[int32](1),
			RunPolicy:      kubeflow.RunPolicy{CleanPodPolicy: ptr.To(kubeflow.CleanPodPolicyRunning)},
			MPIReplicaSpecs: map[kubeflow.MPIReplicaType]*kubeflow.ReplicaSpec{
				kubeflow.MPIReplicaTypeLauncher: {Replicas: ptr.To[int32](1), Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{cluster.FinishAfterAnnotation: o.FinishAfter.String()}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{container("launcher", false)}},
				}},
				kubeflow.MPIReplicaTypeWorker: {Replicas: ptr.To(int32(o.Workers)), Template: corev1.PodTemplateSpec{
					Spec: corev1.PodSpec{Containers: []corev1.Container{container("worker", true)}},
				}},
			},
		},
	}
	if o.Kueue {
		job.Labels = map[string]string{"kueue.x-k8s.io/queue-name": benchQueue}
	}
	return job
}

// follow lists and watches objects of the bench namespace and sends every
// object it sees (added or modified) to out. A watch the apiserver closes
// (a slow watcher on a busy 2-core machine) is re-established from a fresh
// list, so no final state is missed.
func follow(ctx context.Context, cl client.WithWatch, list client.ObjectList, out chan<- runtime.Object) {
	for ctx.Err() == nil {
		fresh, ok := list.DeepCopyObject().(client.ObjectList)
		if !ok {
			return
		}
		if err := cl.List(ctx, fresh, client.InNamespace(benchNamespace)); err != nil {
			time.Sleep(time.Second)
			continue
		}
		items, err := apimeta.ExtractList(fresh)
		if err != nil {
			return
		}
		for _, it := range items {
			select {
			case out <- it:
			case <-ctx.Done():
				return
			}
		}
		w, err := cl.Watch(ctx, list, client.InNamespace(benchNamespace), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: fresh.GetResourceVersion()}})
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Added || ev.Type == watch.Modified {
				select {
				case out <- ev.Object:
				case <-ctx.Done():
					w.Stop()
					return
				}
			}
		}
		w.Stop()
	}
}

func followPods(events <-chan runtime.Object, tracks map[string]*jobTrack, mu *sync.Mutex, workers int) {
	for obj := range events {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			continue
		}
		now := time.Now()
		mu.Lock()
		t := tracks[pod.Labels[kubeflow.JobNameLabel]]
		if t != nil {
			t.pods[pod.Name] = true
			if t.allPods.IsZero() && len(t.pods) >= workers+1 {
				t.allPods = now
			}
			if pod.Labels[kubeflow.JobRoleLabel] == kubeflow.RoleWorker && pod.Spec.NodeName != "" {
				t.boundWorkers[pod.Name] = true
				if t.allBound.IsZero() && len(t.boundWorkers) >= workers {
					t.allBound = now
				}
			}
			if pod.Labels[kubeflow.JobRoleLabel] == kubeflow.RoleWorker && pod.Status.Phase == corev1.PodRunning {
				t.runningWorkers[pod.Name] = true
				if t.allRunning.IsZero() && len(t.runningWorkers) >= workers {
					t.allRunning = now
				}
			}
		}
		mu.Unlock()
	}
}

// jobFollower follows the MPIJobs (and, for the floor, the launcher Jobs)
// and closes done when every job has Succeeded. Through Kueue it records
// each job's admission; for the floor there it hands admitted and finished
// jobs to the bench (onAdmit, onFloorDone), which must not block.
type jobFollower struct {
	tracks               map[string]*jobTrack
	mu                   *sync.Mutex
	jobs                 int
	kueue                bool
	done                 chan struct{}
	onAdmit, onFloorDone func(name string)
}

func (f *jobFollower) follow(events <-chan runtime.Object) {
	finished := 0
	for obj := range events {
		now := time.Now()
		var admittedNow, floorDone string
		f.mu.Lock()
		switch job := obj.(type) {
		case *kubeflow.MPIJob:
			t := f.tracks[job.Name]
			if t == nil {
				break
			}
			if f.kueue && t.admitted.IsZero() && admitted(job) {
				t.admitted, admittedNow = now, job.Name
			}
			for _, c := range job.Status.Conditions {
				if c.Type == kubeflow.JobRunning {
					t.sawRunning = true
					if c.Status == corev1.ConditionTrue && t.condition.IsZero() {
						t.condition = now
					}
				}
				if c.Type == kubeflow.JobSucceeded && c.Status == corev1.ConditionTrue && t.succeeded.IsZero() {
					t.succeeded = now
					finished++
				}
			}
		case *batchv1.Job:
			name := strings.TrimSuffix(job.Name, "-launcher")
			if t := f.tracks[name]; t != nil && launcherJobDone(job) && t.succeeded.IsZero() {
				t.succeeded, floorDone = now, name
				finished++
			}
		}
		f.mu.Unlock()
		if admittedNow != "" && f.onAdmit != nil {
			f.onAdmit(admittedNow)
		}
		if floorDone != "" && f.onFloorDone != nil {
			f.onFloorDone(floorDone)
		}
		if finished == f.jobs {
			close(f.done)
			for range events { // keep draining until the watches stop
			}
			return
		}
	}
}

func percentile(values []float64, p float64) float64 {
	if len(values) == 0 {
		return -1
	}
	sort.Float64s(values)
	i := int(math.Ceil(p/100*float64(len(values)))) - 1
	return values[max(0, min(i, len(values)-1))]
}

func peakRSSMiB(pid int) float64 { return procStatusMiB(pid, "VmHWM") }

// procStatusMiB reads a memory field of /proc/PID/status (in kB there) in
// MiB; -1 when it cannot.
func procStatusMiB(pid int, field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == field+":" {
			if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
				return kb / 1024
			}
		}
	}
	return -1
}

// forEach calls fn for 0..n-1 on up to workers goroutines, and returns the
// first error (every call still runs).
func forEach(n, workers int, fn func(i int) error) error {
	next := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range min(n, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	return <-errs
}

// countWrites counts the controller's write requests in the audit log, and
// the worker pods it deleted more than once.
func countWrites(path, userAgent string) (writes, repeatedDeletes int, byKind map[string]int, err error) {
	byKind = map[string]int{}
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, nil, err
	}
	defer f.Close()
	deletes := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		var ev struct {
			Stage     string `json:"stage"`
			Verb      string `json:"verb"`
			UserAgent string `json:"userAgent"`
			ObjectRef struct {
				Resource    string `json:"resource"`
				Subresource string `json:"subresource"`
				Namespace   string `json:"namespace"`
				Name        string `json:"name"`
			} `json:"objectRef"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			continue
		}
		if ev.Stage != "ResponseComplete" || !strings.HasPrefix(ev.UserAgent, userAgent) || ev.ObjectRef.Namespace != benchNamespace {
			continue
		}
		writes++
		kind := ev.Verb + " " + ev.ObjectRef.Resource
		if ev.ObjectRef.Subresource != "" {
			kind += "/" + ev.ObjectRef.Subresource
		}
		byKind[kind]++
		if ev.Verb == "delete" && ev.ObjectRef.Resource == "pods" {
			deletes[ev.ObjectRef.Name]++
		}
	}
	for _, n := range deletes {
		if n > 1 {
			repeatedDeletes++
		}
	}
	return writes, repeatedDeletes, byKind, sc.Err()
}
