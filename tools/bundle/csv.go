package main

import (
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/blang/semver/v4"
	"github.com/operator-framework/api/pkg/lib/version"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/mpijob-platform/mpijob-platform/tools/packaging"
)

// description is the CSV's long description (markdown), shown on the
// operator's OperatorHub page.
//
//go:embed description.md
var description string

const (
	displayName = "MPIJob Platform"
	// shortDescription is the one line OperatorHub shows on the tile.
	shortDescription = "Runs MPI jobs (kubeflow.org/v2beta1 MPIJob) with admission checks, Kueue queues, RBAC, " +
		"network isolation and monitoring, all configured by one MPIJobPlatform."
	// minKubeVersion is the oldest Kubernetes the platform supports.
	minKubeVersion = "1.30.0"
	// capabilities is the operator's capability level; docs/operations/olm.md
	// says why.
	capabilities = "Seamless Upgrades"
	// builder names what wrote the bundle.
	builder = "mpijob-platform-tools-bundle"
	// projectLayout is the kubebuilder layout recorded in PROJECT.
	projectLayout = "go.kubebuilder.io/v4"
	// managerContainer names the operator container and its relatedImages
	// entry.
	managerContainer = "manager"
)

// csvInputs is what the CSV is built from.
type csvInputs struct {
	pkg      string
	version  string
	image    string
	operator *packaging.Operator
	crds     []*apiextensionsv1.CustomResourceDefinition
	// sample is config/samples/platform_v1alpha1_mpijobplatform.yaml.
	sample []byte
}

func buildCSV(in csvInputs) (*operatorsv1alpha1.ClusterServiceVersion, error) {
	v, err := semver.Parse(in.version)
	if err != nil {
		return nil, fmt.Errorf("version %q: %w", in.version, err)
	}
	examples, err := almExamples(in.sample)
	if err != nil {
		return nil, err
	}
	owned, err := ownedCRDs(in.crds)
	if err != nil {
		return nil, err
	}
	initResource, err := json.Marshal(map[string]any{
		"apiVersion": "platform.mpijob.io/v1alpha1",
		"kind":       "MPIJobPlatform",
		"metadata":   map[string]any{"name": "default"},
		"spec":       map[string]any{},
	})
	if err != nil {
		return nil, fmt.Errorf("encode initialization resource: %w", err)
	}

	op := in.operator
	annotations := map[string]string{
		"alm-examples":                           examples,
		"capabilities":                           capabilities,
		"categories":                             "AI/Machine Learning",
		"containerImage":                         in.image,
		"description":                            shortDescription,
		"support":                                "MPIJob Platform maintainers",
		"operators.operatorframework.io/builder": builder,
		"operators.operatorframework.io/project_layout": projectLayout,
		"operatorframework.io/suggested-namespace":      packaging.DefaultNamespace,
		// OperatorHub offers to create this right after the install: the
		// one MPIJobPlatform, every component with its defaults.
		"operatorframework.io/initialization-resource": string(initResource),
		// Infrastructure features (docs/operations/olm.md says why each).
		"features.operators.openshift.io/disconnected":     "true",
		"features.operators.openshift.io/fips-compliant":   "false",
		"features.operators.openshift.io/proxy-aware":      "false",
		"features.operators.openshift.io/tls-profiles":     "false",
		"features.operators.openshift.io/token-auth-aws":   "false",
		"features.operators.openshift.io/token-auth-azure": "false",
		"features.operators.openshift.io/token-auth-gcp":   "false",
		"features.operators.openshift.io/cnf":              "false",
		"features.operators.openshift.io/cni":              "false",
		"features.operators.openshift.io/csi":              "false",
	}

	csv := &operatorsv1alpha1.ClusterServiceVersion{
		TypeMeta: metav1.TypeMeta{APIVersion: operatorsv1alpha1.SchemeGroupVersion.String(), Kind: operatorsv1alpha1.ClusterServiceVersionKind},
		ObjectMeta: metav1.ObjectMeta{
			Name:        in.pkg + ".v" + in.version,
			Annotations: annotations,
		},
		Spec: operatorsv1alpha1.ClusterServiceVersionSpec{
			DisplayName:    displayName,
			Description:    strings.TrimSpace(description),
			Version:        version.OperatorVersion{Version: v},
			Maturity:       "stable",
			MinKubeVersion: minKubeVersion,
			Keywords:       []string{"mpi", "mpijob", "hpc", "distributed training", "gpu", "nccl", "kueue", "kubeflow", "machine learning"},
			Maintainers:    []operatorsv1alpha1.Maintainer{{Name: "MPIJob Platform maintainers", Email: "maintainers@mpijob-platform.invalid"}},
			Provider:       operatorsv1alpha1.AppLink{Name: "MPIJob Platform project"},
			Icon:           []operatorsv1alpha1.Icon{{Data: base64.StdEncoding.EncodeToString(packaging.IconSVG), MediaType: packaging.IconMediaType}},
			InstallModes: []operatorsv1alpha1.InstallMode{
				// The MPIJobPlatform is cluster-scoped and the operator
				// installs cluster-wide objects: only AllNamespaces works.
				{Type: operatorsv1alpha1.InstallModeTypeOwnNamespace, Supported: false},
				{Type: operatorsv1alpha1.InstallModeTypeSingleNamespace, Supported: false},
				{Type: operatorsv1alpha1.InstallModeTypeMultiNamespace, Supported: false},
				{Type: operatorsv1alpha1.InstallModeTypeAllNamespaces, Supported: true},
			},
			InstallStrategy: operatorsv1alpha1.NamedInstallStrategy{
				StrategyName: operatorsv1alpha1.InstallStrategyNameDeployment,
				StrategySpec: operatorsv1alpha1.StrategyDetailsDeployment{
					DeploymentSpecs: []operatorsv1alpha1.StrategyDeploymentSpec{{
						Name:  op.Deployment.Name,
						Label: op.Deployment.Labels,
						Spec:  op.Deployment.Spec,
					}},
					ClusterPermissions: []operatorsv1alpha1.StrategyDeploymentPermissions{{
						ServiceAccountName: op.ServiceAccount.Name,
						Rules:              op.ClusterRole.Rules,
					}},
					Permissions: []operatorsv1alpha1.StrategyDeploymentPermissions{{
						ServiceAccountName: op.ServiceAccount.Name,
						Rules:              op.Role.Rules,
					}},
				},
			},
			CustomResourceDefinitions: operatorsv1alpha1.CustomResourceDefinitions{Owned: owned},
			RelatedImages:             []operatorsv1alpha1.RelatedImage{{Name: managerContainer, Image: in.image}},
			// No webhookdefinitions: the operator registers the MPIJob
			// webhooks and manages their certificates itself, as it does
			// without OLM (docs/operations/olm.md).
		},
	}
	return csv, nil
}

