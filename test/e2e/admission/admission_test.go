package admission_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"
	"sigs.k8s.io/yaml"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/quota"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob/wrappers"
	"github.com/mpijob-platform/mpijob-platform/test/framework"
	"github.com/mpijob-platform/mpijob-platform/tools/devcluster/cluster"
)

const queueLabel = "kueue.x-k8s.io/queue-name"

// gpuJob is a job whose workers each ask for gpus GPUs; the launcher ends
// after finishAfter (kwok) with exit code 0.
func gpuJob(ns, name string, workers int32, gpus int64, finishAfter string) *kubeflow.MPIJob {
	w := wrappers.MakeMPIJob(name, ns).Workers(workers).
		LauncherAnnotation(cluster.FinishAfterAnnotation, finishAfter).LauncherAnnotation(cluster.ExitCodeAnnotation, "0").
		ContainerName(kubeflow.MPIReplicaTypeLauncher, "launcher").Command(kubeflow.MPIReplicaTypeLauncher).Requests(kubeflow.MPIReplicaTypeLauncher, "cpu", "1", "memory", "4Gi").
		ContainerName(kubeflow.MPIReplicaTypeWorker, "worker").Requests(kubeflow.MPIReplicaTypeWorker, "cpu", "1", "memory", "4Gi")
	if gpus > 0 {
		w.Limits(kubeflow.MPIReplicaTypeWorker, string(cluster.GPUResource), strconv.FormatInt(gpus, 10))
	}
	return w.Obj()
}

// createQueues makes a ResourceFlavor, a ClusterQueue with gpus GPUs and
// LocalQueues with the given names in ns.
func createQueues(t *testing.T, ns string, gpus int64, localQueues ...string) {
	t.Helper()
	flavor, cq := "gpu-"+ns, "cq-"+ns
	objs := []client.Object{
		&kueue.ResourceFlavor{ObjectMeta: metav1.ObjectMeta{Name: flavor}, Spec: kueue.ResourceFlavorSpec{NodeLabels: map[string]string{"nvidia.com/gpu.product": cluster.GPUProduct}}},
		&kueue.ClusterQueue{ObjectMeta: metav1.ObjectMeta{Name: cq}, Spec: kueue.ClusterQueueSpec{
			NamespaceSelector: &metav1.LabelSelector{},
			ResourceGroups: []kueue.ResourceGroup{{
				CoveredResources: []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, cluster.GPUResource},
				Flavors: []kueue.FlavorQuotas{{Name: kueue.ResourceFlavorReference(flavor), Resources: []kueue.ResourceQuota{
					{Name: corev1.ResourceCPU, NominalQuota: resource.MustParse("64")},
					{Name: corev1.ResourceMemory, NominalQuota: resource.MustParse("1Ti")},
					{Name: cluster.GPUResource, NominalQuota: *resource.NewQuantity(gpus, resource.DecimalSI)},
				}}},
			}},
		}},
	}
	for _, lq := range localQueues {
		objs = append(objs, &kueue.LocalQueue{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: lq}, Spec: kueue.LocalQueueSpec{ClusterQueue: kueue.ClusterQueueReference(cq)}})
	}
	for _, o := range objs {
		if err := env.Client.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}
}

// dataScientist is the person who submits jobs in ns: a ServiceAccount
// bound there to edit, which aggregates mpijob-platform-user.
func dataScientist(t *testing.T, ns string) *framework.User {
	t.Helper()
	return env.CreateUser(t, ns, "alice", framework.DataScientistRole)
}

