// Package v1alpha1 is the MPIJob controller's configuration file,
// config.mpijob.io/v1alpha1 ControllerConfiguration: what the platform
// operator renders into the controller's ConfigMap from the MPIJobPlatform,
// and what `manager --role=mpijob-controller --config=FILE` loads. Process
// settings (addresses, leader election, certificates) stay flags.
// docs/reference/controller-configuration.md describes every field.
package v1alpha1

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// Group, Version and Kind of the file.
const (
	Group   = "config.mpijob.io"
	Version = "v1alpha1"
	Kind    = "ControllerConfiguration"
)

// APIVersion is Group/Version.
var APIVersion = Group + "/" + Version

// ControllerConfiguration configures the MPIJob controller and its
// admission webhooks. Every field is optional; Default fills the gaps.
type ControllerConfiguration struct {
	metav1.TypeMeta `json:",inline"`
	// Workers is how many MPIJobs are reconciled in parallel (16).
	Workers int32 `json:"workers,omitempty"`
	// SSHKeyType of each job's key pair: ecdsa (P-521, the default), rsa
	// (4096 bits, for FIPS-constrained clusters) or ed25519.
	SSHKeyType string `json:"sshKeyType,omitempty"`
	// ClusterDomain, when set, is appended to hostfile names
	// ("<pod>.<job>.<ns>.svc.<domain>").
	ClusterDomain string `json:"clusterDomain,omitempty"`
	// JobDefaults apply to launcher and worker templates where the
	// template does not decide itself.
	JobDefaults JobDefaults `json:"jobDefaults,omitempty"`
	// NetworkPolicy creates a NetworkPolicy per job that admits only the
	// job's own pods to its workers.
	NetworkPolicy bool `json:"networkPolicy,omitempty"`
	// GangScheduling gang-schedules each job through a PodGroup:
	// scheduler-plugins or volcano; empty for none.
	GangScheduling string `json:"gangScheduling,omitempty"`
	// PodPolicy is what the webhooks refuse and the controller refuses
	// too, for jobs that reached it without the webhooks.
	PodPolicy PodPolicy `json:"podPolicy,omitempty"`
	// Webhooks configure the admission webhooks beyond the pod policy.
	Webhooks Webhooks `json:"webhooks,omitempty"`
}

// JobDefaults are the defaults of every job's pods.
type JobDefaults struct {
	// IstioSidecarOptOut annotates pods with sidecar.istio.io/inject=false
	// (true when unset): MPI's SSH and NCCL traffic does not survive the
	// sidecar.
	IstioSidecarOptOut *bool `json:"istioSidecarOptOut,omitempty"`
	// NCCLEnv is set on MPI containers that do not set the variable;
	// merged over NCCL_DEBUG=WARN.
	NCCLEnv map[string]string `json:"ncclEnv,omitempty"`
	// SpreadWorkers prefers spreading a job's workers across nodes.
	SpreadWorkers bool `json:"spreadWorkers,omitempty"`
}

// PodPolicy relaxes the platform's strict pod policy.
type PodPolicy struct {
	// AllowPrivilegedPods admits privileged containers and what Pod
	// Security baseline refuses (hostPath, hostPID, hostIPC, host ports,
	// added capabilities, unconfined seccomp).
	AllowPrivilegedPods bool `json:"allowPrivilegedPods,omitempty"`
	// AllowHostNetwork admits pods on the host network.
	AllowHostNetwork bool `json:"allowHostNetwork,omitempty"`
	// MaxWorkers is the most workers per MPIJob; 0 is the API's limit.
	MaxWorkers int32 `json:"maxWorkers,omitempty"`
}

// Webhooks configure the admission webhooks.
type Webhooks struct {
	// EnforceIstioSidecarOptOut adds sidecar.istio.io/inject=false to pod
	// templates and refuses templates that ask for the sidecar (true when
	// unset).
	EnforceIstioSidecarOptOut *bool `json:"enforceIstioSidecarOptOut,omitempty"`
}

// New is an empty configuration with its type set.
func New() *ControllerConfiguration {
	return &ControllerConfiguration{TypeMeta: metav1.TypeMeta{APIVersion: APIVersion, Kind: Kind}}
}

// Default fills unset fields with their defaults.
func (c *ControllerConfiguration) Default() {
	if c.Workers == 0 {
		c.Workers = 16
	}
	if c.SSHKeyType == "" {
		c.SSHKeyType = "ecdsa"
	}
	if c.JobDefaults.IstioSidecarOptOut == nil {
		c.JobDefaults.IstioSidecarOptOut = ptr.To(true)
	}
	if c.Webhooks.EnforceIstioSidecarOptOut == nil {
		c.Webhooks.EnforceIstioSidecarOptOut = ptr.To(true)
	}
	env := map[string]string{"NCCL_DEBUG": "WARN"}
	for k, v := range c.JobDefaults.NCCLEnv {
		env[k] = v
	}
	c.JobDefaults.NCCLEnv = env
}

// Load reads a configuration file: YAML or JSON, unknown fields refused,
// defaulted. The controller validates what it means.
func Load(data []byte) (*ControllerConfiguration, error) {
	c := &ControllerConfiguration{}
	if err := yaml.UnmarshalStrict(data, c); err != nil {
		return nil, fmt.Errorf("reading the controller configuration: %w", err)
	}
	if c.APIVersion != APIVersion || c.Kind != Kind {
		return nil, fmt.Errorf("the controller configuration is %s %s, want apiVersion %s and kind %s", c.APIVersion, c.Kind, APIVersion, Kind)
	}
	c.Default()
	return c, nil
}

// Marshal writes the configuration as YAML, the form Load reads.
func (c *ControllerConfiguration) Marshal() ([]byte, error) {
	return yaml.Marshal(c)
}
