package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/printers"
)

func newDescribeCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show an MPIJob in detail: spec, conditions, pods, Kueue workload, events",
		Long: `Show an MPIJob in detail: a spec summary (image, workers, slots, GPUs, queue,
MPI implementation), its conditions (a Failed condition's message carries the
controller's diagnosis and remediation), the launcher's and workers' pods
(phase, node, restarts, last termination reason), its Kueue Workload (admitted,
ClusterQueue, pending reason) and recent events of the job and its pods.`,
		Example: `  kubectl odh mpijob describe bert`,
		Args:    exactlyOneName,
		RunE: func(c *cobra.Command, args []string) error {
			ns, cls, job, err := o.job(c, args[0])
			if err != nil {
				return err
			}
			pods, err := jobPods(c, cls.Client, ns, job.Name)
			if err != nil {
				return err
			}
			in := printers.DescribeInput{Job: job, Pods: pods, Now: o.now()}
			// The Workload and events are best effort: Kueue may be absent
			// and events may be forbidden.
			var wls kueue.WorkloadList
			if err := cls.Client.List(c.Context(), &wls, client.InNamespace(ns)); err == nil {
				for i := range wls.Items {
					if ownedBy(wls.Items[i].OwnerReferences, job.UID) {
						in.Workload = &wls.Items[i]
						break
					}
				}
			}
			uids := map[types.UID]bool{job.UID: true}
			for _, p := range pods {
				uids[p.UID] = true
			}
			var evs corev1.EventList
			if err := cls.Client.List(c.Context(), &evs, client.InNamespace(ns)); err == nil {
				for _, e := range evs.Items {
					if uids[e.InvolvedObject.UID] || in.Workload != nil && e.InvolvedObject.UID == in.Workload.UID {
						in.Events = append(in.Events, e)
					}
				}
			}
			_, err = fmt.Fprint(o.streams.Out, printers.Describe(in))
			return err
		},
	}
}

func ownedBy(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.UID == uid {
			return true
		}
	}
	return false
}
