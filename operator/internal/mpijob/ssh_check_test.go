package mpijob

import (
	"bytes"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// checkKeyPair proves the private key parses and matches the authorized key.
func checkKeyPair(k sshKeyPair) error {
	signer, err := ssh.ParsePrivateKey(k.PrivatePEM)
	if err != nil {
		return fmt.Errorf("private key does not parse: %w", err)
	}
	if got := ssh.MarshalAuthorizedKey(signer.PublicKey()); !bytes.Equal(got, k.AuthorizedKey) {
		return fmt.Errorf("authorized key %q does not match the private key's %q", k.AuthorizedKey, got)
	}
	return nil
}