// kubectl runs the real kubectl as user with stdin; it returns stdout,
// stderr and whether it exited 0.
func kubectl(t *testing.T, user *framework.User, stdin []byte, args ...string) (string, string, bool) {
	t.Helper()
	cmd := exec.Command(env.Kubectl, append([]string{"--kubeconfig=" + user.Kubeconfig}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err == nil
}

func manifest(t *testing.T, job *kubeflow.MPIJob) []byte {
	t.Helper()
	data, err := yaml.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func get(t *testing.T, job *kubeflow.MPIJob) *kubeflow.MPIJob {
	t.Helper()
	got := &kubeflow.MPIJob{}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(job), got); err != nil {
		t.Fatal(err)
	}
	return got
}

// The API server reaches the webhooks over TLS with the CA the manager
// generated, stored and put into both configurations.
func TestCertificateIsSelfManaged(t *testing.T) {
	ctx := context.Background()
	secret := &corev1.Secret{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: framework.WebhookNamespace, Name: "mpijob-webhook-cert"}, secret); err != nil {
		t.Fatalf("the self-managed certificate Secret: %v", err)
	}
	ca := secret.Data["ca.crt"]
	if len(ca) == 0 || len(secret.Data["tls.crt"]) == 0 || len(secret.Data["tls.key"]) == 0 {
		t.Fatalf("Secret keys: %v", keys(secret.Data))
	}
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: cluster.MutatingWebhookConfiguration}, mutating); err != nil {
		t.Fatal(err)
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: cluster.ValidatingWebhookConfiguration}, validating); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mutating.Webhooks[0].ClientConfig.CABundle, ca) || !bytes.Equal(validating.Webhooks[0].ClientConfig.CABundle, ca) {
		t.Error("the configurations' caBundle differs from the Secret's ca.crt")
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Upstream's pi example, unchanged, in a namespace whose default queue is
// named by a label: the webhook defaults it, puts it in the queue, Kueue
// admits it and our controller runs it to Succeeded.
func TestUpstreamExampleGoesToTheNamespaceDefaultQueue(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "default-queue")
	createQueues(t, ns, 8, "gpus", "other")
	nsObj := &corev1.Namespace{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: ns}, nsObj); err != nil {
		t.Fatal(err)
	}
	nsObj.Labels["mpijob.io/default-queue"] = "gpus"
	if err := env.Client.Update(ctx, nsObj); err != nil {
		t.Fatal(err)
	}

	data, err := os.ReadFile(framework.UpstreamMPIOperatorPath(t, "examples", "v2beta1", "pi", "pi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	job := &kubeflow.MPIJob{}
	if err := yaml.UnmarshalStrict(data, job); err != nil {
		t.Fatal(err)
	}
	job.Namespace = ns
	launcher := &job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeLauncher].Template
	launcher.Annotations = map[string]string{cluster.FinishAfterAnnotation: "2s"}
	if err := dataScientist(t, ns).Client.Create(ctx, job); err != nil {
		t.Fatalf("upstream's pi example was refused: %v", err)
	}
	stored := get(t, job)
	if q := stored.Labels[queueLabel]; q != "gpus" {
		t.Errorf("queue-name = %q, want the namespace default gpus", q)
	}
	for role, spec := range stored.Spec.MPIReplicaSpecs {
		if spec.Template.Annotations["sidecar.istio.io/inject"] != "false" {
			t.Errorf("%s template lacks the Istio opt-out: %v", role, spec.Template.Annotations)
		}
	}
	// pi.yaml sets neither field; upstream's defaults are now stored.
	if stored.Spec.LauncherCreationPolicy != kubeflow.LauncherCreationPolicyAtStartup || stored.Spec.MPIImplementation != kubeflow.MPIImplementationOpenMPI {
		t.Errorf("upstream defaults not stored: %+v", stored.Spec)
	}
	framework.Eventually(t, framework.DefaultTimeout, "pi admitted by Kueue and Succeeded", func(ctx context.Context) (bool, string, error) {
		got := &kubeflow.MPIJob{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(job), got); err != nil {
			return false, "", err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == kubeflow.JobSucceeded && c.Status == corev1.ConditionTrue {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("suspended=%v conditions=%+v", got.IsSuspended(), got.Status.Conditions), nil
	})
}

// With one LocalQueue and no label, that queue is the default, and the job
// starts suspended so that no pod runs before Kueue admits it.
func TestTheOnlyLocalQueueIsTheDefault(t *testing.T) {
	ns := env.CreateNamespace(t, "only-queue")
	createQueues(t, ns, 8, "only")
	job := gpuJob(ns, "train", 1, 1, "1h")
	if err := dataScientist(t, ns).Client.Create(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if got := get(t, job); got.Labels[queueLabel] != "only" {
		t.Errorf("queue-name = %q, want only", got.Labels[queueLabel])
	}
}

// kubectl users see every problem at once, each with its field path, the
// bad value and what to do.
func TestInvalidJobsAreRejectedWithFieldPaths(t *testing.T) {
	ns := env.CreateNamespace(t, "invalid")
	job := gpuJob(ns, "bad", 2, 1, "1s")
	job.Spec.SlotsPerWorker = ptr.To[int32](0)
	worker := &job.Spec.MPIReplicaSpecs[kubeflow.MPIReplicaTypeWorker].Template
	worker.Spec.HostNetwork = true
	worker.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	worker.Labels = map[string]string{"sidecar.istio.io/inject": "true"}

	alice := dataScientist(t, ns)
	_, stderr, ok := kubectl(t, alice, manifest(t, job), "-n", ns, "apply", "-f", "-")
	if ok {
		t.Fatal("kubectl apply of an invalid job succeeded")
	}
	for _, want := range []string{
		`The MPIJob "bad" is invalid`,
		"spec.slotsPerWorker: Invalid value: 0: must be at least 1",
		"spec.mpiReplicaSpecs[Worker].template.spec.hostNetwork: Forbidden: host networking is not allowed on this platform",
		"spec.mpiReplicaSpecs[Worker].template.spec.containers[0].securityContext.privileged: Forbidden: privileged containers are not allowed",
		"spec.mpiReplicaSpecs[Worker].template.metadata.labels[sidecar.istio.io/inject]: Forbidden",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("kubectl output lacks %q:\n%s", want, stderr)
		}
	}
	if err := alice.Client.Create(context.Background(), job); !apierrors.IsInvalid(err) {
		t.Errorf("API error = %v, want Invalid", err)
	}
}

// The job's name is also its headless Service's, and Kubernetes before 1.34
// refuses Service names that start with a digit: on those versions a job
// named 1job would run without its Service (no hostnames, no MPI). The
// platform refuses such names on every version, so that a manifest that
// works on one cluster works on all (make test runs this package on the
// oldest Kubernetes supported as well).
func TestNamesEveryKubernetesCanGiveAServiceOnly(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "names")
	err := dataScientist(t, ns).Client.Create(ctx, gpuJob(ns, "1job", 1, 1, "1s"))
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "must be a DNS-1035 label") {
		t.Errorf("a job named 1job: %v, want Invalid naming DNS-1035", err)
	}
	v, err := env.Clientset.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	minor, err := strconv.Atoi(strings.TrimSuffix(v.Minor, "+"))
	if err != nil {
		t.Fatalf("server minor version %q: %v", v.Minor, err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "1job"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}}
	err = env.Client.Create(ctx, svc)
	if minor < 34 && !apierrors.IsInvalid(err) {
		t.Errorf("Kubernetes %s accepted a Service named 1job (%v): the reason for the rule is gone", v.GitVersion, err)
	}
	if minor >= 34 && err != nil {
		t.Errorf("Kubernetes %s refused a Service named 1job: %v", v.GitVersion, err)
	}
}

