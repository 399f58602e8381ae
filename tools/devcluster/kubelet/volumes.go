package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// materializer writes a pod's volumes into its folder the way the kubelet
// lays them out: files with their modes, owned by root and, with an fsGroup,
// group-owned by it with group read (and write for emptyDir).
type materializer struct {
	cs  kubernetes.Interface
	pod *corev1.Pod
	dir string // <pod folder>/volumes
	// refresh rewrites what may change while the pod runs (configMaps,
	// secrets, downward API), as the kubelet's periodic volume sync does;
	// emptyDirs and tokens are left alone.
	refresh bool
}

// refreshable says whether a volume's files follow their source.
func refreshable(v corev1.Volume) bool {
	return v.Secret != nil || v.ConfigMap != nil || v.DownwardAPI != nil || v.Projected != nil
}

// errVolume is a volume the runtime cannot provide; the pod waits with
// CreateContainerConfigError and the message.
type errVolume struct{ msg string }

func (e errVolume) Error() string { return e.msg }

func (m *materializer) all(ctx context.Context) error {
	for _, v := range m.pod.Spec.Volumes {
		if m.refresh && !refreshable(v) {
			continue
		}
		if err := m.volume(ctx, v); err != nil {
			return err
		}
	}
	return nil
}

func (m *materializer) path(name string) string { return filepath.Join(m.dir, name) }

func (m *materializer) volume(ctx context.Context, v corev1.Volume) error {
	dir := m.path(v.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var files []file
	var err error
	readOnly := true
	switch {
	case v.EmptyDir != nil:
		readOnly = false
		if err := os.Chmod(dir, 0o777); err != nil {
			return err
		}
	case v.Secret != nil:
		files, err = m.secretFiles(ctx, v.Secret.SecretName, v.Secret.Items, v.Secret.DefaultMode, ptr.Deref(v.Secret.Optional, false))
	case v.ConfigMap != nil:
		files, err = m.configMapFiles(ctx, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.DefaultMode, ptr.Deref(v.ConfigMap.Optional, false))
	case v.DownwardAPI != nil:
		files, err = m.downwardFiles(v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
	case v.Projected != nil:
		files, err = m.projectedFiles(ctx, v.Projected)
	default:
		return errVolume{fmt.Sprintf("volume %q: the process runtime provides emptyDir, secret, configMap, downwardAPI and projected volumes only", v.Name)}
	}
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := writeVolumeFile(dir, f); err != nil {
			return fmt.Errorf("volume %q: %w", v.Name, err)
		}
	}
	return m.applyFSGroup(dir, readOnly)
}

type file struct {
	path string
	mode int32
	data []byte
}

func (m *materializer) secretFiles(ctx context.Context, name string, items []corev1.KeyToPath, defaultMode *int32, optional bool) ([]file, error) {
	s, err := m.cs.CoreV1().Secrets(m.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	return keyFiles("secret", name, s.Data, items, ptr.Deref(defaultMode, 0o644), optional)
}

func (m *materializer) configMapFiles(ctx context.Context, name string, items []corev1.KeyToPath, defaultMode *int32, optional bool) ([]file, error) {
	cm, err := m.cs.CoreV1().ConfigMaps(m.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("configmap %q: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return keyFiles("configmap", name, data, items, ptr.Deref(defaultMode, 0o644), optional)
}

func keyFiles(kind, name string, data map[string][]byte, items []corev1.KeyToPath, mode int32, optional bool) ([]file, error) {
	var out []file
	if len(items) == 0 {
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, file{k, mode, data[k]})
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("%s %q has no key %q", kind, name, it.Key)
		}
		out = append(out, file{it.Path, ptr.Deref(it.Mode, mode), v})
	}
	return out, nil
}

func (m *materializer) downwardFiles(items []corev1.DownwardAPIVolumeFile, defaultMode *int32) ([]file, error) {
	var out []file
	for _, it := range items {
		var value string
		switch {
		case it.FieldRef != nil:
			v, err := fieldValue(m.pod, it.FieldRef.FieldPath)
			if err != nil {
				return nil, err
			}
			value = v
		case it.ResourceFieldRef != nil:
			v, err := resourceValue(m.pod, it.ResourceFieldRef)
			if err != nil {
				return nil, err
			}
			value = v
		}
		out = append(out, file{it.Path, ptr.Deref(it.Mode, ptr.Deref(defaultMode, 0o644)), []byte(value)})
	}
	return out, nil
}

func (m *materializer) projectedFiles(ctx context.Context, p *corev1.ProjectedVolumeSource) ([]file, error) {
	mode := ptr.Deref(p.DefaultMode, 0o644)
	var out []file
	for _, s := range p.Sources {
		var fs []file
		var err error
		switch {
		case s.Secret != nil:
			fs, err = m.secretFiles(ctx, s.Secret.Name, s.Secret.Items, &mode, ptr.Deref(s.Secret.Optional, false))
		case s.ConfigMap != nil:
			fs, err = m.configMapFiles(ctx, s.ConfigMap.Name, s.ConfigMap.Items, &mode, ptr.Deref(s.ConfigMap.Optional, false))
		case s.DownwardAPI != nil:
			fs, err = m.downwardFiles(s.DownwardAPI.Items, &mode)
		case s.ServiceAccountToken != nil:
			if m.refresh {
				continue // an hour-long token outlives every test
			}
			fs, err = m.tokenFile(ctx, s.ServiceAccountToken, mode)
		default:
			return nil, errVolume{"projected volume: the process runtime projects secrets, configMaps, downwardAPI and service account tokens only"}
		}
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	return out, nil
}

// tokenFile asks the API server for a token bound to the pod, as the kubelet
// does for a projected serviceAccountToken.
func (m *materializer) tokenFile(ctx context.Context, s *corev1.ServiceAccountTokenProjection, mode int32) ([]file, error) {
	sa := m.pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To(ptr.Deref(s.ExpirationSeconds, 3600)),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: m.pod.Name, UID: m.pod.UID},
	}}
	if s.Audience != "" {
		req.Spec.Audiences = []string{s.Audience}
	}
	tok, err := m.cs.CoreV1().ServiceAccounts(m.pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token for service account %q: %w", sa, err)
	}
	return []file{{s.Path, mode, []byte(tok.Status.Token)}}, nil
}

