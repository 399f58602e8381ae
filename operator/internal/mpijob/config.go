package mpijob

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
	"github.com/mpijob-platform/mpijob-platform/operator/pkg/podpolicy"
)

// SSHKeyType is the algorithm of the per-job SSH key pair.
type SSHKeyType string

// SSH key types. ECDSA P-521 is upstream's choice; RSA-4096 suits clusters
// whose FIPS policy rejects the others; ed25519 is the smallest and fastest.
const (
	SSHKeyECDSA   SSHKeyType = "ecdsa"
	SSHKeyRSA     SSHKeyType = "rsa"
	SSHKeyEd25519 SSHKeyType = "ed25519"
)

// ParseSSHKeyType accepts ecdsa, rsa or ed25519.
func ParseSSHKeyType(s string) (SSHKeyType, error) {
	switch t := SSHKeyType(strings.ToLower(s)); t {
	case SSHKeyECDSA, SSHKeyRSA, SSHKeyEd25519:
		return t, nil
	}
	return "", fmt.Errorf("unknown SSH key type %q: use ecdsa (P-521, default), rsa (4096 bits) or ed25519", s)
}

// Config is what the platform (or flags) tell the controller. Job defaults
// apply to launcher and worker templates only where the template does not
// already decide.
type Config struct {
	// SSHKeyType of generated key pairs; ecdsa when empty.
	SSHKeyType SSHKeyType
	// ClusterDomain, when set, is appended to hostnames in the hostfile
	// ("<pod>.<job>.<ns>.svc.<domain>").
	ClusterDomain string
	// IstioSidecarOptOut annotates pods with sidecar.istio.io/inject=false
	// (MPI's SSH and NCCL traffic does not survive the sidecar).
	IstioSidecarOptOut bool
	// NCCLEnv are environment variables set on the MPI container when the
	// template sets no variable of that name.
	NCCLEnv map[string]string
	// SpreadWorkers adds a soft topology spread constraint that spreads a
	// job's workers across nodes, unless the template has its own affinity
	// or spread constraints.
	SpreadWorkers bool
	// NetworkPolicy creates, per job, a NetworkPolicy that lets only the
	// job's own pods reach its workers.
	NetworkPolicy bool
	// GangScheduler, when set, creates a PodGroup per job for that gang
	// scheduler and makes the job's pods members of it: "volcano" or
	// "scheduler-plugins" (coscheduling); empty for none.
	GangScheduler string
	// Policy is the platform's pod policy, the one its validating webhook
	// applies. The controller checks it too, before a job has children,
	// so that a job created while the webhooks were absent or bypassed
	// fails with mpijob.ReasonPolicyViolation instead of getting pods. The zero
	// value is the strict default.
	Policy podpolicy.Policy
}

// Gang schedulers (Config.GangScheduler, the configuration's gangScheduling).
const (
	GangSchedulerNone             = ""
	GangSchedulerVolcano          = "volcano"
	GangSchedulerSchedulerPlugins = "scheduler-plugins"
)

// Validate rejects settings that would produce broken children.
func (c Config) Validate() error {
	if c.ClusterDomain != "" {
		if msgs := validation.IsDNS1123Subdomain(c.ClusterDomain); len(msgs) > 0 {
			return fmt.Errorf("cluster domain %q is not a DNS name: %s", c.ClusterDomain, strings.Join(msgs, "; "))
		}
	}
	if _, err := ParseSSHKeyType(string(c.SSHKeyType)); err != nil && c.SSHKeyType != "" {
		return err
	}
	switch c.GangScheduler {
	case GangSchedulerNone, GangSchedulerVolcano, GangSchedulerSchedulerPlugins:
	default:
		return fmt.Errorf("gang scheduler %q is not supported: use %q, %q, or empty for no gang scheduling "+
			"(to send pods to a scheduler of another name, set schedulerName in the job's pod templates)",
			c.GangScheduler, GangSchedulerVolcano, GangSchedulerSchedulerPlugins)
	}
	if c.Policy.MaxWorkers < 0 || c.Policy.MaxWorkers > kubeflow.MaxWorkers {
		return fmt.Errorf("max workers %d: want 0 (the API's limit) or a number of workers from 1 to %d", c.Policy.MaxWorkers, kubeflow.MaxWorkers)
	}
	for name := range c.NCCLEnv {
		if msgs := validation.IsEnvVarName(name); len(msgs) > 0 {
			return fmt.Errorf("environment variable name %q: %s", name, strings.Join(msgs, "; "))
		}
	}
	return nil
}

// DefaultConfig is the controller's configuration without a platform CR.
func DefaultConfig() Config {
	return Config{
		SSHKeyType:         SSHKeyECDSA,
		IstioSidecarOptOut: true,
		NCCLEnv:            map[string]string{"NCCL_DEBUG": "WARN"},
		// Off by default: GPU jobs usually gain from packing workers onto
		// NVLink-connected GPUs of one node, and spreading made scheduling
		// 800 workers ~25% slower in make bench. The platform CR turns it
		// on for CPU-bound or failure-domain-sensitive jobs.
		SpreadWorkers: false,
	}
}

// sortedEnvNames returns the NCCL variable names in a stable order, so that
// built pods (and golden files) do not depend on map order.
func (c Config) sortedEnvNames() []string {
	names := make([]string, 0, len(c.NCCLEnv))
	for n := range c.NCCLEnv {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
