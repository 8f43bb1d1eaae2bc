// Package platform holds what every platform adapter (platform/telegram,
// platform/facebook, platform/whatsapp, platform/zalo) shares: the few error
// kinds callers act on, and an HTTP helper that applies timeouts and keeps
// tokens out of errors and logs.
package platform

import (
	"errors"
	"fmt"
	"time"
)

// Kind is what a caller can do about a platform error.
type Kind int

// The kinds.
const (
	// Permanent: the request itself is wrong (bad parameter, unknown chat); retrying will not help.
	Permanent Kind = iota
	// Auth: the token is invalid, expired or lacks permissions; the connection needs reconnecting.
	Auth
	// RateLimited: the platform asks to slow down; retry after RetryAfter.
	RateLimited
	// Transient: a network failure, timeout or server error; retry with backoff.
	Transient
)

// Passing reports whether trying again later may succeed: the platform was
// unreachable, failing, or asked to slow down.
func (k Kind) Passing() bool { return k == Transient || k == RateLimited }

func (k Kind) String() string {
	switch k {
	case Auth:
		return "auth"
	case RateLimited:
		return "rate_limited"
	case Transient:
		return "transient"
	default:
		return "permanent"
	}
}

// Error is a failed platform call, classified. Message is the platform's own
// description (never containing our tokens); Code and Subcode are its numbers.
type Error struct {
	Platform   string
	Op         string // the API method, e.g. "setWebhook", "GET /me/accounts"
	Kind       Kind
	Status     int // HTTP status, 0 when the request never got an answer
	Code       int
	Subcode    int
	Message    string
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s %s: %s", e.Platform, e.Op, e.Message)
	if e.Code != 0 {
		s += fmt.Sprintf(" (code %d", e.Code)
		if e.Subcode != 0 {
			s += fmt.Sprintf(", subcode %d", e.Subcode)
		}
		s += ")"
	}
	return s
}

// KindOf returns the kind of a platform error; errors that are not platform
// errors (context cancellation, our own bugs) count as Transient.
func KindOf(err error) Kind {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return Transient
}

// IsAuth reports whether err says the connection's token is dead or lacks permissions.
func IsAuth(err error) bool {
	var pe *Error
	return errors.As(err, &pe) && pe.Kind == Auth
}
