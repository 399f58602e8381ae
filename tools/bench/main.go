// Command bench measures the MPIJob controller on the local real cluster,
// Kubeflow's mpi-operator (--upstream) and the floor (--floor: no
// controller, each job's objects created by the bench: what the cluster
// itself can do), each on an identical fresh cluster in the same run, and
// prints them side by side with their ratios, stage by stage (pods
// created, workers bound, Running, Running condition, Succeeded), with the
// CPU seconds of the controller and of the control plane.
//
// Every controller runs with its cluster inside a network namespace of its
// own that has only a loopback interface (upstream's health server binds
// :8080 on every interface and has no flag to change that), so nothing
// listens beyond loopback.
//
// It then measures the MPIJob admission webhooks at a fixed request rate
// (--webhook-rate; 0 skips it), and the platform operator: MPIJobPlatform
// create to Ready and API writes while idle (--platform-idle; 0 skips it).
//
// With --console-only it measures the web console listing --console-jobs
// MPIJobs, in its backend and in headless Chromium (console.go).
//
//	go run ./tools/bench [--jobs 100] [--workers 8] [--nodes 100] [--upstream=false] [--floor=false] [--webhook-rate 200] [--webhook-only] [--platform-only] [--console-only]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

type options struct {
	Jobs        int           `json:"jobs"`
	Workers     int           `json:"workers"`
	Nodes       int           `json:"nodes"`
	FinishAfter time.Duration `json:"finishAfter"`
	Timeout     time.Duration `json:"timeout"`
	Controller  string        `json:"controller"` // ours | upstream
	// OursArgs are extra flags for our manager (experiments).
	OursArgs string `json:"oursArgs"`
	// History is how many finished MPIJobs exist before the measured ones
	// are created (kept: no TTL).
	History int `json:"history"`
	// Manager is our manager's binary, built once before the runs.
	Manager string `json:"manager"`
	// Kueue sends every job through a Kueue queue with GPUs for a third of
	// them at a time (kueue.go).
	Kueue bool `json:"kueue"`
}

// scenario is one set of controller measurements.
type scenario struct {
	name, what                    string
	jobs, workers, nodes, history int
	kueue                         bool
}

// scenarios are what --scenario names; "all" runs them in this order.
var scenarios = []scenario{
	{name: "quick", what: "100 jobs x 8 workers on 100 nodes", jobs: 100, workers: 8, nodes: 100},
	{name: "300", what: "300 jobs x 8 workers on 300 nodes", jobs: 300, workers: 8, nodes: 300},
	{name: "4000-workers", what: "500 jobs x 8 workers on 1000 nodes", jobs: 500, workers: 8, nodes: 1000},
	{name: "kueue", what: "300 jobs x 8 workers on 300 nodes, through Kueue with GPUs for a third of them at a time", jobs: 300, workers: 8, nodes: 300, kueue: true},
	{name: "history", what: "100 jobs x 8 workers on 100 nodes, with 1000 finished jobs kept", jobs: 100, workers: 8, nodes: 100, history: 1000},
}

// pickScenarios resolves --scenario: one name, a comma-separated list, or
// "all"; explicit --jobs/--workers/--nodes/--history make one custom
// scenario instead.
func pickScenarios(names string, custom *scenario) ([]scenario, error) {
	if custom != nil {
		return []scenario{*custom}, nil
	}
	if names == "all" {
		return scenarios, nil
	}
	var out []scenario
	for _, n := range strings.Split(names, ",") {
		found := false
		for _, sc := range scenarios {
			if sc.name == strings.TrimSpace(n) {
				out, found = append(out, sc), true
			}
		}
		if !found {
			known := make([]string, 0, len(scenarios))
			for _, sc := range scenarios {
				known = append(known, sc.name)
			}
			return nil, fmt.Errorf("unknown scenario %q: use one of %s, or all", n, strings.Join(known, ", "))
		}
	}
	return out, nil
}

