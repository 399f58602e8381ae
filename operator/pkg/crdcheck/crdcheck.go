// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get,resourceNames=mpijobs.kubeflow.org

// Package crdcheck tells whether the cluster's mpijobs.kubeflow.org CRD is
// one our controller can serve, and explains the clash when it is Kubeflow
// training-operator v1's (kubeflow.org/v1 MPIJob), which shares the name.
package crdcheck

import (
	"context"
	"fmt"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// MPIJobCRD is the CRD both Kubeflow projects name mpijobs.kubeflow.org.
const MPIJobCRD = "mpijobs.kubeflow.org"

// CheckMPIJobCRD returns nil when mpijobs.kubeflow.org serves v2beta1, and
// otherwise an error that says what is installed and what to do.
func CheckMPIJobCRD(ctx context.Context, c client.Reader) error {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := c.Get(ctx, client.ObjectKey{Name: MPIJobCRD}, crd); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("the CRD %s is not installed: install the platform's CRDs (charts/mpijob-platform/crds or config/crd) first", MPIJobCRD)
		}
		return fmt.Errorf("reading the CRD %s: %w", MPIJobCRD, err)
	}
	var served []string
	for _, v := range crd.Spec.Versions {
		if v.Served {
			if v.Name == "v2beta1" {
				return nil
			}
			served = append(served, v.Name)
		}
	}
	if len(served) == 1 && served[0] == "v1" {
		return fmt.Errorf("the CRD %s serves only kubeflow.org/v1: it is the MPIJob of Kubeflow training-operator v1, "+
			"whose MPIJob API is not the kubeflow.org/v2beta1 one this controller runs. The two cannot share the cluster: "+
			"turn off training-operator's MPIJob support (its --enable-scheme flags, without mpijob), move its v1 MPIJobs "+
			"to v2beta1 (docs/operations/upgrade.md), then replace the CRD with the platform's", MPIJobCRD)
	}
	return fmt.Errorf("the CRD %s serves %s but not v2beta1: replace it with the platform's CRD (charts/mpijob-platform/crds)",
		MPIJobCRD, strings.Join(served, ", "))
}
