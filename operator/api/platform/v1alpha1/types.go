package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ManagementState says whether the platform installs a component.
// +kubebuilder:validation:Enum=Managed;Removed
type ManagementState string

// KueueManagementState adds Unmanaged: use existing queues, create none.
// +kubebuilder:validation:Enum=Managed;Removed;Unmanaged
type KueueManagementState string

const (
	// Managed: the platform installs the component and keeps it as specified.
	Managed = "Managed"
	// Removed: the platform deletes the component's objects.
	Removed = "Removed"
	// Unmanaged (Kueue only): jobs use queues someone else manages.
	Unmanaged = "Unmanaged"
)

// DefaultName is the name of the one MPIJobPlatform.
const DefaultName = "default"

// MPIJobPlatform installs and configures the MPIJob platform: the MPIJob
// controller, its admission webhooks, Kueue queues, RBAC roles, network
// policies and monitoring. There is one, cluster-scoped, named default.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=mpiplatform
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name == 'default'",message="there is one MPIJobPlatform per cluster and it must be named default"
type MPIJobPlatform struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:default={}
	Spec   MPIJobPlatformSpec   `json:"spec,omitempty"`
	Status MPIJobPlatformStatus `json:"status,omitempty"`
}

// MPIJobPlatformList is a list of MPIJobPlatforms (at most one exists).
//
// +kubebuilder:object:root=true
type MPIJobPlatformList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MPIJobPlatform `json:"items"`
}

// MPIJobPlatformSpec toggles and configures each component.
//
// +kubebuilder:validation:XValidation:rule="(has(self.webhooks) && has(self.webhooks.managementState) ? self.webhooks.managementState : 'Managed') != 'Managed' || (has(self.mpiJobController) && has(self.mpiJobController.managementState) ? self.mpiJobController.managementState : 'Managed') == 'Managed'",message="the webhooks are served by the MPIJob controller: set mpiJobController.managementState to Managed, or webhooks.managementState to Removed"
type MPIJobPlatformSpec struct {
	// MPIJobController runs the kubeflow.org/v2beta1 MPIJob controller.
	// +kubebuilder:default={}
	MPIJobController MPIJobControllerSpec `json:"mpiJobController,omitempty"`
	// Webhooks validate and default MPIJobs and pre-check their quota.
	// +kubebuilder:default={}
	Webhooks WebhooksSpec `json:"webhooks,omitempty"`
	// Kueue creates ResourceFlavors, ClusterQueues and LocalQueues.
	// +kubebuilder:default={}
	Kueue KueueSpec `json:"kueue,omitempty"`
	// RBAC installs the mpijob-platform-user, -viewer and -admin ClusterRoles.
	// +kubebuilder:default={}
	RBAC ComponentSpec `json:"rbac,omitempty"`
	// NetworkPolicy isolates jobs: each MPIJob gets a NetworkPolicy that
	// admits only its own pods to its workers, and the controller's pods
	// accept only webhook and metrics traffic.
	// +kubebuilder:default={}
	NetworkPolicy ComponentSpec `json:"networkPolicy,omitempty"`
	// Monitoring installs dashboards, recording rules and alerts.
	// +kubebuilder:default={}
	Monitoring ComponentSpec `json:"monitoring,omitempty"`
	// Console deploys the web console: a Deployment of the manager image
	// (role console), its Service and optionally an authenticating proxy,
	// a Route or an Ingress.
	// +kubebuilder:default={}
	Console ConsoleSpec `json:"console,omitempty"`
	// JobDefaults apply to every MPIJob's launcher and workers where the
	// job's own template does not decide.
	// +kubebuilder:default={}
	JobDefaults JobDefaults `json:"jobDefaults,omitempty"`
}

// ComponentSpec is a component with nothing to configure but its state.
type ComponentSpec struct {
	// +kubebuilder:default=Managed
	ManagementState ManagementState `json:"managementState,omitempty"`
}