func main() {
	// API warnings (deprecations, pruned fields) reach the user.
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	var o options
	var upstream, upstreamOnly, floor bool
	var internal string
	var hooks webhookOptions
	var webhookOnly, platformOnly, consoleOnly bool
	var console consoleOptions
	var platformIdle time.Duration
	flag.IntVar(&o.Jobs, "jobs", 100, "MPIJobs created at once")
	flag.IntVar(&o.Workers, "workers", 8, "workers per job (1 nvidia.com/gpu each)")
	flag.IntVar(&o.Nodes, "nodes", 0, "kwok GPU nodes (8 GPUs each); default: just enough for every worker")
	flag.IntVar(&o.History, "history", 0, "finished MPIJobs kept before the measured ones are created")
	flag.StringVar(&o.Manager, "manager", "", "(internal) our manager's binary")
	var scenarioNames string
	flag.StringVar(&scenarioNames, "scenario", "quick", "controller scenarios: quick, 300, 4000-workers, kueue, history (comma-separated) or all; --jobs, --workers, --nodes, --history or --kueue instead run one custom scenario")
	flag.BoolVar(&o.Kueue, "kueue", false, "send every job through Kueue, with GPUs for a third of the jobs at a time")
	flag.DurationVar(&o.FinishAfter, "finish-after", 20*time.Second, "how long each launcher runs once Running")
	flag.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "give up a run after this long")
	flag.BoolVar(&upstream, "upstream", true, "also measure upstream mpi-operator v0.8.0 in its best tuning, side by side")
	flag.BoolVar(&floor, "floor", true, "also measure the floor: no controller, each job's objects created by the bench")
	flag.BoolVar(&upstreamOnly, "upstream-only", false, "measure only upstream mpi-operator")
	flag.StringVar(&o.OursArgs, "ours-args", "", "extra space-separated flags for our manager, e.g. --config=FILE (a ControllerConfiguration)")
	flag.StringVar(&internal, "internal-run", "", "(internal) run one controller in this network namespace and print JSON")
	flag.IntVar(&hooks.Rate, "webhook-rate", 200, "admission requests per second for the webhook benchmark; 0 skips it")
	flag.DurationVar(&hooks.Duration, "webhook-duration", 10*time.Second, "length of each webhook measurement")
	flag.BoolVar(&webhookOnly, "webhook-only", false, "measure only the admission webhooks")
	flag.BoolVar(&platformOnly, "platform-only", false, "measure only the platform operator")
	flag.DurationVar(&platformIdle, "platform-idle", 30*time.Second, "how long to count the platform operator's API writes while nothing changes; 0 skips the platform benchmark")
	flag.BoolVar(&consoleOnly, "console-only", false, "measure only the web console's job list (backend and headless Chromium)")
	flag.IntVar(&console.Jobs, "console-jobs", 10000, "console benchmark: suspended MPIJobs in the member's namespace; 0 skips the console benchmark")
	flag.IntVar(&console.ClusterJobs, "console-cluster-jobs", 50000, "console benchmark: suspended MPIJobs in all namespaces (the admin's view), those of the member's namespace included")
	flag.IntVar(&console.Runs, "console-runs", 10, "console benchmark: browser page loads measured (and 3x as many API requests)")
	flag.Parse()
	if consoleOnly {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return benchConsole(ctx, console)
	}
	if hooks.Rate < 0 || (webhookOnly && hooks.Rate == 0) {
		return fmt.Errorf("--webhook-rate must be positive (got %d)", hooks.Rate)
	}
	if webhookOnly || platformOnly {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if platformOnly {
			return benchPlatform(ctx, platformIdle)
		}
		return benchWebhooks(ctx, hooks)
	}
	if internal != "" {
		if o.Nodes == 0 {
			o.Nodes = (o.Jobs*o.Workers + 7) / 8
		}
		o.Controller = internal
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		res, err := measure(ctx, o)
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	var custom *scenario
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "jobs", "workers", "nodes", "history", "kueue":
			custom = &scenario{name: "custom", jobs: o.Jobs, workers: o.Workers, nodes: o.Nodes, history: o.History, kueue: o.Kueue}
		}
	})
	if custom != nil {
		if custom.jobs < 1 || custom.workers < 1 || custom.history < 0 {
			return fmt.Errorf("--jobs and --workers must be at least 1 and --history not negative (got %d, %d, %d)", custom.jobs, custom.workers, custom.history)
		}
		if custom.nodes == 0 {
			custom.nodes = (custom.jobs*custom.workers + 7) / 8
		}
		custom.what = fmt.Sprintf("%d jobs x %d workers on %d nodes", custom.jobs, custom.workers, custom.nodes)
		if custom.history > 0 {
			custom.what += fmt.Sprintf(", with %d finished jobs kept", custom.history)
		}
		if custom.kueue {
			custom.what += ", through Kueue with GPUs for a third of them at a time"
		}
	}
	picked, err := pickScenarios(scenarioNames, custom)
	if err != nil {
		return err
	}

	var controllers []string
	if !upstreamOnly {
		controllers = append(controllers, "ours")
	}
	if upstream || upstreamOnly {
		controllers = append(controllers, "upstream")
	}
	if floor && !upstreamOnly {
		controllers = append(controllers, "floor")
	}
	// The isolated runs cannot reach the Go module proxy: build and download
	// everything they use first (the control plane, upstream mpi-operator,
	// our manager, once for every run).
	prepCtx, stopPrep := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	_, err = framework.PrepareForNetns(prepCtx, upstream || upstreamOnly, os.Stderr)
	if err == nil && !upstreamOnly {
		var ws *workspace
		if ws, err = newWorkspace("manager"); err == nil {
			defer ws.done()
			o.Manager, err = ws.buildManager(prepCtx)
		}
	}
	stopPrep()
	if err != nil {
		return fmt.Errorf("building before the isolated runs: %w", err)
	}
	for _, sc := range picked {
		o.Jobs, o.Workers, o.Nodes, o.History, o.Kueue = sc.jobs, sc.workers, sc.nodes, sc.history, sc.kueue
		fmt.Printf("\nbench: scenario %s: %s (1 GPU per worker), created at once; launchers run %s\n", sc.name, sc.what, o.FinishAfter)
		results := map[string]*result{}
		for _, c := range controllers {
			fmt.Printf("bench: measuring %s (fresh cluster in its own loopback-only network namespace)...\n", c)
			res, err := runIsolated(o, c)
			if err != nil {
				return fmt.Errorf("scenario %s, %s: %w", sc.name, c, err)
			}
			results[c] = res
		}
		printResults(o, controllers, results)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if hooks.Rate > 0 {
		if err := benchWebhooks(ctx, hooks); err != nil {
			return err
		}
	}
	if platformIdle > 0 {
		if err := benchPlatform(ctx, platformIdle); err != nil {
			return err
		}
	}
	if console.Jobs > 0 {
		return benchConsole(ctx, console)
	}
	return nil
}

