package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// KueueNamespace is where Kueue keeps its own objects.
const KueueNamespace = "kueue-system"

// kueueFrameworks are the job integrations the dev cluster enables.
var kueueFrameworks = []string{"batch/job", "kubeflow.org/mpijob"}

// kueueWebhookTargets are the (group, resource) pairs whose Kueue webhooks we
// register. Webhooks of disabled integrations (pods, deployments, ray...)
// would only add a no-op call to every such request, so they are left out.
var kueueWebhookTargets = map[string]bool{
	"kueue.x-k8s.io/*":     true,
	"batch/jobs":           true,
	"kubeflow.org/mpijobs": true,
}

// startKueue applies Kueue's CRDs (and ours, so that the MPIJob integration
// starts at once), starts the manager, then registers its webhooks. Kueue's
// webhooks fail closed, so they are registered only once it serves them.
func (r *runner) startKueue(ctx context.Context) error {
	c, err := newClient(r.c.Config)
	if err != nil {
		return err
	}
	var crds []*unstructured.Unstructured
	for _, dir := range r.opts.CRDDirs {
		objs, err := ReadManifestDir(dir)
		if err != nil {
			return err
		}
		crds = append(crds, objs...)
	}
	if r.opts.WithoutKueue {
		if err := Apply(ctx, c, crds); err != nil {
			return err
		}
		return waitCRDsEstablished(ctx, c, crdNames(crds))
	}
	kueueCRDs, err := ReadManifestDir(filepath.Join(r.bins.KueueManifests, "crds"))
	if err != nil {
		return err
	}
	webhookURL := "https://" + hostPort(r.ports["kueue-webhook"])
	conversion, err := kueueConversionCRDs(filepath.Join(r.bins.KueueManifests, "crd-kustomization.yaml"))
	if err != nil {
		return err
	}
	for _, crd := range kueueCRDs {
		if conversion[crd.GetName()] {
			if err := unstructured.SetNestedMap(crd.Object, map[string]any{
				"strategy": "Webhook",
				"webhook": map[string]any{
					"conversionReviewVersions": []any{"v1"},
					"clientConfig":             map[string]any{"url": webhookURL + "/convert", "caBundle": r.pki.caBundle()},
				},
			}, "spec", "conversion"); err != nil {
				return err
			}
		}
	}
	crds = append(crds, kueueCRDs...)
	if err := Apply(ctx, c, crds); err != nil {
		return err
	}
	if err := waitCRDsEstablished(ctx, c, crdNames(crds)); err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: KueueNamespace}}
	if err := client.IgnoreAlreadyExists(c.Create(ctx, ns)); err != nil {
		return err
	}

	certDir := filepath.Join(r.opts.Dir, "kueue-certs")
	if err := os.MkdirAll(certDir, 0o755); err != nil {
		return err
	}
	for src, dst := range map[string]string{r.files["kueue-webhook.crt"]: "tls.crt", r.files["kueue-webhook.key"]: "tls.key"} {
		if err := copyFile(src, filepath.Join(certDir, dst)); err != nil {
			return err
		}
	}
	cfgPath := filepath.Join(r.opts.Dir, "kueue-config.yaml")
	if err := os.WriteFile(cfgPath, []byte(r.kueueConfig(certDir)), 0o644); err != nil {
		return err
	}
	wrapper, err := kueueMountWrapper(filepath.Join(r.opts.Dir, "kueue-etc"), certDir)
	if err != nil {
		return err
	}
	p, err := r.startWrapped("kueue", r.bins.Kueue, wrapper,
		"--config="+cfgPath,
		"--kubeconfig="+r.files["kueue.kubeconfig"],
		// The visibility server reads its certificate from /visibility, which
		// we cannot provide without writing to the host's root folder.
		"--feature-gates=VisibilityOnDemand=false",
		"--zap-log-level=info")
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, p, "http://"+hostPort(r.ports["kueue-health"])+"/readyz", nil, 60*time.Second); err != nil {
		return err
	}
	webhooks, err := r.kueueWebhooks(webhookURL)
	if err != nil {
		return err
	}
	if err := Apply(ctx, c, webhooks); err != nil {
		return err
	}
	// A dry-run create passes through Kueue's webhooks: once it succeeds,
	// Kueue admits objects.
	return poll(ctx, "Kueue webhooks answering", func() (bool, string, error) {
		rf := &unstructured.Unstructured{}
		rf.SetAPIVersion("kueue.x-k8s.io/v1beta2")
		rf.SetKind("ResourceFlavor")
		rf.SetName("devcluster-webhook-probe")
		if err := c.Create(ctx, rf, client.DryRunAll); err != nil {
			if !p.Alive() {
				return false, "", fmt.Errorf("kueue exited; last lines of %s:\n%s", p.Log, p.logTail(20))
			}
			return false, err.Error(), nil
		}
		return true, "", nil
	})
}

