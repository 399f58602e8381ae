package main

import (
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
)

// The x-descriptors the OpenShift console and OperatorHub understand.
const (
	uiPrefix      = "urn:alm:descriptor:com.tectonic.ui:"
	xBoolean      = uiPrefix + "booleanSwitch"
	xNumber       = uiPrefix + "number"
	xPodCount     = uiPrefix + "podCount"
	xText         = uiPrefix + "text"
	xAdvanced     = uiPrefix + "advanced"
	xResources    = uiPrefix + "resourceRequirements"
	xConditions   = "urn:alm:descriptor:io.kubernetes.conditions"
	xPhase        = "urn:alm:descriptor:io.kubernetes.phase"
	xTimestamp    = "urn:alm:descriptor:timestamp"
	xStatusText   = "urn:alm:descriptor:text"
	selectPrefix  = uiPrefix + "select:"
	managedState  = "Managed"
	removedState  = "Removed"
	unmanagedKind = "Unmanaged"
)

func selects(options ...string) []string {
	out := make([]string, 0, len(options))
	for _, o := range options {
		out = append(out, selectPrefix+o)
	}
	return out
}

func spec(path, name, description string, x ...string) operatorsv1alpha1.SpecDescriptor {
	return operatorsv1alpha1.SpecDescriptor{Path: path, DisplayName: name, Description: description, XDescriptors: x}
}

func status(path, name, description string, x ...string) operatorsv1alpha1.StatusDescriptor {
	return operatorsv1alpha1.StatusDescriptor{Path: path, DisplayName: name, Description: description, XDescriptors: x}
}

func res(plural, kind, version string) operatorsv1alpha1.APIResourceReference {
	return operatorsv1alpha1.APIResourceReference{Name: plural, Kind: kind, Version: version}
}

// ownedAPI is what the CSV says about one version of an owned CRD.
type ownedAPI struct {
	displayName string
	description string
	// resources are the kinds the operator creates for an object of the API.
	resources []operatorsv1alpha1.APIResourceReference
	spec      []operatorsv1alpha1.SpecDescriptor
	status    []operatorsv1alpha1.StatusDescriptor
}

// ownedAPIs describes every served version of the CRDs in config/crd/bases,
// keyed by "<CRD name>/<version>". A CRD version without an entry fails the
// generator, and the test checks that every descriptor path exists in the
// version's schema, so this table follows the API.
var ownedAPIs = map[string]ownedAPI{
	"mpijobplatforms.platform.mpijob.io/v1alpha1": platformAPI(),
	"mpijobs.kubeflow.org/v2beta1":                mpiJobAPI(),
}