// ownedCRDs describes every served version of crds from ownedAPIs.
func ownedCRDs(crds []*apiextensionsv1.CustomResourceDefinition) ([]operatorsv1alpha1.CRDDescription, error) {
	var owned []operatorsv1alpha1.CRDDescription
	for _, crd := range crds {
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			key := crd.Name + "/" + v.Name
			api, ok := ownedAPIs[key]
			if !ok {
				return nil, fmt.Errorf("no CSV description for %s: add it to ownedAPIs in tools/bundle/descriptors.go", key)
			}
			owned = append(owned, operatorsv1alpha1.CRDDescription{
				Name:              crd.Name,
				Version:           v.Name,
				Kind:              crd.Spec.Names.Kind,
				DisplayName:       api.displayName,
				Description:       api.description,
				Resources:         api.resources,
				SpecDescriptors:   api.spec,
				StatusDescriptors: api.status,
			})
		}
	}
	return owned, nil
}

// mpiJobExample is a small MPIJob for the console's "Create" form: two
// workers of a non-root image built like mpi-operator's pi example.
func mpiJobExample() map[string]any {
	pod := func(name string, command []string, cpu, memory string) map[string]any {
		return map[string]any{"spec": map[string]any{
			"securityContext": map[string]any{"runAsUser": 1000},
			"containers": []any{map[string]any{
				"name":                     name,
				"image":                    "my-org/mpi-pi:1.0",
				"command":                  command,
				"terminationMessagePolicy": "FallbackToLogsOnError",
				"resources":                map[string]any{"limits": map[string]any{"cpu": cpu, "memory": memory}},
			}},
		}}
	}
	return map[string]any{
		"apiVersion": "kubeflow.org/v2beta1",
		"kind":       "MPIJob",
		"metadata":   map[string]any{"name": "pi"},
		"spec": map[string]any{
			"slotsPerWorker":   1,
			"sshAuthMountPath": "/home/mpiuser/.ssh",
			"runPolicy":        map[string]any{"cleanPodPolicy": "Running", "ttlSecondsAfterFinished": 3600, "backoffLimit": 2},
			"mpiReplicaSpecs": map[string]any{
				"Launcher": map[string]any{"replicas": 1, "template": pod("launcher", []string{"mpirun", "-n", "2", "/home/mpiuser/pi"}, "1", "1Gi")},
				"Worker":   map[string]any{"replicas": 2, "template": pod("worker", []string{"/usr/sbin/sshd", "-De", "-f", "/home/mpiuser/.sshd_config"}, "2", "2Gi")},
			},
		},
	}
}

// almExamples is the alm-examples annotation: the sample MPIJobPlatform of
// config/samples and a small MPIJob, as an indented JSON list.
func almExamples(sample []byte) (string, error) {
	var platform map[string]any
	if err := yaml.Unmarshal(sample, &platform); err != nil {
		return "", fmt.Errorf("decode the sample MPIJobPlatform: %w", err)
	}
	out, err := json.MarshalIndent([]any{platform, mpiJobExample()}, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode alm-examples: %w", err)
	}
	return string(out), nil
}