func (r *runner) kueueConfig(certDir string) string {
	frameworks := ""
	for _, f := range kueueFrameworks {
		frameworks += "  - " + strconv.Quote(f) + "\n"
	}
	return `apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
namespace: ` + KueueNamespace + `
health:
  healthProbeBindAddress: ` + hostPort(r.ports["kueue-health"]) + `
metrics:
  bindAddress: ` + hostPort(r.ports["kueue-metrics"]) + `
  # The quota dashboard reads kueue_cluster_queue_resource_reservation and
  # kueue_cluster_queue_nominal_quota, which Kueue exports only with this.
  enableClusterQueueResources: true
webhook:
  host: 127.0.0.1
  port: ` + strconv.Itoa(r.ports["kueue-webhook"]) + `
  certDir: ` + certDir + `
leaderElection:
  leaderElect: false
internalCertManagement:
  enable: false
clientConnection:
  qps: 200
  burst: 400
integrations:
  frameworks:
` + frameworks
}

// kueueMountWrapper returns a command prefix that runs Kueue in a private
// mount namespace where /etc is a read-only overlay adding
// /etc/kueue/metrics/certs: with internal certificate management off, Kueue
// reads its metrics certificate from that fixed path and exits without it,
// and we do not write to the host's /etc. The shell execs Kueue, so the PID
// we record is Kueue's own.
func kueueMountWrapper(etcOverlay, certDir string) ([]string, error) {
	certs := filepath.Join(etcOverlay, "kueue", "metrics", "certs")
	if err := os.MkdirAll(certs, 0o755); err != nil {
		return nil, err
	}
	for _, f := range []string{"tls.crt", "tls.key"} {
		if err := copyFile(filepath.Join(certDir, f), filepath.Join(certs, f)); err != nil {
			return nil, err
		}
	}
	wrapper := []string{"unshare", "--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		// Without root, a user namespace grants the mount privilege.
		wrapper = append(wrapper, "--map-root-user")
	}
	script := `mount -t overlay devcluster-etc -o lowerdir=` + etcOverlay + `:/etc /etc && exec "$0" "$@"`
	return append(wrapper, "sh", "-c", script), nil
}

var conversionPatch = regexp.MustCompile(`(?m)^- path: patches/webhook_in_([a-z]+)\.yaml`)

// kueueConversionCRDs lists the CRDs whose conversion webhook Kueue's own
// kustomization enables (uncommented patches/webhook_in_<plural>.yaml).
func kueueConversionCRDs(kustomization string) (map[string]bool, error) {
	data, err := os.ReadFile(kustomization)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, m := range conversionPatch.FindAllStringSubmatch(string(data), -1) {
		out[m[1]+".kueue.x-k8s.io"] = true
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s enables no conversion webhooks; has Kueue's layout changed?", kustomization)
	}
	return out, nil
}

// kueueWebhooks reads Kueue's webhook manifests, keeps the webhooks of the
// enabled integrations and points them at Kueue on loopback.
func (r *runner) kueueWebhooks(baseURL string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(filepath.Join(r.bins.KueueManifests, "webhooks.yaml"))
	if err != nil {
		return nil, err
	}
	objs, err := ReadManifests(bytesReader(data))
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		o.SetName("kueue-" + o.GetName())
		hooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
		var kept []any
		for _, raw := range hooks {
			h, ok := raw.(map[string]any)
			if !ok || !webhookTargetsKept(h) {
				continue
			}
			path, _, _ := unstructured.NestedString(h, "clientConfig", "service", "path")
			h["clientConfig"] = map[string]any{"url": baseURL + path, "caBundle": r.pki.caBundle()}
			kept = append(kept, h)
		}
		if err := unstructured.SetNestedSlice(o.Object, kept, "webhooks"); err != nil {
			return nil, err
		}
	}
	return objs, nil
}

func webhookTargetsKept(h map[string]any) bool {
	rules, _, _ := unstructured.NestedSlice(h, "rules")
	if len(rules) == 0 {
		return false
	}
	for _, raw := range rules {
		rule, _ := raw.(map[string]any)
		groups, _, _ := unstructured.NestedStringSlice(rule, "apiGroups")
		resources, _, _ := unstructured.NestedStringSlice(rule, "resources")
		for _, g := range groups {
			for _, res := range resources {
				if !kueueWebhookTargets[g+"/"+res] && !kueueWebhookTargets[g+"/*"] {
					return false
				}
			}
		}
	}
	return true
}
