package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/jobspec"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/logs"
)

type createOptions struct {
	*options
	filename string
	build    jobspec.Spec
	env      []string
	command  string
	dryRun   string
	output   string
	wait     bool
	logs     bool
	timeout  time.Duration
}

func newCreateCommand(o *options) *cobra.Command {
	co := &createOptions{options: o}
	c := &cobra.Command{
		Use:   "create [NAME] (-f FILE | --image IMAGE [flags]) [-- COMMAND [ARG...]]",
		Short: "Create an MPIJob from a file or from flags",
		Long: `Create an MPIJob from a manifest (-f FILE, or -f - for stdin) or from flags.

From flags, NAME and --image are required. The launcher runs the command
given by --command (split on spaces) or, for arguments that contain spaces,
the words after "--", which are used verbatim. Workers run the image's
entrypoint. --slots defaults to --gpus-per-worker, or 1 without GPUs.

With --wait the command waits for the job to finish and exits with the job's
outcome (0 succeeded, 1 failed, 3 timed out); --logs also streams the
launcher's log while waiting (log errors are reported as warnings).`,
		Example: `  # From a manifest
  kubectl odh mpijob create -f job.yaml -o name

  # From flags: 4 workers with 8 GPUs each, queued through Kueue
  kubectl odh mpijob create bert --image registry.example/bert:1.0 --workers 4 \
    --gpus-per-worker 8 --queue team-a --command "mpirun -np 32 python train.py"

  # Preview the manifest without creating it
  kubectl odh mpijob create pi --image mpi-pi:latest --dry-run=client -o yaml`,
		RunE: co.run,
	}
	f := c.Flags()
	f.StringVarP(&co.filename, "filename", "f", "", "manifest of the MPIJob to create (- for stdin)")
	f.StringVar(&co.build.Image, "image", "", "container image of the launcher and the workers")
	f.Int32Var(&co.build.Workers, "workers", 1, "number of worker pods")
	f.Int64Var(&co.build.GPUsPerWorker, "gpus-per-worker", 0, "nvidia.com/gpu limit of each worker")
	f.StringVar(&co.build.CPU, "cpu", "", "CPU request and limit of each worker (e.g. 4 or 500m)")
	f.StringVar(&co.build.Memory, "memory", "", "memory request and limit of each worker (e.g. 16Gi)")
	f.Int32Var(&co.build.SlotsPerWorker, "slots", 0, "MPI slots per worker (default: --gpus-per-worker, or 1)")
	f.StringVar(&co.command, "command", "", "launcher command, split on spaces (e.g. \"mpirun -np 8 python train.py\")")
	f.StringArrayVar(&co.env, "env", nil, "environment variable KEY=VALUE for all pods (repeatable)")
	f.StringVar(&co.build.Queue, "queue", "", "Kueue LocalQueue (sets the kueue.x-k8s.io/queue-name label)")
	f.StringVar(&co.build.MPIImplementation, "mpi-implementation", "OpenMPI", "OpenMPI, Intel or MPICH")
	f.StringVar(&co.dryRun, "dry-run", "none", "none, client (print only) or server (validated and defaulted by the API server, not persisted)")
	f.StringVarP(&co.output, "output", "o", "", "output format: json, yaml or name")
	f.BoolVar(&co.wait, "wait", false, "wait for the job to finish; the exit code is its outcome")
	f.BoolVar(&co.logs, "logs", false, "with --wait, stream the launcher's log while waiting")
	f.DurationVar(&co.timeout, "timeout", 0, "with --wait, give up after this long (exit 3); 0 waits forever")
	return c
}

// flagsOnly are the flags that only make sense without -f.
var flagsOnly = []string{"image", "workers", "gpus-per-worker", "cpu", "memory", "slots", "command", "env", "queue", "mpi-implementation"}

