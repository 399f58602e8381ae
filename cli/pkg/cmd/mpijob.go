package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// resourceName prefixes job names in "-o name" output and messages.
const resourceName = "mpijob.kubeflow.org/"

func newMPIJobCommand(o *options) *cobra.Command {
	c := &cobra.Command{
		Use:     "mpijob",
		Aliases: []string{"mpijobs"},
		Short:   "Create, inspect and control MPIJobs",
		Args:    noArgs,
		RunE:    func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.AddCommand(
		newCreateCommand(o),
		newGetCommand(o),
		newDescribeCommand(o),
		newLogsCommand(o),
		newDeleteCommand(o),
		newSuspendCommand(o, true),
		newSuspendCommand(o, false),
		newWaitCommand(o),
	)
	return c
}

// exactlyOneName is the Args of commands that take a job NAME.
func exactlyOneName(c *cobra.Command, args []string) error {
	switch {
	case len(args) == 0:
		return usageErr(fmt.Errorf("a job NAME is required: %s", c.UseLine()))
	case len(args) > 1:
		return usageErr(fmt.Errorf("exactly one job NAME is expected, got %d: %s", len(args), strings.Join(args, " ")))
	}
	return nil
}

// checkOutput refuses -o values the command does not support.
func checkOutput(output string, allowed ...string) error {
	if output == "" || slices.Contains(allowed, output) {
		return nil
	}
	return usageErr(fmt.Errorf("unsupported output format %q: use one of %s", output, strings.Join(allowed, ", ")))
}

// forPrint returns a copy of obj with its kind set and managed fields cleared.
func forPrint(job *kubeflow.MPIJob) *kubeflow.MPIJob {
	j := job.DeepCopy()
	j.APIVersion, j.Kind = kubeflow.SchemeGroupVersion.String(), "MPIJob"
	j.ManagedFields = nil
	return j
}

// printObject writes obj as json, yaml or name.
func printObject(w io.Writer, obj any, name, output string) error {
	switch output {
	case "name":
		_, err := fmt.Fprintln(w, resourceName+name)
		return err
	case "json":
		b, err := json.MarshalIndent(obj, "", "    ")
		if err != nil {
			return fmt.Errorf("encoding JSON: %w", err)
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	case "yaml":
		b, err := yaml.Marshal(obj)
		if err != nil {
			return fmt.Errorf("encoding YAML: %w", err)
		}
		_, err = w.Write(b)
		return err
	}
	return usageErr(fmt.Errorf("unsupported output format %q", output))
}

// jobPods lists the pods of the named job, or of every job in ns ("" = all).
func jobPods(c *cobra.Command, cl client.Client, ns, job string) ([]corev1.Pod, error) {
	var pods corev1.PodList
	opts := []client.ListOption{client.InNamespace(ns)}
	if job != "" {
		opts = append(opts, client.MatchingLabels{kubeflow.JobNameLabel: job})
	} else {
		opts = append(opts, client.HasLabels{kubeflow.JobNameLabel})
	}
	if err := cl.List(c.Context(), &pods, opts...); err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	return pods.Items, nil
}

// clients returns the namespace the command acts in and the clients.
func (o *options) clients() (string, *Clients, error) {
	ns, _, err := o.namespace()
	if err != nil {
		return "", nil, err
	}
	cls, err := o.factory.Clients()
	return ns, cls, err
}

// job reads the job a command names, with the namespace and clients it
// was read with.
func (o *options) job(c *cobra.Command, name string) (string, *Clients, *kubeflow.MPIJob, error) {
	ns, cls, err := o.clients()
	if err != nil {
		return "", nil, nil, err
	}
	job, err := getJob(c, cls.Client, ns, name)
	return ns, cls, job, err
}

// getJob reads one job, with a kubectl-like NotFound message.
func getJob(c *cobra.Command, cl client.Client, ns, name string) (*kubeflow.MPIJob, error) {
	var job kubeflow.MPIJob
	if err := cl.Get(c.Context(), client.ObjectKey{Namespace: ns, Name: name}, &job); err != nil {
		return nil, fmt.Errorf("getting mpijob %s in namespace %s: %w", name, ns, err)
	}
	return &job, nil
}
