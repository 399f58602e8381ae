package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
)

// pollInterval is how often waits re-read the job.
var pollInterval = time.Second

func newWaitCommand(o *options) *cobra.Command {
	var (
		forCond string
		timeout time.Duration
	)
	c := &cobra.Command{
		Use:   "wait NAME --for=completion [--timeout=DURATION]",
		Short: "Wait for an MPIJob to finish",
		Long: `Wait for an MPIJob to succeed or fail.

Exits 0 when the job succeeded, 1 when it failed (the Failed condition's
message, with its diagnosis and remediation, is printed on stderr), 3 when
the timeout expires first (saying whether the job is still queued or
suspended), and 4 when the job does not exist.`,
		Example: `  kubectl odh mpijob wait bert --for=completion --timeout=2h`,
		Args:    exactlyOneName,
		RunE: func(c *cobra.Command, args []string) error {
			if forCond != "completion" {
				return usageErr(fmt.Errorf("--for must be completion, not %q", forCond))
			}
			if timeout < 0 {
				return usageErr(errors.New("--timeout must not be negative"))
			}
			ns, cls, err := o.clients()
			if err != nil {
				return err
			}
			if err := waitForCompletion(c.Context(), cls.Client, ns, args[0], timeout); err != nil {
				return err
			}
			_, err = fmt.Fprintf(o.streams.Out, "%s%s condition met: Succeeded\n", resourceName, args[0])
			return err
		},
	}
	c.Flags().StringVar(&forCond, "for", "completion", "the condition to wait for: completion (Succeeded or Failed)")
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait; 0 waits forever")
	return c
}

// waitForCompletion polls the job until it succeeds (nil), fails (exit 1
// with the Failed message), or the timeout or context ends (exit 3).
func waitForCompletion(ctx context.Context, cl client.Client, ns, name string, timeout time.Duration) error {
	// The deadline is kept apart from the requests' context, so that a read
	// in flight (or waiting on the client's rate limiter) near the deadline
	// does not turn a timeout into an error.
	var deadline <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		deadline = timer.C
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var (
		last    *kubeflow.MPIJob
		lastErr error
	)
	for {
		var job kubeflow.MPIJob
		err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &job)
		switch {
		case err == nil:
			last, lastErr = &job, nil
			if c := mpijob.TrueCondition(&job, kubeflow.JobSucceeded); c != nil {
				return nil
			}
			if c := mpijob.TrueCondition(&job, kubeflow.JobFailed); c != nil {
				msg := c.Message
				if msg == "" {
					msg = "no message"
				}
				if c.Reason != "" {
					msg = c.Reason + ": " + msg
				}
				return &ExitError{Code: ExitJobFailed, Err: fmt.Errorf("mpijob %s failed: %s", name, msg)}
			}
		case ExitCode(err) == ExitNotFound:
			return fmt.Errorf("mpijob %s in namespace %s: %w", name, ns, err)
		default:
			// Transient (network, throttling): keep trying until the deadline.
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return &ExitError{Code: ExitTimeout, Err: fmt.Errorf("interrupted while waiting for mpijob %s to finish: %s", name, stillWhat(last, lastErr))}
		case <-deadline:
			return &ExitError{Code: ExitTimeout, Err: fmt.Errorf("timed out after %s waiting for mpijob %s to finish: %s", timeout, name, stillWhat(last, lastErr))}
		case <-tick.C:
		}
	}
}

// stillWhat explains where a job stands when a wait gives up.
func stillWhat(job *kubeflow.MPIJob, lastErr error) string {
	if job == nil {
		if lastErr != nil {
			return "it could not be read: " + oneLine(lastErr.Error())
		}
		return "it could not be read"
	}
	switch s := mpijob.PhaseOf(job); s {
	case mpijob.PhaseQueued:
		return fmt.Sprintf("it is still queued in %s (suspended until Kueue admits it)", mpijob.QueueOf(job))
	case mpijob.PhaseSuspended:
		return "it is still suspended (resume it with: kubectl odh mpijob resume " + job.Name + ")"
	default:
		return "it is still " + map[mpijob.Phase]string{mpijob.PhaseRunning: "running", mpijob.PhaseRestarting: "restarting", mpijob.PhaseCreated: "starting", mpijob.PhasePending: "pending"}[s]
	}
}