// runIsolated re-runs this program in a new network namespace holding only
// a loopback interface, and reads its JSON result.
func runIsolated(o options, controller string) (*result, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"--net"}
	if os.Geteuid() != 0 {
		args = append(args, "--map-root-user")
	}
	args = append(args, "sh", "-c", `ip link set lo up && exec "$0" "$@"`, self,
		"--internal-run="+controller,
		fmt.Sprintf("--jobs=%d", o.Jobs), fmt.Sprintf("--workers=%d", o.Workers), fmt.Sprintf("--nodes=%d", o.Nodes),
		"--finish-after="+o.FinishAfter.String(), "--timeout="+o.Timeout.String(), "--ours-args="+o.OursArgs,
		fmt.Sprintf("--history=%d", o.History), fmt.Sprintf("--kueue=%t", o.Kueue), "--manager="+o.Manager)
	cmd := exec.Command("unshare", args...)
	// Everything was built by PrepareForNetns: no module downloads in there.
	cmd.Env = append(os.Environ(), framework.OfflineGoEnv)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("isolated run: %w", err)
	}
	res := &result{}
	if err := json.Unmarshal(out.Bytes(), res); err != nil {
		return nil, fmt.Errorf("reading the isolated run's result %q: %w", out.String(), err)
	}
	return res, nil
}