func platformAPI() ownedAPI {
	state := selects(managedState, removedState)
	return ownedAPI{
		displayName: "MPIJob Platform",
		description: "Installs and configures the MPIJob platform: the MPIJob controller, its admission webhooks, " +
			"Kueue queues, RBAC roles, network policies and monitoring. There is one, cluster-scoped, named default.",
		resources: []operatorsv1alpha1.APIResourceReference{
			res("deployments", "Deployment", "v1"),
			res("serviceaccounts", "ServiceAccount", "v1"),
			res("clusterroles", "ClusterRole", "v1"),
			res("clusterrolebindings", "ClusterRoleBinding", "v1"),
			res("roles", "Role", "v1"),
			res("rolebindings", "RoleBinding", "v1"),
			res("services", "Service", "v1"),
			res("mutatingwebhookconfigurations", "MutatingWebhookConfiguration", "v1"),
			res("validatingwebhookconfigurations", "ValidatingWebhookConfiguration", "v1"),
			res("configmaps", "ConfigMap", "v1"),
			res("networkpolicies", "NetworkPolicy", "v1"),
			res("resourceflavors", "ResourceFlavor", "v1beta2"),
			res("clusterqueues", "ClusterQueue", "v1beta2"),
			res("localqueues", "LocalQueue", "v1beta2"),
			res("servicemonitors", "ServiceMonitor", "v1"),
			res("prometheusrules", "PrometheusRule", "v1"),
			res("certificates", "Certificate", "v1"),
			res("grafanadashboards", "GrafanaDashboard", "v1beta1"),
		},
		spec: []operatorsv1alpha1.SpecDescriptor{
			spec("mpiJobController", "MPIJob controller", "Runs the kubeflow.org/v2beta1 MPIJob controller."),
			spec("mpiJobController.managementState", "Management state", "Managed installs the controller Deployment; Removed deletes it.", state...),
			spec("mpiJobController.replicas", "Replicas", "Controller replicas (1-5): one leads, the others serve webhooks and stand by.", xPodCount),
			spec("mpiJobController.workers", "Workers", "MPIJobs reconciled in parallel (1-256).", xNumber),
			spec("mpiJobController.sshKeyType", "SSH key type", "Key type of the per-job SSH key pairs: ecdsa (P-521), rsa (4096 bits, for FIPS-constrained clusters) or ed25519.",
				selects("ecdsa", "rsa", "ed25519")...),
			spec("mpiJobController.gangScheduling", "Gang scheduling", "Makes each MPIJob a PodGroup for scheduler-plugins (coscheduling) or Volcano; unset for none (Kueue admits jobs as a whole without it).",
				selects("scheduler-plugins", "volcano")...),
			spec("mpiJobController.image", "Image", "Manager image of the controller Deployment; empty runs the operator's own image.", xText, xAdvanced),
			spec("mpiJobController.resources", "Resources", "Resources of the controller container.", xResources, xAdvanced),

			spec("webhooks", "Admission webhooks", "Validate and default MPIJobs and pre-check their quota."),
			spec("webhooks.managementState", "Management state", "Managed registers the webhooks (needs the MPIJob controller Managed); Removed deletes them.", state...),
			spec("webhooks.certificates", "Certificates", "Who issues the webhook serving certificate: SelfManaged (the controller), OpenShiftServiceCA or CertManager.",
				selects("SelfManaged", "OpenShiftServiceCA", "CertManager")...),
			spec("webhooks.certManagerIssuer.name", "cert-manager issuer", "Name of the cert-manager Issuer or ClusterIssuer, required with CertManager.", xText),
			spec("webhooks.certManagerIssuer.kind", "cert-manager issuer kind", "Issuer or ClusterIssuer.", selects("ClusterIssuer", "Issuer")...),
			spec("webhooks.enforceIstioSidecarOptOut", "Enforce Istio sidecar opt-out", "Add sidecar.istio.io/inject=false to MPIJob pod templates and reject templates that ask for the sidecar.", xBoolean),
			spec("webhooks.allowPrivileged", "Allow privileged", "Admit MPIJobs with privileged containers.", xBoolean),
			spec("webhooks.allowHostNetwork", "Allow host network", "Admit MPIJobs whose pods use the host network.", xBoolean),

			spec("kueue", "Kueue queues", "ResourceFlavors, ClusterQueues and LocalQueues the platform creates in Kueue."),
			spec("kueue.managementState", "Management state", "Managed creates the queues below; Unmanaged uses queues managed by someone else; Removed deletes the ones it created.",
				selects(managedState, removedState, unmanagedKind)...),
			spec("kueue.resourceFlavors", "Resource flavors", "Kinds of nodes, e.g. one per GPU model selected by node labels."),
			spec("kueue.clusterQueues", "Cluster queues", "Pools of quota per flavor, with cohorts and fair-sharing weights."),
			spec("kueue.localQueues", "Local queues", "LocalQueues to create in listed or label-selected namespaces."),

			spec("rbac", "RBAC", "The mpijob-platform-user, -viewer and -admin ClusterRoles."),
			spec("rbac.managementState", "Management state", "Managed installs the ClusterRoles; Removed deletes them.", state...),
			spec("networkPolicy", "Network policy", "Isolates the controller's pods and each job's workers."),
			spec("networkPolicy.managementState", "Management state", "Managed installs the policies; Removed deletes them.", state...),
			spec("monitoring", "Monitoring", "ServiceMonitor, alerts and Grafana dashboards (needs prometheus-operator)."),
			spec("monitoring.managementState", "Management state", "Managed installs monitoring; Removed deletes it.", state...),
			spec("console", "Console", "The web console, not part of this version."),
			spec("console.managementState", "Management state", "Keep Removed: the console is not available yet.", state...),

			spec("jobDefaults", "Job defaults", "Defaults for every MPIJob's launcher and workers where the job's own template does not decide."),
			spec("jobDefaults.istioSidecarOptOut", "Istio sidecar opt-out", "Annotate launcher and worker pods sidecar.istio.io/inject=false unless their template decides.", xBoolean),
			spec("jobDefaults.spreadWorkers", "Spread workers", "Prefer spreading a job's workers across nodes.", xBoolean),
			spec("jobDefaults.ncclEnv", "NCCL environment", "Environment variables set on MPI containers that do not set them, e.g. NCCL_DEBUG or NCCL_SOCKET_IFNAME.", xAdvanced),
		},
		status: []operatorsv1alpha1.StatusDescriptor{
			status("phase", "Phase", "Ready, Progressing (something is still rolling out) or Degraded (a component cannot work).", xPhase),
			status("conditions", "Conditions", "Ready, Degraded, and <Component>Ready per component with what is missing or what to do.", xConditions),
			status("components", "Components", "Per component: management state, readiness, number of objects and message."),
			status("observedGeneration", "Observed generation", "The spec generation the status describes.", xStatusText),
		},
	}
}

