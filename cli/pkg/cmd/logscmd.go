package cmd

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/logs"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/printers"
)

func newLogsCommand(o *options) *cobra.Command {
	var (
		launcher, all, follow bool
		worker                int
		since                 time.Duration
		tail                  int64
	)
	c := &cobra.Command{
		Use:   "logs NAME [--launcher | --worker N | --all] [-f]",
		Short: "Print the logs of an MPIJob's launcher, one worker, or all pods",
		Long: `Print the logs of an MPIJob's pods: the launcher (default), one worker
(--worker N, N being the replica index), or all of them (--all), where each
line is prefixed with "[pod-name] ".

With --follow the command waits for pods to start, follows pods that appear
later (a relaunched launcher, late workers) and ends when the job has finished
and every log has ended. Exits 1 when a log cannot be read.`,
		Example: `  kubectl odh mpijob logs bert
  kubectl odh mpijob logs bert --worker 3 --tail 100
  kubectl odh mpijob logs bert --all -f`,
		Args: exactlyOneName,
		RunE: func(c *cobra.Command, args []string) error {
			n := 0
			for _, set := range []bool{c.Flags().Changed("launcher") && launcher, c.Flags().Changed("worker"), all} {
				if set {
					n++
				}
			}
			if n > 1 {
				return usageErr(errors.New("--launcher, --worker and --all are exclusive"))
			}
			if c.Flags().Changed("worker") && worker < 0 {
				return usageErr(fmt.Errorf("--worker must not be negative, not %d", worker))
			}
			if since < 0 {
				return usageErr(errors.New("--since must not be negative"))
			}
			ns, cls, job, err := o.job(c, args[0])
			if err != nil {
				return err
			}
			if n := printers.Workers(job); c.Flags().Changed("worker") && job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker] != nil && worker >= int(n) {
				return usageErr(fmt.Errorf("mpijob %s has %d worker(s): --worker takes 0 to %d, not %d", job.Name, n, n-1, worker))
			}
			src := &kubeLogSource{
				cl: cls.Client, kube: cls.Kube, ns: ns, job: args[0],
				launcher: !all && !c.Flags().Changed("worker"), worker: worker, all: all,
				since: int64(since.Round(time.Second) / time.Second),
			}
			if tail >= 0 {
				src.tail = &tail
			}
			if err := logs.Run(c.Context(), src, o.streams.Out, logs.Options{Follow: follow, Prefix: all}); err != nil {
				if ExitCode(err) == ExitNotFound {
					return err
				}
				return &ExitError{Code: ExitJobFailed, Err: err}
			}
			return nil
		},
	}
	f := c.Flags()
	f.BoolVar(&launcher, "launcher", true, "print the launcher's log (the default)")
	f.IntVar(&worker, "worker", -1, "print the log of worker N (its replica index)")
	f.BoolVar(&all, "all", false, "print the logs of all pods, each line prefixed with [pod-name]")
	f.BoolVarP(&follow, "follow", "f", false, "follow the logs, waiting for pods to start and picking up new ones")
	f.DurationVar(&since, "since", 0, "only lines newer than this (e.g. 10m)")
	f.Int64Var(&tail, "tail", -1, "only the last N lines of each log (-1 for all)")
	return c
}