func (co *createOptions) run(c *cobra.Command, args []string) error {
	if err := checkOutput(co.output, "json", "yaml", "name"); err != nil {
		return err
	}
	switch co.dryRun {
	case "none", "client", "server":
	default:
		return usageErr(fmt.Errorf("--dry-run must be none, client or server, not %q", co.dryRun))
	}
	if co.logs && !co.wait {
		return usageErr(errors.New("--logs needs --wait"))
	}
	if co.wait && co.dryRun != "none" {
		return usageErr(errors.New("--wait cannot be used with --dry-run"))
	}
	job, err := co.job(c, args)
	if err != nil {
		return err
	}
	ns, explicit, err := co.namespace()
	if err != nil {
		return err
	}
	switch {
	case job.Namespace == "":
		job.Namespace = ns
	case explicit && job.Namespace != ns:
		return usageErr(fmt.Errorf("the namespace of the manifest (%s) does not match -n %s", job.Namespace, ns))
	}
	if co.dryRun == "client" {
		return co.print(job, " (dry run)")
	}
	cls, err := co.factory.Clients()
	if err != nil {
		return err
	}
	var opts []client.CreateOption
	if co.dryRun == "server" {
		opts = append(opts, client.DryRunAll)
	}
	if err := cls.Client.Create(c.Context(), job, opts...); err != nil {
		return fmt.Errorf("creating mpijob %s in namespace %s: %w", job.Name, job.Namespace, err)
	}
	suffix := ""
	if co.dryRun == "server" {
		suffix = " (server dry run)"
	}
	if err := co.print(job, suffix); err != nil {
		return err
	}
	if !co.wait {
		return nil
	}
	ctx := c.Context()
	var logsDone chan struct{}
	if co.logs {
		logsCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		logsDone = make(chan struct{})
		src := &kubeLogSource{cl: cls.Client, kube: cls.Kube, ns: job.Namespace, job: job.Name, launcher: true}
		go func() {
			defer close(logsDone)
			if err := logs.Run(logsCtx, src, co.streams.Out, logs.Options{Follow: true}); err != nil && logsCtx.Err() == nil {
				fmt.Fprintf(co.streams.ErrOut, "Warning: streaming the launcher's log: %s\n", oneLine(err.Error()))
			}
		}()
		defer func() {
			select {
			case <-logsDone:
			case <-time.After(5 * time.Second):
				cancel()
				<-logsDone
			}
		}()
	}
	return waitForCompletion(ctx, cls.Client, job.Namespace, job.Name, co.timeout)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (co *createOptions) print(job *kubeflow.MPIJob, suffix string) error {
	if co.output == "" {
		_, err := fmt.Fprintf(co.streams.Out, "%s%s created%s\n", resourceName, job.Name, suffix)
		return err
	}
	return printObject(co.streams.Out, forPrint(job), job.Name, co.output)
}

// job builds the MPIJob from -f or from flags.
func (co *createOptions) job(c *cobra.Command, args []string) (*kubeflow.MPIJob, error) {
	dash := c.ArgsLenAtDash()
	var names, after []string
	if dash >= 0 {
		names, after = args[:dash], args[dash:]
	} else {
		names = args
	}
	if len(names) > 1 {
		return nil, usageErr(fmt.Errorf("expected at most one NAME, got %s", strings.Join(names, " ")))
	}
	if co.filename != "" {
		for _, fl := range flagsOnly {
			if c.Flags().Changed(fl) {
				return nil, usageErr(fmt.Errorf("--%s cannot be combined with -f", fl))
			}
		}
		if len(after) > 0 {
			return nil, usageErr(errors.New("a command after -- cannot be combined with -f"))
		}
		job, err := co.readFile()
		if err != nil {
			return nil, err
		}
		if len(names) == 1 {
			job.Name = names[0]
		}
		if job.Name == "" && job.GenerateName == "" {
			return nil, usageErr(fmt.Errorf("the manifest %s has no metadata.name", co.filename))
		}
		return job, nil
	}
	if len(names) == 0 {
		if co.build.Image == "" {
			return nil, usageErr(errors.New("either -f FILE, or NAME and --image, are required"))
		}
		return nil, usageErr(errors.New("a NAME argument is required when creating from flags"))
	}
	if co.command != "" && len(after) > 0 {
		return nil, usageErr(errors.New("give the launcher command with --command or after --, not both"))
	}
	spec := co.build
	spec.Name = names[0]
	spec.Command = strings.Fields(co.command)
	if len(after) > 0 {
		spec.Command = after
	}
	for _, kv := range co.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageErr(fmt.Errorf("--env must be KEY=VALUE, not %q", kv))
		}
		spec.Env = append(spec.Env, corev1.EnvVar{Name: k, Value: v})
	}
	job, errs := spec.Build()
	if len(errs) > 0 {
		return nil, usageErr(flagErrors(errs))
	}
	return job, nil
}

