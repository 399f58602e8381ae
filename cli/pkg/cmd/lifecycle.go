package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

func newDeleteCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete an MPIJob and, through garbage collection, its pods",
		Example: `  kubectl odh mpijob delete bert`,
		Args:    exactlyOneName,
		RunE: func(c *cobra.Command, args []string) error {
			ns, cls, err := o.clients()
			if err != nil {
				return err
			}
			job := &kubeflow.MPIJob{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: args[0]}}
			if err := cls.Client.Delete(c.Context(), job, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
				return fmt.Errorf("deleting mpijob %s in namespace %s: %w", args[0], ns, err)
			}
			_, err = fmt.Fprintf(o.streams.Out, "%s%s deleted\n", resourceName, args[0])
			return err
		},
	}
}

// newSuspendCommand makes `suspend` (suspend=true) or `resume`.
func newSuspendCommand(o *options, suspend bool) *cobra.Command {
	use, short, done := "resume", "Resume a suspended MPIJob (sets spec.runPolicy.suspend=false)", "resumed"
	if suspend {
		use, short, done = "suspend", "Suspend an MPIJob, deleting its pods (sets spec.runPolicy.suspend=true)", "suspended"
	}
	return &cobra.Command{
		Use:     use + " NAME",
		Short:   short,
		Example: "  kubectl odh mpijob " + use + " bert",
		Args:    exactlyOneName,
		RunE: func(c *cobra.Command, args []string) error {
			ns, cls, job, err := o.job(c, args[0])
			if err != nil {
				return err
			}
			patch := fmt.Appendf(nil, `{"spec":{"runPolicy":{"suspend":%t}}}`, suspend)
			if err := cls.Client.Patch(c.Context(), job, client.RawPatch(types.MergePatchType, patch)); err != nil {
				return fmt.Errorf("patching mpijob %s in namespace %s: %w", args[0], ns, err)
			}
			_, err = fmt.Fprintf(o.streams.Out, "%s%s %s\n", resourceName, args[0], done)
			return err
		},
	}
}
