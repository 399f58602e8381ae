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

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

type result struct {
	PodsCreatedP50    float64 `json:"podsCreatedP50"`
	PodsCreatedP99    float64 `json:"podsCreatedP99"`
	WorkersRunningP50 float64 `json:"workersRunningP50"`
	WorkersRunningP99 float64 `json:"workersRunningP99"`
	SucceededP99      float64 `json:"succeededP99"`
	WritesPerJob      float64 `json:"writesPerJob"`
	PeakRSSMiB        float64 `json:"peakRSSMiB"`
	Succeeded         int     `json:"succeeded"`
	RunningRecorded   int     `json:"runningRecorded"`
	RepeatedDeletes   int     `json:"repeatedDeletes"`
	PodsLeft          int     `json:"podsLeft"`
	// WritesByKind breaks the writes down by "verb resource[/subresource]".
	WritesByKind map[string]int `json:"writesByKind"`
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
	pods           map[string]bool
	runningWorkers map[string]bool
	allPods        time.Time
	allRunning     time.Time
	succeeded      time.Time
	sawRunning     bool
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

	var bin, crdDir, userAgent string
	var ctrlArgs []string
	switch o.Controller {
	case "ours":
		bin, crdDir, userAgent = filepath.Join(dir, "manager"), filepath.Join(repo, "config", "crd", "bases"), "manager/"
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./operator/cmd/manager")
		build.Dir = repo
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building the manager: %w: %s", err, out)
		}
	case "upstream":
		bin, crdDir, err = cluster.EnsureUpstreamMPIOperator(ctx, cluster.BuildOptions{RepoRoot: repo, CacheDir: cache, Progress: os.Stderr})
		if err != nil {
			return nil, err
		}
		userAgent = "mpi-operator/"
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
		GPUNodes: o.Nodes, WithoutKueue: true, CRDDirs: []string{crdDir}, Progress: os.Stderr,
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
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), kubeflow.AddToScheme(scheme)); err != nil {
		return nil, err
	}
	cl, err := client.NewWithWatch(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	for _, ns := range []string{benchNamespace, "mpi-operator"} {
		if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return nil, err
		}
	}
	if o.Controller == "ours" {
		ctrlArgs = []string{"--kubeconfig=" + c.Kubeconfig, "--metrics-bind-address=0", "--health-probe-bind-address=0",
			"--kube-api-qps=500", "--kube-api-burst=1000"} // 16 workers, the configuration's default
		ctrlArgs = append(ctrlArgs, strings.Fields(o.OursArgs)...)
	} else {
		// Upstream in its best tuning: 8 threads, QPS 100, work-queue limit lifted.
		ctrlArgs = []string{"--kubeConfig=" + c.Kubeconfig, "--threadiness=8", "--kube-api-qps=100", "--kube-api-burst=200",
			"--controller-queue-rate-limit=1000000", "--controller-queue-burst=1000000", "--lock-namespace=mpi-operator"}
	}
	logFile, err := os.Create(filepath.Join(dir, "controller.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	ctrlCmd := exec.Command(bin, ctrlArgs...)
	ctrlCmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
	ctrlCmd.Stdout, ctrlCmd.Stderr = logFile, logFile
	ctrlCmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := ctrlCmd.Start(); err != nil {
		return nil, err
	}
	ctrlDone := make(chan struct{})
	go func() { _ = ctrlCmd.Wait(); close(ctrlDone) }()
	defer func() {
		_ = ctrlCmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-ctrlDone:
		case <-time.After(10 * time.Second):
			_ = ctrlCmd.Process.Kill()
		}
	}()
	select {
	case <-ctrlDone:
		return nil, fmt.Errorf("the %s controller exited at start; see %s", o.Controller, logFile.Name())
	case <-time.After(3 * time.Second):
	}

	tracks := map[string]*jobTrack{}
	var mu sync.Mutex
	done := make(chan struct{})
	watchCtx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	podEvents := make(chan runtime.Object, 4096)
	jobEvents := make(chan runtime.Object, 1024)
	go follow(watchCtx, cl, &corev1.PodList{}, podEvents)
	go follow(watchCtx, cl, &kubeflow.MPIJobList{}, jobEvents)
	go followPods(podEvents, tracks, &mu, o.Workers)
	go followJobs(jobEvents, tracks, &mu, o.Jobs, done)

	names := make(chan int)
	var wg sync.WaitGroup
	createErrs := make(chan error, o.Jobs)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range names {
				job := benchJob(fmt.Sprintf("job-%04d", i), o)
				mu.Lock()
				tracks[job.Name] = &jobTrack{created: time.Now(), pods: map[string]bool{}, runningWorkers: map[string]bool{}}
				mu.Unlock()
				if err := cl.Create(ctx, job); err != nil {
					createErrs <- err
				}
			}
		}()
	}
	for i := 0; i < o.Jobs; i++ {
		names <- i
	}
	close(names)
	wg.Wait()
	close(createErrs)
	if err := <-createErrs; err != nil {
		return nil, fmt.Errorf("creating jobs: %w", err)
	}
	select {
	case <-done:
	case <-time.After(o.Timeout):
		fmt.Fprintf(os.Stderr, "bench: %s: timed out after %s; reporting what finished\n", o.Controller, o.Timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Give cleanPodPolicy a moment, then count the workers left behind.
	res := &result{}
	deadline := time.Now().Add(30 * time.Second)
	for {
		pods := &corev1.PodList{}
		if err := cl.List(ctx, pods, client.InNamespace(benchNamespace), client.MatchingLabels{kubeflow.JobRoleLabel: kubeflow.RoleWorker}); err != nil {
			return nil, err
		}
		res.PodsLeft = len(pods.Items)
		if res.PodsLeft == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	res.PeakRSSMiB = peakRSSMiB(ctrlCmd.Process.Pid)

	mu.Lock()
	var podsCreated, running, succeeded []float64
	for _, t := range tracks {
		if !t.allPods.IsZero() {
			podsCreated = append(podsCreated, t.allPods.Sub(t.created).Seconds())
		}
		if !t.allRunning.IsZero() {
			running = append(running, t.allRunning.Sub(t.created).Seconds())
		}
		if !t.succeeded.IsZero() {
			succeeded = append(succeeded, t.succeeded.Sub(t.created).Seconds())
			res.Succeeded++
		}
		if t.sawRunning {
			res.RunningRecorded++
		}
	}
	mu.Unlock()
	res.PodsCreatedP50, res.PodsCreatedP99 = percentile(podsCreated, 50), percentile(podsCreated, 99)
	res.WorkersRunningP50, res.WorkersRunningP99 = percentile(running, 50), percentile(running, 99)
	res.SucceededP99 = percentile(succeeded, 99)

	// Stopping the apiserver flushes its audit log.
	_ = ctrlCmd.Process.Signal(syscall.SIGTERM)
	<-ctrlDone
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

func benchJob(name string, o options) *kubeflow.MPIJob {
	container := func(n string, gpu bool) corev1.Container {
		c := corev1.Container{Name: n, Image: "example.invalid/bench:1"}
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}
		if gpu {
			c.Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
		}
		return c
	}
	return &kubeflow.MPIJob{
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

func followJobs(events <-chan runtime.Object, tracks map[string]*jobTrack, mu *sync.Mutex, jobs int, done chan struct{}) {
	finished := 0
	for obj := range events {
		job, ok := obj.(*kubeflow.MPIJob)
		if !ok {
			continue
		}
		now := time.Now()
		mu.Lock()
		t := tracks[job.Name]
		if t != nil {
			for _, c := range job.Status.Conditions {
				if c.Type == kubeflow.JobRunning {
					t.sawRunning = true
				}
				if c.Type == kubeflow.JobSucceeded && c.Status == corev1.ConditionTrue && t.succeeded.IsZero() {
					t.succeeded = now
					finished++
				}
			}
		}
		mu.Unlock()
		if finished == jobs {
			close(done)
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

func peakRSSMiB(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
				return kb / 1024
			}
		}
	}
	return -1
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
