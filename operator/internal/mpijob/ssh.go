package mpijob

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kubeflow "github.com/mpijob-platform/mpijob-platform/operator/api/kubeflow/v2beta1"
)

// sshKeyPair is a private key in PEM and its public key in authorized_keys
// form. Private keys are never logged.
type sshKeyPair struct {
	PrivatePEM    []byte
	AuthorizedKey []byte
}

// generateSSHKeys creates a key pair of the configured type.
func generateSSHKeys(t SSHKeyType) (sshKeyPair, error) {
	var (
		priv  any
		block *pem.Block
	)
	switch t {
	case SSHKeyECDSA, "":
		k, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		if err != nil {
			return sshKeyPair{}, err
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return sshKeyPair{}, err
		}
		priv, block = k, &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	case SSHKeyRSA:
		k, err := rsa.GenerateKey(rand.Reader, 4096)
		if err != nil {
			return sshKeyPair{}, err
		}
		priv, block = k, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	case SSHKeyEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return sshKeyPair{}, err
		}
		b, err := ssh.MarshalPrivateKey(k, "")
		if err != nil {
			return sshKeyPair{}, err
		}
		priv, block = k, b
	default:
		return sshKeyPair{}, fmt.Errorf("unknown SSH key type %q", t)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return sshKeyPair{}, err
	}
	return sshKeyPair{PrivatePEM: pem.EncodeToMemory(block), AuthorizedKey: ssh.MarshalAuthorizedKey(signer.PublicKey())}, nil
}

// desiredSSHSecret is the <job>-ssh Secret (type kubernetes.io/ssh-auth).
func desiredSSHSecret(job *kubeflow.MPIJob, keys sshKeyPair) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: childMeta(job, sshSecretName(job), appLabels(job)),
		Type:       corev1.SecretTypeSSHAuth,
		Data: map[string][]byte{
			corev1.SSHAuthPrivateKey: keys.PrivatePEM,
			sshPublicKeyKey:          keys.AuthorizedKey,
		},
	}
}

// addSSHVolume mounts the job's key pair and authorized_keys into the first
// container. Under /root/.ssh the files are 0600 for root, as sshd demands.
// Elsewhere (images that run as a non-root user) they are 0440: readable by
// their owner and the pod's fsGroup, never by everyone. When the template
// runs as a non-root user but sets no fsGroup, the user's group becomes the
// fsGroup so that the files are readable (mpi-operator#429).
func addSSHVolume(job *kubeflow.MPIJob, spec *corev1.PodSpec) {
	mode := int32(0o440)
	if job.Spec.SSHAuthMountPath == kubeflow.DefaultSSHAuthMountPath {
		mode = 0o600
	} else {
		setFSGroupForNonRoot(spec)
	}
	spec.Volumes = append(spec.Volumes, corev1.Volume{
		Name: sshVolumeName,
		VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName:  sshSecretName(job),
			DefaultMode: ptr.To(mode),
			Items: []corev1.KeyToPath{
				{Key: corev1.SSHAuthPrivateKey, Path: sshPrivateKeyFile},
				{Key: sshPublicKeyKey, Path: sshPublicKeyFile},
				{Key: sshPublicKeyKey, Path: sshAuthorizedKeysFile},
			},
		}},
	})
	c := &spec.Containers[0]
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: sshVolumeName, MountPath: job.Spec.SSHAuthMountPath})
}

func setFSGroupForNonRoot(spec *corev1.PodSpec) {
	if spec.SecurityContext != nil && spec.SecurityContext.FSGroup != nil {
		return
	}
	var uid, gid *int64
	if sc := spec.SecurityContext; sc != nil {
		uid, gid = sc.RunAsUser, sc.RunAsGroup
	}
	if sc := spec.Containers[0].SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = sc.RunAsGroup
		}
	}
	group := gid
	if group == nil {
		group = uid
	}
	if group == nil || *group == 0 {
		return
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	spec.SecurityContext.FSGroup = ptr.To(*group)
	// Only the ownership of volumes whose root does not match changes, so a
	// large checkpoint volume is not walked on every start.
	spec.SecurityContext.FSGroupChangePolicy = ptr.To(corev1.FSGroupChangeOnRootMismatch)
}

// childMeta is the metadata of a child the job controls.
func childMeta(job *kubeflow.MPIJob, name string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            name,
		Namespace:       job.Namespace,
		Labels:          labels,
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, kubeflow.SchemeGroupVersionKind)},
	}
}
