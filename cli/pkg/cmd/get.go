package cmd

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/printers"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/queue"
)

type getOptions struct {
	*options
	output        string
	allNamespaces bool
	watch         bool
	noHeaders     bool
	// table aligns the rows of -w with those printed before.
	table *printers.Table
}

func newGetCommand(o *options) *cobra.Command {
	g := &getOptions{options: o}
	c := &cobra.Command{
		Use:   "get [NAME]",
		Short: "List MPIJobs, or show one",
		Long: `List MPIJobs with their status, ready workers, Kueue queue and age.

STATUS is Succeeded, Failed, Queued (suspended with a Kueue queue), Suspended,
Restarting, Running, Created or Pending. -o wide adds the launcher pod's phase,
the total GPUs requested and, for queued jobs, the place in the LocalQueue
(1 is admitted next) where Kueue serves its visibility API (VisibilityOnDemand). -w prints a new row whenever a job changes,
until interrupted.`,
		Example: `  kubectl odh mpijob get
  kubectl odh mpijob get -A -o wide
  kubectl odh mpijob get bert -o yaml
  kubectl odh mpijob get bert -w`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErr(fmt.Errorf("expected at most one NAME, got %d", len(args)))
			}
			return nil
		},
		RunE: g.run,
	}
	c.Flags().StringVarP(&g.output, "output", "o", "", "output format: wide, json, yaml or name")
	c.Flags().BoolVarP(&g.allNamespaces, "all-namespaces", "A", false, "list jobs in all namespaces")
	c.Flags().BoolVarP(&g.watch, "watch", "w", false, "after listing, print a row for every change until interrupted")
	c.Flags().BoolVar(&g.noHeaders, "no-headers", false, "do not print the table header")
	return c
}

func (g *getOptions) run(c *cobra.Command, args []string) error {
	if err := checkOutput(g.output, "wide", "json", "yaml", "name"); err != nil {
		return err
	}
	ns, _, err := g.namespace()
	if err != nil {
		return err
	}
	if g.allNamespaces {
		if len(args) == 1 {
			return usageErr(fmt.Errorf("a NAME cannot be combined with -A"))
		}
		ns = ""
	}
	cls, err := g.factory.Clients()
	if err != nil {
		return err
	}
	var jobs []kubeflow.MPIJob
	rv := ""
	if len(args) == 1 {
		job, err := getJob(c, cls.Client, ns, args[0])
		if err != nil {
			return err
		}
		jobs, rv = []kubeflow.MPIJob{*job}, job.ResourceVersion
	} else {
		var list kubeflow.MPIJobList
		if err := cls.Client.List(c.Context(), &list, client.InNamespace(ns)); err != nil {
			return fmt.Errorf("listing mpijobs: %w", err)
		}
		jobs, rv = list.Items, list.ResourceVersion
	}
	pods, err := jobPods(c, cls.Client, ns, "")
	if err != nil {
		return err
	}
	views := makeViews(jobs, pods)
	if g.output == "wide" {
		g.addQueuePositions(c.Context(), cls.Kube.CoreV1().RESTClient(), views)
	}
	printers.SortViews(views)
	if err := g.print(views, len(args) == 1, g.noHeaders); err != nil {
		return err
	}
	if len(args) == 0 && len(jobs) == 0 && !g.watch && (g.output == "" || g.output == "wide") {
		if g.allNamespaces {
			fmt.Fprintln(g.streams.ErrOut, "No resources found")
		} else {
			fmt.Fprintf(g.streams.ErrOut, "No resources found in %s namespace.\n", ns)
		}
	}
	if !g.watch {
		return nil
	}
	return g.watchJobs(c, cls.Client, ns, args, rv)
}

