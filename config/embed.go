// Package config holds the platform's Kubernetes manifests: the MPIJob CRD and
// the ClusterRoles for its users, viewers and admins.
//
// The files are embedded in FS so that the platform operator and the packaging
// generators (Helm chart, bundles) read them from here instead of keeping
// copies: the YAML files in this folder are the one source of truth.
package config

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// FS holds the user ClusterRoles (rbac/user-roles) and the CRDs (crd/bases),
// with paths relative to this folder.
//
//go:embed rbac/user-roles/*.yaml crd/bases/*.yaml
var FS embed.FS

// userRolesDir is where UserRoles reads from; its kustomization.yaml is not a
// role and is skipped.
const userRolesDir = "rbac/user-roles"

// UserRoles decodes the ClusterRoles in rbac/user-roles, one per file, sorted
// by name. Decoding is strict: a field that rbacv1.ClusterRole does not know
// (a typo such as "verb:") is an error rather than silently dropped.
func UserRoles() ([]rbacv1.ClusterRole, error) {
	files, err := fs.Glob(FS, path.Join(userRolesDir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var roles []rbacv1.ClusterRole
	for _, f := range files {
		if path.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := FS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var role rbacv1.ClusterRole
		if err := yaml.UnmarshalStrict(data, &role); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if role.APIVersion != rbacv1.SchemeGroupVersion.String() || role.Kind != "ClusterRole" {
			return nil, fmt.Errorf("%s: want a %s ClusterRole, got %s %s", f, rbacv1.SchemeGroupVersion, role.APIVersion, role.Kind)
		}
		if role.Name == "" {
			return nil, fmt.Errorf("%s: ClusterRole has no name", f)
		}
		roles = append(roles, role)
	}
	sort.Slice(roles, func(i, j int) bool { return roles[i].Name < roles[j].Name })
	return roles, nil
}