func writeVolumeFile(dir string, f file) error {
	rel := filepath.Clean(f.path)
	if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("path %q leaves the volume", f.path)
	}
	full := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	if old, err := os.ReadFile(full); err == nil && string(old) == string(f.data) {
		return nil
	}
	// A new file renamed into place: a reader in the pod sees the old
	// content or the new, never half of it (the kubelet's atomic writer).
	tmp := filepath.Join(filepath.Dir(full), ".."+filepath.Base(full)+".tmp")
	if err := os.WriteFile(tmp, f.data, os.FileMode(f.mode)&0o777); err != nil {
		return err
	}
	if err := os.Chmod(tmp, os.FileMode(f.mode)&0o777); err != nil {
		return err
	}
	return os.Rename(tmp, full)
}

// applyFSGroup gives the pod's fsGroup the volume, as the kubelet's
// SetVolumeOwnership does: group-owned, group-readable (and writable when
// the volume is), set-group-ID directories.
func (m *materializer) applyFSGroup(dir string, readOnly bool) error {
	sc := m.pod.Spec.SecurityContext
	if sc == nil || sc.FSGroup == nil {
		return nil
	}
	gid := int(*sc.FSGroup)
	mask := os.FileMode(0o660)
	if readOnly {
		mask = 0o440
	}
	return filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(path, -1, gid); err != nil {
			return err
		}
		mode := info.Mode().Perm() | mask
		if info.IsDir() {
			mode |= os.ModeSetgid | 0o110
		}
		return os.Chmod(path, mode)
	})
}

// fieldValue resolves a downward API field path.
func fieldValue(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP":
		return pod.Status.PodIP, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	case "metadata.labels", "metadata.annotations":
		m := pod.Labels
		if path == "metadata.annotations" {
			m = pod.Annotations
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%s\n", k, strconv.Quote(m[k]))
		}
		return b.String(), nil
	}
	for _, prefix := range []string{"metadata.labels['", "metadata.annotations['"} {
		if key, ok := strings.CutPrefix(path, prefix); ok && strings.HasSuffix(key, "']") {
			key = strings.TrimSuffix(key, "']")
			if strings.HasPrefix(prefix, "metadata.labels") {
				return pod.Labels[key], nil
			}
			return pod.Annotations[key], nil
		}
	}
	return "", fmt.Errorf("field path %q is not supported by the process runtime", path)
}