// ConsoleSpec configures the web console. It is Removed by default. The
// console acts with each caller's own bearer token, so it needs an
// authenticating proxy in front: OpenShiftOAuth puts oauth-proxy in the
// console's pod; None expects users to paste a token, or an Ingress whose
// auth proxy forwards one (Authorization or X-Forwarded-Access-Token).
//
// +kubebuilder:validation:XValidation:rule="!has(self.authProxy) || self.authProxy != 'OpenShiftOAuth' || has(self.route)",message="the OpenShift OAuth proxy redirects through the console's Route: set route: {}"
type ConsoleSpec struct {
	// +kubebuilder:default=Removed
	ManagementState ManagementState `json:"managementState,omitempty"`
	// Image of the manager; empty runs the operator's own image.
	// Setting it is cluster-admin power: the image serves every console
	// user and sees their tokens.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^([a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?(:[0-9]+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$')",message="must be an image reference such as registry.example.com/team/image:tag or ...@sha256:<64 hex digits>"
	Image string `json:"image,omitempty"`
	// Replicas of the console.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=5
	Replicas int32 `json:"replicas,omitempty"`
	// AuthProxy is the authenticating proxy in the console's pod:
	// OpenShiftOAuth (oauth-proxy, OpenShift's OAuth server, TLS from the
	// service CA) or None.
	// +kubebuilder:default=None
	// +kubebuilder:validation:Enum=None;OpenShiftOAuth
	AuthProxy string `json:"authProxy,omitempty"`
	// AuthProxyImage is the oauth-proxy image. Setting it is
	// cluster-admin power: it sees every console user's token.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^([a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?(:[0-9]+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$')",message="must be an image reference such as registry.example.com/team/image:tag or ...@sha256:<64 hex digits>"
	AuthProxyImage string `json:"authProxyImage,omitempty"`
	// Route exposes the console through an OpenShift Route (created only
	// where route.openshift.io exists).
	// +optional
	Route *ConsoleRoute `json:"route,omitempty"`
	// Ingress exposes the console through a networking.k8s.io Ingress.
	// +optional
	Ingress *ConsoleIngress `json:"ingress,omitempty"`
	// PrometheusURL enables job metrics in the console.
	// +optional
	PrometheusURL string `json:"prometheusURL,omitempty"`
	// GrafanaURL is where the console's Metrics tab links to.
	// +optional
	GrafanaURL string `json:"grafanaURL,omitempty"`
	// Resources of the console container; empty for the defaults.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
}

// ConsoleRoute is the console's OpenShift Route.
type ConsoleRoute struct {
	// Host of the Route; empty lets the router choose.
	// +optional
	Host string `json:"host,omitempty"`
}