func TestUnknownQueueListsTheRealOnes(t *testing.T) {
	ns := env.CreateNamespace(t, "unknown-queue")
	createQueues(t, ns, 8, "gpus", "cpus")
	job := gpuJob(ns, "typo", 1, 1, "1s")
	job.Labels = map[string]string{queueLabel: "gpu"}
	err := dataScientist(t, ns).Client.Create(context.Background(), job)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `no LocalQueue "gpu" in namespace `+ns+"; use one of: cpus, gpus") {
		t.Errorf("err = %v, want the existing queues listed", err)
	}
}

// A job larger than its ClusterQueue or its namespace's ResourceQuota can
// ever give is refused at once, with the numbers.
func TestJobsThatCanNeverFitAreRejectedWithNumbers(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "too-big")
	createQueues(t, ns, 16, "gpus")
	job := gpuJob(ns, "huge", 3, 8, "1s")
	job.Labels = map[string]string{queueLabel: "gpus"}
	_, stderr, ok := kubectl(t, dataScientist(t, ns), manifest(t, job), "-n", ns, "create", "-f", "-")
	if ok {
		t.Fatal("a 24-GPU job was admitted into a 16-GPU ClusterQueue")
	}
	for _, want := range []string{
		`mpijobs.kubeflow.org "huge" is forbidden: MPIJob huge can never run`,
		"ClusterQueue cq-" + ns + " (behind LocalQueue " + ns + "/gpus):",
		"nvidia.com/gpu: requested 24, used 0, available 16, limit 16",
		"lower the workers",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("kubectl output lacks %q:\n%s", want, stderr)
		}
	}

	quotaNS := env.CreateNamespace(t, "quota")
	rq := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: quotaNS, Name: "gpus"}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
		"requests.nvidia.com/gpu": resource.MustParse("4"),
	}}}
	if err := env.Client.Create(ctx, rq); err != nil {
		t.Fatal(err)
	}
	err := dataScientist(t, quotaNS).Client.Create(ctx, gpuJob(quotaNS, "eight", 1, 8, "1s"))
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "ResourceQuota "+quotaNS+"/gpus:\n  requests.nvidia.com/gpu: requested 8, used 0, available 4, limit 4") {
		t.Errorf("err = %v, want the ResourceQuota numbers", err)
	} // The numbers come through the API server as structured causes, which
	// the CLI, console and SDK read instead of the message.
	got, cerr := quota.FromError(err)
	want := []quota.Shortfall{{Resource: "requests.nvidia.com/gpu", Requested: "8", Used: "0", Available: "4", Limit: "4", Where: "ResourceQuota " + quotaNS + "/gpus"}}
	if cerr != nil || !cmp.Equal(got, want) {
		t.Errorf("quota causes %+v (%v), want %+v", got, cerr, want)
	}
}