// resourceValue resolves limits.* and requests.* of a container.
func resourceValue(pod *corev1.Pod, ref *corev1.ResourceFieldSelector) (string, error) {
	var c *corev1.Container
	for i := range pod.Spec.Containers {
		if ref.ContainerName == "" || pod.Spec.Containers[i].Name == ref.ContainerName {
			c = &pod.Spec.Containers[i]
			break
		}
	}
	if c == nil {
		return "", fmt.Errorf("resource field ref: no container %q", ref.ContainerName)
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok {
		return "", fmt.Errorf("resource field ref %q is not supported", ref.Resource)
	}
	list := c.Resources.Limits
	if kind == "requests" {
		list = c.Resources.Requests
	}
	q, ok := list[corev1.ResourceName(name)]
	if !ok {
		return "0", nil
	}
	div := ref.Divisor
	if div.IsZero() {
		return strconv.FormatInt(q.Value(), 10), nil
	}
	return strconv.FormatInt((q.MilliValue()+div.MilliValue()-1)/div.MilliValue(), 10), nil
}

// containerEnv resolves a container's environment as the kubelet does:
// envFrom first, then env in order with $(VAR) references expanded.
func containerEnv(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, c *corev1.Container, base map[string]string) ([]string, error) {
	vals := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	baseKeys := make([]string, 0, len(base))
	for k := range base {
		baseKeys = append(baseKeys, k)
	}
	sort.Strings(baseKeys)
	for _, k := range baseKeys {
		set(k, base[k])
	}
	secrets := map[string]*corev1.Secret{}
	configMaps := map[string]*corev1.ConfigMap{}
	getSecret := func(name string) (*corev1.Secret, error) {
		if s, ok := secrets[name]; ok {
			return s, nil
		}
		s, err := cs.CoreV1().Secrets(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			secrets[name] = s
		}
		return s, err
	}
	getConfigMap := func(name string) (*corev1.ConfigMap, error) {
		if cm, ok := configMaps[name]; ok {
			return cm, nil
		}
		cm, err := cs.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			configMaps[name] = cm
		}
		return cm, err
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := getConfigMap(from.ConfigMapRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && ptr.Deref(from.ConfigMapRef.Optional, false) {
					continue
				}
				return nil, fmt.Errorf("envFrom configmap %q: %w", from.ConfigMapRef.Name, err)
			}
			for k, v := range cm.Data {
				set(from.Prefix+k, v)
			}
		case from.SecretRef != nil:
			s, err := getSecret(from.SecretRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && ptr.Deref(from.SecretRef.Optional, false) {
					continue
				}
				return nil, fmt.Errorf("envFrom secret %q: %w", from.SecretRef.Name, err)
			}
			for k, v := range s.Data {
				set(from.Prefix+k, string(v))
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, vals))
			continue
		}
		src := e.ValueFrom
		switch {
		case src.FieldRef != nil:
			v, err := fieldValue(pod, src.FieldRef.FieldPath)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			set(e.Name, v)
		case src.ResourceFieldRef != nil:
			ref := *src.ResourceFieldRef
			if ref.ContainerName == "" {
				ref.ContainerName = c.Name
			}
			v, err := resourceValue(pod, &ref)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			set(e.Name, v)
		case src.ConfigMapKeyRef != nil:
			cm, err := getConfigMap(src.ConfigMapKeyRef.Name)
			optional := ptr.Deref(src.ConfigMapKeyRef.Optional, false)
			if err != nil {
				if apierrors.IsNotFound(err) && optional {
					continue
				}
				return nil, fmt.Errorf("env %s: configmap %q: %w", e.Name, src.ConfigMapKeyRef.Name, err)
			}
			v, ok := cm.Data[src.ConfigMapKeyRef.Key]
			if !ok && !optional {
				return nil, fmt.Errorf("env %s: configmap %q has no key %q", e.Name, src.ConfigMapKeyRef.Name, src.ConfigMapKeyRef.Key)
			}
			if ok {
				set(e.Name, v)
			}
		case src.SecretKeyRef != nil:
			s, err := getSecret(src.SecretKeyRef.Name)
			optional := ptr.Deref(src.SecretKeyRef.Optional, false)
			if err != nil {
				if apierrors.IsNotFound(err) && optional {
					continue
				}
				return nil, fmt.Errorf("env %s: secret %q: %w", e.Name, src.SecretKeyRef.Name, err)
			}
			v, ok := s.Data[src.SecretKeyRef.Key]
			if !ok && !optional {
				return nil, fmt.Errorf("env %s: secret %q has no key %q", e.Name, src.SecretKeyRef.Name, src.SecretKeyRef.Key)
			}
			if ok {
				set(e.Name, string(v))
			}
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out, nil
}

// expand replaces $(VAR) with earlier values; $$(VAR) stays literal, and
// unknown references are left as they are (Kubernetes' rules).
func expand(s string, vals map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vals[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