func printResults(o options, controllers []string, results map[string]*result) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	has := func(c string) bool { _, ok := results[c]; return ok }
	var ratios [][2]string // numerator, denominator
	for _, c := range []string{"ours", "upstream"} {
		if has(c) && has("floor") {
			ratios = append(ratios, [2]string{c, "floor"})
		}
	}
	if has("ours") && has("upstream") {
		ratios = append(ratios, [2]string{"upstream", "ours"})
	}
	header := "metric\t"
	for _, c := range controllers {
		header += c + "\t"
	}
	for _, r := range ratios {
		header += r[0] + "/" + r[1] + "\t"
	}
	fmt.Fprintln(tw, header)
	// A row no controller has a value for (Kueue's stages without Kueue) is
	// left out.
	row := func(name string, get func(*result) float64, format string, withRatios bool) {
		some := false
		for _, c := range controllers {
			some = some || get(results[c]) >= 0
		}
		if !some {
			return
		}
		line := name + "\t"
		for _, c := range controllers {
			v := get(results[c])
			if v < 0 {
				line += "-\t"
			} else {
				line += fmt.Sprintf(format, v) + "\t"
			}
		}
		for _, r := range ratios {
			num, den := get(results[r[0]]), get(results[r[1]])
			if withRatios && num >= 0 && den > 0 {
				line += fmt.Sprintf("%.2fx", num/den) + "\t"
			} else {
				line += "-\t"
			}
		}
		fmt.Fprintln(tw, line)
	}
	for _, st := range stages {
		for _, p := range []string{"p50", "p90", "p99"} {
			key := st.key
			get := func(r *result) float64 {
				s, ok := r.Stages[key]
				if !ok {
					return -1
				}
				return map[string]float64{"p50": s.P50, "p90": s.P90, "p99": s.P99}[p]
			}
			row(fmt.Sprintf("%s %s (s)", st.what, p), get, "%.2f", true)
		}
	}
	row("API writes per job", func(r *result) float64 { return r.WritesPerJob }, "%.1f", true)
	cpu := func(name string, perJob bool) func(*result) float64 {
		return func(r *result) float64 {
			v, ok := r.CPUSeconds[name]
			if !ok {
				return -1
			}
			if perJob {
				return v / float64(o.Jobs) * 1000
			}
			return v
		}
	}
	row("controller CPU (s)", cpu("controller", false), "%.1f", true)
	row("controller CPU per job (ms)", cpu("controller", true), "%.0f", true)
	for _, p := range []string{"apiserver", "etcd", "scheduler", "controller-manager", "kwok", "kueue"} {
		row(p+" CPU (s)", cpu(p, false), "%.1f", true)
	}
	row("controller peak RSS (MiB)", func(r *result) float64 {
		if r.PeakRSSMiB == 0 {
			return -1
		}
		return r.PeakRSSMiB
	}, "%.0f", false)
	row("controller RSS at start (MiB)", func(r *result) float64 {
		if r.StartRSSMiB <= 0 {
			return -1
		}
		return r.StartRSSMiB
	}, "%.0f", false)
	row("controller RSS growth per 100 jobs (MiB)", func(r *result) float64 {
		if r.StartRSSMiB <= 0 {
			return -1
		}
		return (r.MaxSampledRSSMiB - r.StartRSSMiB) / float64(o.Jobs) * 100
	}, "%.1f", false)
	row("jobs Succeeded", func(r *result) float64 { return float64(r.Succeeded) }, "%.0f", false)
	row("jobs with Running condition", func(r *result) float64 { return float64(r.RunningRecorded) }, "%.0f", false)
	row("worker pods deleted more than once", func(r *result) float64 { return float64(r.RepeatedDeletes) }, "%.0f", false)
	row("pods left behind", func(r *result) float64 { return float64(r.PodsLeft) }, "%.0f", false)
	row("pods still terminating after 60 s", func(r *result) float64 { return float64(r.PodsTerminating) }, "%.0f", false)
	_ = tw.Flush()
	for _, c := range controllers {
		kinds := make([]string, 0, len(results[c].WritesByKind))
		for k, n := range results[c].WritesByKind {
			kinds = append(kinds, fmt.Sprintf("%s=%.1f", k, float64(n)/float64(o.Jobs)))
		}
		sort.Strings(kinds)
		fmt.Printf("%s writes per job: %s\n", c, strings.Join(kinds, ", "))
	}
	fmt.Printf("(%d jobs x %d workers; times from each job's create call; the floor is no controller, its objects created by the bench; lower is better except counts of jobs)\n", o.Jobs, o.Workers)
}
