// Package vault encrypts secrets at rest (platform tokens, webhook secrets)
// with AES-256-GCM. Each ciphertext names the key that sealed it by a key id
// derived from the key, so keys can rotate: the current key seals, retired
// keys (ENCRYPTION_OLD_KEYS) still open what they sealed.
package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// version prefixes every ciphertext so the format itself can change later.
const version byte = 1

const keyIDLen = 8

// ErrUnknownKey means the ciphertext was sealed with a key that is neither
// the current key nor a retired one.
var ErrUnknownKey = errors.New("vault: sealed with an unknown key (is ENCRYPTION_OLD_KEYS missing a retired key?)")

// ErrCorrupt means the ciphertext was altered, truncated or bound to another row.
var ErrCorrupt = errors.New("vault: ciphertext does not authenticate")

// Keyring holds the current key and the retired ones.
type Keyring struct {
	current [keyIDLen]byte
	aeads   map[[keyIDLen]byte]cipher.AEAD
}

// KeyID derives the public identifier of a key. It is a hash, so it reveals
// nothing about the key.
func KeyID(key []byte) [keyIDLen]byte {
	sum := sha256.Sum256(append([]byte("switchboard/vault/key-id/"), key...))
	var id [keyIDLen]byte
	copy(id[:], sum[:keyIDLen])
	return id
}

// New returns a keyring sealing with current and opening with current and old.
func New(current []byte, old ...[]byte) (*Keyring, error) {
	k := &Keyring{aeads: map[[keyIDLen]byte]cipher.AEAD{}}
	for i, key := range append([][]byte{current}, old...) {
		if len(key) != 32 {
			return nil, fmt.Errorf("vault: key %d is %d bytes, want 32", i, len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		id := KeyID(key)
		if i == 0 {
			k.current = id
		}
		k.aeads[id] = aead
	}
	return k, nil
}

// Seal encrypts plaintext. aad binds the ciphertext to its owner (a row id):
// it will not open for another.
func (k *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	aead := k.aeads[k.current]
	out := make([]byte, 1+keyIDLen+aead.NonceSize(), 1+keyIDLen+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out[0] = version
	copy(out[1:], k.current[:])
	nonce := out[1+keyIDLen:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("vault: reading nonce: %w", err)
	}
	return aead.Seal(out, nonce, plaintext, aad), nil
}

// Open decrypts what Seal produced with the same aad.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < 1+keyIDLen || sealed[0] != version {
		return nil, ErrCorrupt
	}
	var id [keyIDLen]byte
	copy(id[:], sealed[1:1+keyIDLen])
	aead, ok := k.aeads[id]
	if !ok {
		return nil, ErrUnknownKey
	}
	rest := sealed[1+keyIDLen:]
	if len(rest) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrCorrupt
	}
	plain, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], aad)
	if err != nil {
		return nil, ErrCorrupt
	}
	return plain, nil
}

// Stale reports whether sealed was made with a retired key and should be
// sealed again with the current one.
func (k *Keyring) Stale(sealed []byte) bool {
	if len(sealed) < 1+keyIDLen {
		return false
	}
	var id [keyIDLen]byte
	copy(id[:], sealed[1:1+keyIDLen])
	return id != k.current
}

// Hint masks a secret for display: its first and last four characters, so
// people can tell tokens apart without seeing them. Short secrets show less.
func Hint(secret string) string {
	r := []rune(secret)
	switch {
	case len(r) == 0:
		return ""
	case len(r) < 12:
		return "…" + string(r[len(r)-min(2, len(r)):])
	default:
		return string(r[:4]) + "…" + string(r[len(r)-4:])
	}
}
