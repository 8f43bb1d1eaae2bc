package auth

import (
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// MinPasswordLength is the shortest password accepted for a new account.
const MinPasswordLength = 8

// bcryptCost is bcrypt's default: about 50-100 ms a hash on this class of machine,
// slow enough against offline guessing, fast enough for sign-in.
var bcryptCost = bcrypt.DefaultCost

// HashPassword returns the bcrypt hash of password.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return "", fmt.Errorf("hashing password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether password matches hash.
func CheckPassword(hash, password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// DummyHash returns a hash to check against when the account does not exist.
func DummyHash() string { return string(dummyHash) }

// dummyHash makes sign-in with an unknown email cost as much as with a known one,
// so response times do not reveal which emails have accounts.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("switchboard-timing-equaliser"), bcryptCost)
