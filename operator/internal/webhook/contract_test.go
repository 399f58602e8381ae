package webhook

import (
	"errors"
	"path/filepath"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	mpijobquota "github.com/mpijob-platform/mpijob-platform/pkg/mpijob/quota"
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
	golden.CheckFile(t, filepath.Join("..", "..", "..", "testdata", "contract", "quota.yaml"), append([]byte(contractHeader), data...))
}