// specFlags names the flag (or argument) of each jobspec field.
var specFlags = map[string]string{
	"name": "NAME", "image": "--image", "workers": "--workers", "gpusPerWorker": "--gpus-per-worker",
	"cpu": "--cpu", "memory": "--memory", "slotsPerWorker": "--slots", "mpiImplementation": "--mpi-implementation",
	"queue": "--queue", "env": "--env", "command": "--command",
}

// flagErrors says the jobspec's field errors in the words of the flags.
func flagErrors(errs field.ErrorList) error {
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		root, _, _ := strings.Cut(e.Field, "[")
		root, _, _ = strings.Cut(root, ".")
		name := specFlags[root]
		if name == "" {
			name = e.Field
		}
		msgs = append(msgs, name+": "+e.ErrorBody())
	}
	return fmt.Errorf("invalid flags: %s", strings.Join(msgs, "; "))
}

var mpiJobGK = schema.GroupKind{Group: kubeflow.GroupName, Kind: "MPIJob"}

func (co *createOptions) readFile() (*kubeflow.MPIJob, error) {
	var (
		data []byte
		err  error
	)
	if co.filename == "-" {
		data, err = io.ReadAll(co.streams.In)
	} else {
		data, err = os.ReadFile(co.filename)
	}
	if err != nil {
		return nil, usageErr(fmt.Errorf("reading %s: %w", co.filename, err))
	}
	return DecodeMPIJob(data, co.filename)
}

// DecodeMPIJob parses a YAML or JSON manifest holding exactly one MPIJob.
func DecodeMPIJob(data []byte, source string) (*kubeflow.MPIJob, error) {
	var docs [][]byte
	for _, d := range bytes.Split(append([]byte("\n"), data...), []byte("\n---")) {
		if len(bytes.TrimSpace(stripComments(d))) > 0 {
			docs = append(docs, d)
		}
	}
	switch {
	case len(docs) == 0:
		return nil, usageErr(fmt.Errorf("%s is empty", source))
	case len(docs) > 1:
		return nil, usageErr(fmt.Errorf("%s holds %d documents; give exactly one MPIJob", source, len(docs)))
	}
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(docs[0], &tm); err != nil {
		return nil, usageErr(fmt.Errorf("parsing %s: %w", source, err))
	}
	gv, err := schema.ParseGroupVersion(tm.APIVersion)
	if err != nil {
		return nil, usageErr(fmt.Errorf("parsing %s: apiVersion: %w", source, err))
	}
	if gv.WithKind(tm.Kind).GroupKind() != mpiJobGK {
		got := strings.TrimSpace(tm.APIVersion + " " + tm.Kind)
		if got == "" {
			got = "no apiVersion and kind"
		}
		return nil, usageErr(fmt.Errorf("wrong kind in %s: expected kubeflow.org/v2beta1 MPIJob, got %s", source, got))
	}
	if gv.Version != kubeflow.SchemeGroupVersion.Version {
		return nil, usageErr(fmt.Errorf("wrong version in %s: expected kubeflow.org/v2beta1, got %s", source, tm.APIVersion))
	}
	var job kubeflow.MPIJob
	if err := yaml.UnmarshalStrict(docs[0], &job); err != nil {
		return nil, usageErr(fmt.Errorf("parsing %s: %w", source, err))
	}
	return &job, nil
}

func stripComments(d []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(d, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}
