package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
)

// PrometheusOperator is the prometheus-operator module whose CRDs
// (example/prometheus-operator-crd) tests install: the newest version of
// the main module the module proxy serves.
const PrometheusOperator = "github.com/prometheus-operator/prometheus-operator@v0.85.0"

// ModuleDir downloads module@version through the Go module proxy (or
// finds it in the module cache) and returns its folder. It is for modules
// that tests read files from (CRDs, manifests) and that no Go code imports.
func ModuleDir(ctx context.Context, moduleAtVersion string) (string, error) {
	tmp, err := os.MkdirTemp("", "module-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", moduleAtVersion)
	cmd.Dir = tmp // outside any module, so no go.mod is touched
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr != nil || info.Error != "" || info.Dir == "" {
		if err == nil {
			err = jerr
		}
		return "", fmt.Errorf("go mod download %s: %s %s: %w", moduleAtVersion, info.Error, out, err)
	}
	return info.Dir, nil
}
