package component

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// A Deployment is ready only once its rollout is complete: while old and
// new pods serve side by side (an upgrade half done) it is not, though
// the Deployment stays Available throughout.
func TestDeploymentReadyWaitsForTheWholeRollout(t *testing.T) {
	available := []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}
	for name, tc := range map[string]struct {
		generation int64
		status     appsv1.DeploymentStatus
		want       bool
		says       string
	}{
		"rolled out":                             {2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2, ReadyReplicas: 2, Conditions: available}, true, "Available (2/2 ready)"},
		"new spec not seen yet":                  {3, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2, Conditions: available}, false, "rolling out"},
		"one new pod, one old":                   {2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 1, AvailableReplicas: 2, Conditions: available}, false, "1 of 2 updated"},
		"both new, an old one still terminating": {2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 2, AvailableReplicas: 2, Conditions: available}, false, "1 old left"},
		"both new, one not available yet":        {2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1, ReadyReplicas: 2, Conditions: available}, false, "not Available yet (2/2 ready)"},
	} {
		t.Run(name, func(t *testing.T) {
			d := &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Namespace: "mpijob-system", Name: "mpijob-controller", Generation: tc.generation},
				Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)},
				Status:     tc.status,
			}
			s := runtime.NewScheme()
			if err := appsv1.AddToScheme(s); err != nil {
				t.Fatal(err)
			}
			c := fake.NewClientBuilder().WithScheme(s).WithObjects(d).WithStatusSubresource(d).Build()
			if err := c.Status().Update(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			ready, msg, err := DeploymentReady(context.Background(), c, "mpijob-system", "mpijob-controller")
			if err != nil {
				t.Fatal(err)
			}
			if ready != tc.want || !strings.Contains(msg, tc.says) {
				t.Errorf("DeploymentReady = %v, %q; want %v and a message with %q", ready, msg, tc.want, tc.says)
			}
		})
	}
}