// A job that fits only once others finish is admitted, and kubectl prints
// the webhook's warning saying it will queue and behind how much.
func TestJobsThatMustWaitAreAdmittedWithAWarning(t *testing.T) {
	ns := env.CreateNamespace(t, "busy")
	createQueues(t, ns, 8, "gpus")
	alice := dataScientist(t, ns)
	first := gpuJob(ns, "first", 1, 8, "1h")
	first.Labels = map[string]string{queueLabel: "gpus"}
	if err := alice.Client.Create(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	second := gpuJob(ns, "second", 1, 8, "1s")
	second.Labels = map[string]string{queueLabel: "gpus"}
	want := "Warning: the job will queue: ClusterQueue cq-" + ns + " (behind LocalQueue gpus) cannot admit it now and has 0 workload(s) pending: nvidia.com/gpu: requested 8, used 8, available 0, limit 8"
	// Kueue reports the first job's reservation in the ClusterQueue's
	// status shortly after admitting it; a server-side dry run shows when.
	framework.Eventually(t, framework.DefaultTimeout, "the ClusterQueue full and the warning shown", func(context.Context) (bool, string, error) {
		_, stderr, ok := kubectl(t, alice, manifest(t, second), "-n", ns, "create", "--dry-run=server", "-f", "-")
		return ok && strings.Contains(stderr, want), stderr, nil
	})
	stdout, stderr, ok := kubectl(t, alice, manifest(t, second), "-n", ns, "create", "-f", "-")
	if !ok || !strings.Contains(stderr, want) || !strings.Contains(stdout, "mpijob.kubeflow.org/second created") {
		t.Errorf("kubectl create: ok=%v\nstdout: %s\nstderr: %s\nwant warning %q", ok, stdout, stderr, want)
	}
	if got := get(t, second); !got.IsSuspended() {
		t.Error("the queued job runs although its ClusterQueue is full")
	}
}

// An MPIJob creates pods on its creator's behalf: someone allowed to create
// MPIJobs but not pods in the namespace is refused by the webhook (a
// SubjectAccessReview for the creator), so a role granting MPIJobs alone
// is never a way to run pods.
func TestCreatorWhoMayNotCreatePodsIsRefused(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "no-pods")
	bob := env.CreateUser(t, ns, "bob", framework.ViewerRole)
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mpijobs-only"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"kubeflow.org"}, Resources: []string{"mpijobs"}, Verbs: []string{"create", "get"}}},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bob-mpijobs-only"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "bob"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
	}
	for _, o := range []client.Object{role, binding} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	framework.Eventually(t, framework.DefaultTimeout, "bob's MPIJob refused by the webhook, not by RBAC", func(ctx context.Context) (bool, string, error) {
		err := bob.Client.Create(ctx, gpuJob(ns, "sneaky", 1, 1, "1s"))
		if err == nil {
			return false, "", fmt.Errorf("bob created an MPIJob without the right to create pods")
		}
		// The cause travels through the API server: clients tell this
		// refusal from bob's missing RBAC by it.
		return mpijob.IsPlatformDenial(err) && strings.Contains(err.Error(), "may not create pods in namespace "+ns), err.Error(), nil
	})
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sneaky"}, &kubeflow.MPIJob{}); !apierrors.IsNotFound(err) {
		t.Errorf("the refused MPIJob exists: %v", err)
	}
}