func mpiJobAPI() ownedAPI {
	return ownedAPI{
		displayName: "MPI Job",
		description: "Runs one MPI program: a launcher that calls mpirun and the workers it reaches over SSH.",
		resources: []operatorsv1alpha1.APIResourceReference{
			res("pods", "Pod", "v1"),
			res("jobs", "Job", "v1"),
			res("services", "Service", "v1"),
			res("configmaps", "ConfigMap", "v1"),
			res("secrets", "Secret", "v1"),
			res("networkpolicies", "NetworkPolicy", "v1"),
		},
		spec: []operatorsv1alpha1.SpecDescriptor{
			spec("mpiReplicaSpecs", "Replica specs", "The Launcher (exactly one replica) and the Worker pod templates."),
			spec("mpiReplicaSpecs.Worker.replicas", "Workers", "Number of worker pods.", xPodCount),
			spec("slotsPerWorker", "Slots per worker", "MPI processes per worker (the hostfile's slots). Defaults to 1.", xNumber),
			spec("runLauncherAsWorker", "Run launcher as worker", "Make the launcher a rank too, listed first in the hostfile.", xBoolean),
			spec("mpiImplementation", "MPI implementation", "Hostfile format and environment: OpenMPI (default), Intel or MPICH.", selects("OpenMPI", "Intel", "MPICH")...),
			spec("launcherCreationPolicy", "Launcher creation policy", "AtStartup (default) or WaitForWorkersReady, once every worker is Ready.",
				selects("AtStartup", "WaitForWorkersReady")...),
			spec("sshAuthMountPath", "SSH mount path", "Where the SSH key pair and authorized_keys are mounted; defaults to /root/.ssh.", xText, xAdvanced),
			spec("runPolicy", "Run policy", "Cleanup, TTL, deadlines, retries, gang scheduling, suspension and the managing controller."),
			spec("runPolicy.cleanPodPolicy", "Clean pod policy", "Which pods are deleted when the job finishes: None (default), Running or All.",
				selects("None", "Running", "All")...),
			spec("runPolicy.ttlSecondsAfterFinished", "TTL after finished (seconds)", "Delete the MPIJob this long after it finished; unset keeps it.", xNumber),
			spec("runPolicy.activeDeadlineSeconds", "Active deadline (seconds)", "Fail the job with DeadlineExceeded after running this long.", xNumber),
			spec("runPolicy.backoffLimit", "Backoff limit", "Launcher retries before the job fails.", xNumber),
			spec("runPolicy.suspend", "Suspend", "Remove the job's pods and keep it suspended until set back to false; Kueue uses it to gate admission.", xBoolean),
			spec("runPolicy.managedBy", "Managed by", "kubeflow.org/mpi-operator (default) or kueue.x-k8s.io/multikueue. Immutable.", xText, xAdvanced),
			spec("runPolicy.schedulingPolicy", "Scheduling policy", "Gang scheduling (PodGroup) settings for scheduler-plugins or Volcano.", xAdvanced),
		},
		status: []operatorsv1alpha1.StatusDescriptor{
			status("conditions", "Conditions", "Created, Running, Restarting, Succeeded, Suspended or Failed, newest last.", xConditions),
			status("replicaStatuses.Launcher.active", "Launcher active", "Launcher pods pending or running.", xStatusText),
			status("replicaStatuses.Worker.active", "Workers active", "Worker pods pending or running.", xStatusText),
			status("replicaStatuses.Worker.succeeded", "Workers succeeded", "Worker pods that succeeded.", xStatusText),
			status("replicaStatuses.Worker.failed", "Workers failed", "Worker pods that failed.", xStatusText),
			status("startTime", "Start time", "When the job was first acknowledged (or resumed).", xTimestamp),
			status("completionTime", "Completion time", "When the job finished.", xTimestamp),
			status("observedGeneration", "Observed generation", "The spec generation the controller has acted on.", xStatusText),
		},
	}
}