// addQueuePositions fills in queued jobs' places in their LocalQueues from
// Kueue's visibility API. Without the API the column stays empty; an error
// reading it is a warning, not a failure of the listing.
func (g *getOptions) addQueuePositions(ctx context.Context, rc rest.Interface, views []printers.JobView) {
	byQueue := map[[2]string][]int{}
	for i, v := range views {
		if q := mpijob.QueueOf(v.Job); q != "" && mpijob.PhaseOf(v.Job) == mpijob.PhaseQueued {
			k := [2]string{v.Job.Namespace, q}
			byQueue[k] = append(byQueue[k], i)
		}
	}
	for k, idx := range byQueue {
		positions, _, err := queue.Positions(ctx, rc, k[0], k[1])
		if err != nil {
			fmt.Fprintf(g.streams.ErrOut, "Warning: queue positions unknown: %v\n", err)
			continue
		}
		for _, i := range idx {
			views[i].QueuePosition = positions[views[i].Job.UID].LocalQueue
		}
	}
}

// makeViews pairs jobs with their pods.
func makeViews(jobs []kubeflow.MPIJob, pods []corev1.Pod) []printers.JobView {
	byJob := map[string][]corev1.Pod{}
	for _, p := range pods {
		k := p.Namespace + "/" + p.Labels[kubeflow.JobNameLabel]
		byJob[k] = append(byJob[k], p)
	}
	views := make([]printers.JobView, 0, len(jobs))
	for i := range jobs {
		views = append(views, printers.JobView{Job: &jobs[i], Pods: byJob[jobs[i].Namespace+"/"+jobs[i].Name]})
	}
	return views
}

func (g *getOptions) print(views []printers.JobView, single, noHeaders bool) error {
	out := g.streams.Out
	switch g.output {
	case "", "wide":
		wide := g.output == "wide"
		if g.table != nil {
			row := printers.Row(views[0], wide, g.allNamespaces, g.now())
			g.table.Fit(row)
			_, err := io.WriteString(out, g.table.Format(row))
			return err
		}
		if len(views) == 0 && !g.watch {
			return nil
		}
		t, err := printers.PrintTable(out, views, wide, g.allNamespaces, noHeaders, g.now())
		g.table = t
		return err
	case "name":
		for _, v := range views {
			if err := printObject(out, nil, v.Job.Name, "name"); err != nil {
				return err
			}
		}
		return nil
	}
	if single && len(views) == 1 {
		return printObject(out, forPrint(views[0].Job), views[0].Job.Name, g.output)
	}
	list := &kubeflow.MPIJobList{TypeMeta: metav1.TypeMeta{APIVersion: kubeflow.SchemeGroupVersion.String(), Kind: "MPIJobList"}}
	for _, v := range views {
		list.Items = append(list.Items, *forPrint(v.Job))
	}
	if list.Items == nil {
		list.Items = []kubeflow.MPIJob{}
	}
	return printObject(out, list, "", g.output)
}

func (g *getOptions) watchJobs(c *cobra.Command, cl client.WithWatch, ns string, args []string, rv string) error {
	ctx := c.Context()
	for ctx.Err() == nil {
		opts := []client.ListOption{client.InNamespace(ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}}}
		if len(args) == 1 {
			opts = append(opts, client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", args[0])})
		}
		w, err := cl.Watch(ctx, &kubeflow.MPIJobList{}, opts...)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watching mpijobs: %w", err)
		}
		rv, err = g.drain(c, cl, w, rv)
		w.Stop()
		if err != nil {
			return err
		}
	}
	return nil
}

// drain prints events until the watch ends; it returns the last resource
// version seen, from which the next watch resumes.
func (g *getOptions) drain(c *cobra.Command, cl client.Client, w watch.Interface, rv string) (string, error) {
	for {
		select {
		case <-c.Context().Done():
			return rv, nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return rv, nil
			}
			if ev.Type == watch.Error {
				return "", nil // expired: start over from now
			}
			job, ok := ev.Object.(*kubeflow.MPIJob)
			if !ok {
				continue
			}
			rv = job.ResourceVersion
			pods, err := jobPods(c, cl, job.Namespace, job.Name)
			if err != nil {
				pods = nil
			}
			if ev.Type == watch.Deleted {
				job = job.DeepCopy()
				job.Status.Conditions = nil
			}
			if err := g.print([]printers.JobView{{Job: job, Pods: pods}}, true, g.noHeaders); err != nil {
				return rv, err
			}
			if f, ok := g.streams.Out.(interface{ Sync() error }); ok {
				_ = f.Sync()
			}
		}
	}
}
