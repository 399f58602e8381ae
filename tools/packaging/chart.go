package packaging

import (
	"fmt"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
)

// ChartDir is the chart's folder relative to the repository root.
const ChartDir = "charts/mpijob-platform"

// KubeVersion is the Kubernetes version charts are rendered and linted for
// (the local cluster's).
const KubeVersion = "v1.37.2"

// RenderChart renders the chart as `helm template` would, without a
// cluster: the manifests of templates/ (CRDs excluded, hooks included when
// withHooks), sorted in install order.
func RenderChart(repoRoot, releaseName, namespace string, values map[string]any, withHooks bool) (string, error) {
	chrt, err := loader.LoadDir(filepath.Join(repoRoot, ChartDir))
	if err != nil {
		return "", err
	}
	kv, err := chartutil.ParseKubeVersion(KubeVersion)
	if err != nil {
		return "", err
	}
	install := action.NewInstall(&action.Configuration{})
	install.ClientOnly, install.DryRun, install.Replace = true, true, true
	install.ReleaseName, install.Namespace, install.KubeVersion = releaseName, namespace, kv
	install.IncludeCRDs = false
	install.DisableHooks = !withHooks
	rel, err := install.Run(chrt, values)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(rel.Manifest)
	if withHooks {
		for _, h := range rel.Hooks {
			fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", h.Path, h.Manifest)
		}
	}
	return b.String(), nil
}
