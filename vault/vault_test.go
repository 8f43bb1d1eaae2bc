package vault_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/switchboard-chat/switchboard/vault"
)

func key() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

func TestSealOpenAndRotate(t *testing.T) {
	oldKey, newKey := key(), key()
	before, err := vault.New(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte(`{"botToken":"123456:ABCdef"}`)
	sealed, err := before.Seal(secret, []byte("con_1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("ABCdef")) {
		t.Fatal("ciphertext contains the plaintext")
	}
	again, _ := before.Seal(secret, []byte("con_1"))
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of one secret are identical: nonce reuse")
	}

	rotated, err := vault.New(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rotated.Open(sealed, []byte("con_1"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("opening with a retired key: %q %v", got, err)
	}
	if !rotated.Stale(sealed) {
		t.Fatal("a ciphertext of a retired key must be stale")
	}
	resealed, _ := rotated.Seal(secret, []byte("con_1"))
	if rotated.Stale(resealed) {
		t.Fatal("a fresh ciphertext must not be stale")
	}

	cases := map[string]struct {
		ring   *vault.Keyring
		sealed []byte
		aad    string
		want   error
	}{
		"key dropped from the ring": {mustNew(t, newKey), sealed, "con_1", vault.ErrUnknownKey},
		"other row":                 {rotated, sealed, "con_2", vault.ErrCorrupt},
		"flipped bit":               {rotated, flip(sealed), "con_1", vault.ErrCorrupt},
		"truncated":                 {rotated, sealed[:10], "con_1", vault.ErrCorrupt},
		"empty":                     {rotated, nil, "con_1", vault.ErrCorrupt},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := tc.ring.Open(tc.sealed, []byte(tc.aad)); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestBadKeys(t *testing.T) {
	if _, err := vault.New(make([]byte, 16)); err == nil {
		t.Fatal("a 16-byte key must be refused")
	}
	if _, err := vault.New(key(), make([]byte, 31)); err == nil {
		t.Fatal("a short retired key must be refused")
	}
}

func TestHint(t *testing.T) {
	for in, want := range map[string]string{
		"": "",
		"123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw": "1234…Dsaw",
		"short": "…rt",
	} {
		if got := vault.Hint(in); got != want {
			t.Errorf("Hint(%q) = %q, want %q", in, got, want)
		}
	}
}

func mustNew(t *testing.T, k []byte) *vault.Keyring {
	r, err := vault.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func flip(b []byte) []byte {
	c := bytes.Clone(b)
	c[len(c)-1] ^= 1
	return c
}