// ConsoleIngress is the console's Ingress.
type ConsoleIngress struct {
	// Host the Ingress serves.
	// +kubebuilder:validation:MinLength=1
	Host string `json:"host"`
	// ClassName of the Ingress controller; empty for the cluster default.
	// +optional
	ClassName string `json:"className,omitempty"`
	// TLSSecretName holds the certificate for Host; empty serves HTTP.
	// +optional
	TLSSecretName string `json:"tlsSecretName,omitempty"`
	// Annotations of the Ingress, for example an external auth proxy's
	// (nginx.ingress.kubernetes.io/auth-url, auth-response-headers).
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// MPIJobControllerSpec configures the MPIJob controller Deployment.
type MPIJobControllerSpec struct {
	// +kubebuilder:default=Managed
	ManagementState ManagementState `json:"managementState,omitempty"`
	// Image of the manager; empty runs the operator's own image.
	// Setting it is cluster-admin power: the image runs with the
	// controller's ServiceAccount, which creates pods in every namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^([a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?(:[0-9]+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$')",message="must be an image reference such as registry.example.com/team/image:tag or ...@sha256:<64 hex digits>"
	Image string `json:"image,omitempty"`
	// Replicas of the controller; one leads, every one serves the
	// admission webhooks, and the others stand by to lead. Two by default,
	// spread over nodes, with a PodDisruptionBudget that lets one go at a
	// time: the webhooks fail closed, so with one replica a drained node
	// stops every MPIJob write in the cluster until it is back.
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=5
	Replicas int32 `json:"replicas,omitempty"`
	// Workers is how many MPIJobs are reconciled in parallel.
	// +kubebuilder:default=16
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=256
	Workers int32 `json:"workers,omitempty"`
	// SSHKeyType of the per-job key pairs: ecdsa (P-521), rsa (4096 bits,
	// for FIPS-constrained clusters) or ed25519.
	// +kubebuilder:default=ecdsa
	// +kubebuilder:validation:Enum=ecdsa;rsa;ed25519
	SSHKeyType string `json:"sshKeyType,omitempty"`
	// GangScheduling makes each MPIJob a PodGroup for a gang scheduler:
	// scheduler-plugins (coscheduling) or volcano; empty for none (Kueue
	// admits jobs as a whole without it).
	// +kubebuilder:validation:Enum="";scheduler-plugins;volcano
	// +optional
	GangScheduling string `json:"gangScheduling,omitempty"`
	// Resources of the controller container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
}

// WebhooksSpec configures MPIJob admission.
//
// +kubebuilder:validation:XValidation:rule="!has(self.certificates) || self.certificates != 'CertManager' || has(self.certManagerIssuer)",message="certManagerIssuer is required when certificates is CertManager"
type WebhooksSpec struct {
	// +kubebuilder:default=Managed
	ManagementState ManagementState `json:"managementState,omitempty"`
	// EnforceIstioSidecarOptOut adds sidecar.istio.io/inject=false to MPIJob
	// pod templates and rejects templates that ask for the sidecar.
	// +kubebuilder:default=true
	EnforceIstioSidecarOptOut *bool `json:"enforceIstioSidecarOptOut,omitempty"`
	// AllowPrivileged admits MPIJobs with privileged containers.
	// +optional
	AllowPrivileged bool `json:"allowPrivileged,omitempty"`
	// AllowHostNetwork admits MPIJobs whose pods use the host network.
	// +optional
	AllowHostNetwork bool `json:"allowHostNetwork,omitempty"`
	// MaxWorkers is the most workers admitted per MPIJob. Unset, it is
	// the MPIJob API's own limit, 1024, which it may only lower (every
	// worker is a line of the hostfile the controller keeps in a
	// ConfigMap, which Kubernetes caps at 1 MiB).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1024
	// +optional
	MaxWorkers int32 `json:"maxWorkers,omitempty"`
	// Certificates says who issues the webhook serving certificate:
	// SelfManaged (the controller), OpenShiftServiceCA or CertManager.
	// +kubebuilder:default=SelfManaged
	// +kubebuilder:validation:Enum=SelfManaged;OpenShiftServiceCA;CertManager
	Certificates string `json:"certificates,omitempty"`
	// CertManagerIssuer issues the certificate when Certificates is CertManager.
	// +optional
	CertManagerIssuer *IssuerReference `json:"certManagerIssuer,omitempty"`
}

// IssuerReference names a cert-manager Issuer or ClusterIssuer.
type IssuerReference struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +kubebuilder:default=ClusterIssuer
	// +kubebuilder:validation:Enum=Issuer;ClusterIssuer
	Kind string `json:"kind,omitempty"`
}

// KueueSpec describes the queues the platform creates in Kueue.
//
// +kubebuilder:validation:XValidation:rule="!has(self.managementState) || self.managementState != 'Managed' || !has(self.localQueues) || self.localQueues.all(lq, has(self.clusterQueues) && self.clusterQueues.exists(cq, cq.name == lq.clusterQueue))",message="every localQueues[].clusterQueue must name one of clusterQueues"
// +kubebuilder:validation:XValidation:rule="!has(self.managementState) || self.managementState != 'Managed' || !has(self.clusterQueues) || self.clusterQueues.all(cq, cq.flavors.all(f, has(self.resourceFlavors) && self.resourceFlavors.exists(rf, rf.name == f.name)))",message="every clusterQueues[].flavors[].name must name one of resourceFlavors"
type KueueSpec struct {
	// Managed creates the queues below; Unmanaged uses queues created by
	// someone else and creates none; Removed deletes the ones it created.
	// +kubebuilder:default=Managed
	ManagementState KueueManagementState `json:"managementState,omitempty"`
	// ResourceFlavors, e.g. one per GPU model selected by node labels.
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	// +optional
	ResourceFlavors []ResourceFlavor `json:"resourceFlavors,omitempty"`
	// ClusterQueues with their nominal quotas, cohorts and fair-sharing weights.
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=name
	// +optional
	ClusterQueues []ClusterQueue `json:"clusterQueues,omitempty"`
	// LocalQueues to create in namespaces, listed or selected by labels.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	LocalQueues []LocalQueue `json:"localQueues,omitempty"`
}

// ResourceFlavor is a kind of node, e.g. a GPU model.
type ResourceFlavor struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// NodeLabels select the nodes of this flavor (e.g.
	// nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3); Kueue adds them to
	// admitted pods as a node selector.
	// +optional
	NodeLabels map[string]string `json:"nodeLabels,omitempty"`
	// Tolerations added to admitted pods, for tainted GPU nodes.
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
}

