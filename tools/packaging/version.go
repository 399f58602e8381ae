// Package packaging is the one source the Helm chart, the kustomize bases,
// the OLM bundle, the catalog and the image build share: the release
// version, the operator image reference and the objects that install the
// operator.
package packaging

import "os"

// Version is the platform's release version.
const Version = "1.1.0"

// DefaultImage is the operator image the chart, the bundle and the
// kustomize bases refer to. IMG (make IMG=... bundle, or the environment)
// overrides it everywhere at once.
const DefaultImage = "mpijob-platform/mpijob-platform-operator:" + Version

// ImageEnv names the variable that overrides DefaultImage.
const ImageEnv = "IMG"

// Image returns the operator image reference in use: $IMG, else DefaultImage.
func Image() string {
	if img := os.Getenv(ImageEnv); img != "" {
		return img
	}
	return DefaultImage
}
