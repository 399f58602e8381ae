package mpijob

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apitypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// A job deleted and created again under the same name (as pipelines do)
// finds its predecessor's children still there until the garbage
// collector removes them: the new job waits for that instead of failing,
// and creates everything once they are gone.
func TestJobWaitsForItsPredecessorsChildren(t *testing.T) {
	job := testJob()
	leftover := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Namespace: job.Namespace, Name: job.Name + "-config",
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: kubeflow.SchemeGroupVersion.String(), Kind: "MPIJob", Name: job.Name, UID: "an-earlier-job",
			Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
		}},
	}}
	e := newFakeEnvFor(t, job, GangSchedulerNone, interceptor.Funcs{}, leftover)
	res := e.reconcile(t)
	got := &kubeflow.MPIJob{}
	if err := e.c.Get(context.Background(), client.ObjectKeyFromObject(job), got); err != nil {
		t.Fatal(err)
	}
	for _, c := range got.Status.Conditions {
		if c.Type == kubeflow.JobFailed {
			t.Fatalf("the job failed on its predecessor's ConfigMap: %+v", c)
		}
	}
	if n := len(e.pods(t)); n != 0 {
		t.Errorf("%d pods created while the predecessor's children remain", n)
	}
	if res.RequeueAfter <= 0 || res.RequeueAfter > time.Second {
		t.Errorf("RequeueAfter = %s, want a look again within a second", res.RequeueAfter)
	}
	// The garbage collector is done: the job starts.
	if err := e.c.Delete(context.Background(), leftover); err != nil {
		t.Fatal(err)
	}
	e.clock.Step(time.Second)
	e.reconcile(t)
	if n := len(e.pods(t)); n == 0 {
		t.Error("no pod created once the predecessor's children were gone")
	}
}

// Only an MPIJob of the same name and another UID is a predecessor: a
// child of this job, of another job, or of something else is not.
func TestPredecessorOf(t *testing.T) {
	job := testJob()
	ref := func(apiVersion, kind, name, uid string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{
			APIVersion: apiVersion, Kind: kind, Name: name, UID: apitypes.UID(uid), Controller: ptr.To(true),
		}}}}
	}
	for name, tc := range map[string]struct {
		obj  *corev1.Pod
		want bool
	}{
		"an earlier job of the same name": {ref("kubeflow.org/v2beta1", "MPIJob", job.Name, "other"), true},
		"an earlier v1 MPIJob":            {ref("kubeflow.org/v1", "MPIJob", job.Name, "other"), true},
		"this job":                        {ref("kubeflow.org/v2beta1", "MPIJob", job.Name, string(job.UID)), false},
		"another job":                     {ref("kubeflow.org/v2beta1", "MPIJob", "other", "other"), false},
		"someone else's kind":             {ref("example.com/v1", "MPIJob", job.Name, "other"), false},
		"a Deployment":                    {ref("apps/v1", "Deployment", job.Name, "other"), false},
		"no owner":                        {&corev1.Pod{}, false},
	} {
		if got := predecessorOf(tc.obj, job); got != tc.want {
			t.Errorf("%s: predecessorOf = %v, want %v", name, got, tc.want)
		}
	}
}
