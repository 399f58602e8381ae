package devcluster_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mpijob-platform/mpijob-platform/test/framework"
)

// The dev cluster refuses what OpenShift refuses, so that a permission or
// a pod spec the product gets wrong fails here first: an owner reference
// with blockOwnerDeletion needs update on the owner's finalizers
// (OwnerReferencesPermissionEnforcement), and a namespace enforcing Pod
// Security's restricted profile refuses a pod that breaks it.
func TestClusterRefusesWhatOpenShiftRefuses(t *testing.T) {
	ctx := context.Background()
	ns := env.CreateNamespace(t, "openshift-like")
	owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "owner"}}
	if err := env.Client.Create(ctx, owner); err != nil {
		t.Fatal(err)
	}
	// A user who may create ConfigMaps, but not update the owner's finalizers.
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "configmaps"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create", "get"}}},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "configmaps"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "writer"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
	}
	for _, o := range []client.Object{role, binding} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	writer := env.ServiceAccountUser(t, ns, "writer")
	child := func(block bool) *corev1.ConfigMap {
		name := "plain-child"
		if block {
			name = "blocking-child"
		}
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, BlockOwnerDeletion: ptr.To(block),
		}}}}
	}
	framework.Eventually(t, framework.DefaultTimeout, "a child without blockOwnerDeletion created", func(ctx context.Context) (bool, string, error) {
		err := writer.Client.Create(ctx, child(false))
		return err == nil, errString(err), nil
	})
	err := writer.Client.Create(ctx, child(true))
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "cannot set blockOwnerDeletion") {
		t.Errorf("blockOwnerDeletion without finalizers permission: %v, want refused by OwnerReferencesPermissionEnforcement", err)
	}

	restricted := env.CreateNamespace(t, "restricted")
	if err := env.RestrictedNamespace(ctx, restricted); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: restricted, Name: "root"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "main", Image: "registry.invalid/probe:1"}},
	}}
	err = env.Client.Create(ctx, pod)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "violates PodSecurity \"restricted") {
		t.Errorf("a pod breaking the restricted profile: %v, want refused by Pod Security admission", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