// ClusterQueue is a pool of quota.
type ClusterQueue struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// Cohort lets ClusterQueues with the same cohort borrow unused quota
	// from each other.
	// +optional
	Cohort string `json:"cohort,omitempty"`
	// FairSharingWeight weighs this queue's share when Kueue's fair sharing
	// divides a cohort's unused quota (default 1).
	// +optional
	FairSharingWeight *resource.Quantity `json:"fairSharingWeight,omitempty"`
	// Flavors and their quotas. Each job's pod set takes a resource from a
	// single flavor.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Flavors []FlavorQuotas `json:"flavors"`
}

// FlavorQuotas are one flavor's quotas in a ClusterQueue.
type FlavorQuotas struct {
	// Name of one of spec.kueue.resourceFlavors.
	Name string `json:"name"`
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Resources []ResourceQuota `json:"resources"`
}

// ResourceQuota is the quota of one resource (cpu, memory, nvidia.com/gpu...).
type ResourceQuota struct {
	Name         corev1.ResourceName `json:"name"`
	NominalQuota resource.Quantity   `json:"nominalQuota"`
	// BorrowingLimit caps what may be borrowed from the cohort.
	// +optional
	BorrowingLimit *resource.Quantity `json:"borrowingLimit,omitempty"`
	// LendingLimit caps what the cohort may borrow from this queue.
	// +optional
	LendingLimit *resource.Quantity `json:"lendingLimit,omitempty"`
}

// LocalQueue is created in every listed or selected namespace.
//
// +kubebuilder:validation:XValidation:rule="has(self.namespaces) != has(self.namespaceSelector)",message="set exactly one of namespaces and namespaceSelector"
type LocalQueue struct {
	// Name of the LocalQueue in each namespace.
	// +kubebuilder:default=default
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`
	// ClusterQueue it submits to: one of spec.kueue.clusterQueues.
	ClusterQueue string `json:"clusterQueue"`
	// Namespaces to create it in.
	// +kubebuilder:validation:MaxItems=256
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`
	// NamespaceSelector: create it in every namespace with these labels,
	// and in namespaces that get them later.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
}

// JobDefaults are the controller's defaults for every MPIJob.
type JobDefaults struct {
	// IstioSidecarOptOut annotates launcher and worker pods with
	// sidecar.istio.io/inject=false unless their template decides.
	// +kubebuilder:default=true
	IstioSidecarOptOut *bool `json:"istioSidecarOptOut,omitempty"`
	// NCCLEnv are environment variables set on MPI containers that do not
	// set them (e.g. NCCL_DEBUG, NCCL_SOCKET_IFNAME, NCCL_IB_DISABLE).
	// +kubebuilder:default={"NCCL_DEBUG":"WARN"}
	// +optional
	NCCLEnv map[string]string `json:"ncclEnv,omitempty"`
	// SpreadWorkers prefers spreading a job's workers across nodes.
	// +optional
	SpreadWorkers bool `json:"spreadWorkers,omitempty"`
}

// Condition types of MPIJobPlatform.
const (
	ConditionReady    = "Ready"
	ConditionDegraded = "Degraded"
	// Each component adds <Component>Ready, e.g. MPIJobControllerReady.
	ConditionSuffixReady = "Ready"
)

// Phases of MPIJobPlatform.
const (
	PhaseReady       = "Ready"
	PhaseProgressing = "Progressing"
	PhaseDegraded    = "Degraded"
)

// MPIJobPlatformStatus is what the operator observed.
type MPIJobPlatformStatus struct {
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Phase: Ready, Progressing or Degraded.
	// +optional
	Phase string `json:"phase,omitempty"`
	// Conditions: Ready, Degraded, and <Component>Ready per component.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Components in the order they are reconciled.
	// +listType=map
	// +listMapKey=name
	// +optional
	Components []ComponentStatus `json:"components,omitempty"`
}

// ComponentStatus is one component's detail.
type ComponentStatus struct {
	Name            string `json:"name"`
	ManagementState string `json:"managementState"`
	// Ready is true when every object exists as specified and works.
	Ready bool `json:"ready"`
	// Objects the component manages now.
	Objects int32 `json:"objects"`
	// Message says what is missing or what to do.
	// +optional
	Message string `json:"message,omitempty"`
}
