package webhook

import (
	"context"
	"errors"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/pkg/mpijob"
	mpijobquota "github.com/mpijob-platform/mpijob-platform/pkg/mpijob/quota"
	"github.com/mpijob-platform/mpijob-platform/test/contract"
	"github.com/mpijob-platform/mpijob-platform/test/golden"
)

// quotaContract is testdata/contract/quota.yaml: a refusal as this webhook
// writes it, and the shortfalls every client must read from it. The SDK's
// tests load the same file.
type quotaContract struct {
	Status     metav1.Status           `json:"status"`
	Shortfalls []mpijobquota.Shortfall `json:"shortfalls"`
}

const contractHeader = `# The admission webhook's refusal of a job that can never fit its quotas, and
# the shortfalls each client reads from its details.causes (never from the
# message). Written by: go test ./operator/internal/webhook -run TestQuotaContract -update
# Read by: that test, and the Python SDK's tests/unit/test_contract.py.
`

// TestQuotaContract: the refusal's causes decode to the numbers, and the
// contract file is what the webhook writes today.
func TestQuotaContract(t *testing.T) {
	cq := clusterQueue("team-a-cq", "", flavorQuota{flavor: "h100", gpus: "32", reservedGPUs: "24"})
	w := newWebhook(t, []client.Object{
		namespace("team-a", nil), localQueue("team-a", "gpus", "team-a-cq"), cq,
		quota(list("requests.nvidia.com/gpu", "64", "requests.memory", "1Ti"), list("requests.nvidia.com/gpu", "8", "requests.memory", "512Mi")),
	}...)
	job := gpuJob("huge", 9, 8)
	job.Labels = map[string]string{QueueNameLabel: "gpus"}
	_, err := w.ValidateCreate(createContext(), job)
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		t.Fatalf("want a refusal, got %v", err)
	}
	got := quotaContract{Status: status.Status()}
	if got.Shortfalls, err = mpijobquota.FromCauses(got.Status.Details.Causes); err != nil || len(got.Shortfalls) != 2 {
		t.Fatalf("shortfalls %+v (%v), want one per quota", got.Shortfalls, err)
	}
	data, err := yaml.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	// With -update this rewrites the file; then run the SDK's test too.
	golden.CheckFile(t, contract.Path("quota.yaml"), append([]byte(contractHeader), data...))
}

const denialHeader = `# 403 answers to creating an MPIJob, and who refused it: "platform" (the
# platform's admission webhook, known by a cause of one of denialCauses; the
# SDK's ForbiddenError has denied_by_platform), "webhook" (another admission
# webhook, known by the API server's prefix) or "rbac" (a missing permission:
# the SDK's hint names the user role). The CLI exits 2 for the first two, 4
# for rbac. Written by: go test ./operator/internal/webhook -run
# TestDenialContract -update. Read by: that test, the CLI's TestDenialContract
# and the Python SDK's tests/unit/test_contract.py.
`

// TestDenialContract: the webhook's refusals carry their cause, a plain
// RBAC refusal does not, and the contract file is what the webhook writes
// today.
func TestDenialContract(t *testing.T) {
	w := newWebhook(t, namespace("team-a", nil))
	w.Authorizer = fake.NewClientBuilder().WithScheme(testScheme(t)).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(context.Context, client.WithWatch, client.Object, ...client.CreateOption) error { return nil }, // not allowed
	}).Build()
	alice := admission.NewContextWithRequest(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Create, UserInfo: authenticationv1.UserInfo{Username: "alice"},
	}})
	_, podsErr := w.ValidateCreate(alice, gpuJob("train", 2, 8))

	qw := newWebhook(t, namespace("team-a", nil), quota(list("requests.nvidia.com/gpu", "8"), list("requests.nvidia.com/gpu", "0")))
	_, quotaErr := qw.ValidateCreate(createContext(), gpuJob("huge", 2, 8))

	gr := kubeflow.SchemeGroupVersion.WithResource("mpijobs").GroupResource()
	rbacErr := apierrors.NewForbidden(gr, "train", errors.New(`User "alice" cannot create resource "mpijobs" in API group "kubeflow.org" in the namespace "team-a"`))
	otherWebhook := apierrors.NewForbidden(gr, "train", errors.New(`admission webhook "policy.example.com" denied the request: no GPUs on Fridays`))

	got := contract.Denial{DenialCauses: mpijob.DenialCauses}
	for _, c := range []struct {
		what, by string
		err      error
	}{
		{"the creator may not create pods", "platform", podsErr},
		{"the job can never fit its quota", "platform", quotaErr},
		{"RBAC refuses the MPIJob itself", "rbac", rbacErr},
		{"another webhook refuses it", "webhook", otherWebhook},
	} {
		var status apierrors.APIStatus
		if !errors.As(c.err, &status) {
			t.Fatalf("%s: want a status error, got %v", c.what, c.err)
		}
		if mpijob.IsPlatformDenial(c.err) != (c.by == "platform") {
			t.Errorf("%s: IsPlatformDenial = %v", c.what, c.by != "platform")
		}
		got.Cases = append(got.Cases, contract.DenialCase{What: c.what, Status: status.Status(), RefusedBy: c.by})
	}
	data, err := yaml.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	golden.CheckFile(t, contract.Path("denial.yaml"), append([]byte(denialHeader), data...))
}
