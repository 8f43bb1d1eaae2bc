package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
)

// The issuer and audience every token carries and every check demands.
const (
	TokenIssuer   = "switchboard"
	TokenAudience = "switchboard-api"
)

// Tokens issues and verifies the HS256 JWTs that authenticate API calls.
type Tokens struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
}

// NewTokens returns a token service signing with secret; tokens live for ttl.
func NewTokens(secret []byte, ttl time.Duration) *Tokens {
	return &Tokens{secret: secret, ttl: ttl, now: time.Now}
}

// Claims are the token's registered claims (the subject is the user id)
// and the user's session epoch when it was issued.
type Claims struct {
	jwt.RegisteredClaims
	Epoch int `json:"epoch"`
}

// Issue returns a signed token for userID, in the user's session epoch, and its expiry.
func (t *Tokens) Issue(userID pulid.ID, epoch int) (string, time.Time, error) {
	now := t.now()
	exp := now.Add(t.ttl).Truncate(time.Second)
	claims := Claims{RegisteredClaims: jwt.RegisteredClaims{
		// The id names the session, so a password change can end the
		// others and keep this one.
		ID:        rand.Text(),
		Issuer:    TokenIssuer,
		Audience:  jwt.ClaimStrings{TokenAudience},
		Subject:   string(userID),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(exp),
	}, Epoch: epoch}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("signing token: %w", err)
	}
	return signed, exp, nil
}

// ErrBadToken is returned for any token that fails verification. The reason is
// wrapped for logs; clients only learn that they must sign in again.
var ErrBadToken = errors.New("invalid or expired token")

// Verify checks signature, algorithm, expiry, issuer and audience and returns the claims.
func (t *Tokens) Verify(token string) (*Claims, error) {
	var claims Claims
	_, err := jwt.ParseWithClaims(token, &claims,
		func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(TokenIssuer),
		jwt.WithAudience(TokenAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(30*time.Second),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	if claims.Subject == "" {
		return nil, fmt.Errorf("%w: no subject", ErrBadToken)
	}
	return &claims, nil
}
