// Package apperr holds the error kinds every edge (GraphQL, webhooks) maps to
// its own status codes. Domain code wraps these; edges test with errors.Is/As.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel kinds. Wrap them with context: fmt.Errorf("campaign %s: %w", id, ErrNotFound).
var (
	// ErrUnauthenticated means no valid credentials came with the request.
	ErrUnauthenticated = errors.New("authentication required")
	// ErrForbidden means the caller is known but lacks the role for the action.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound means the object does not exist or is not visible to the caller.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the action collides with existing state (a duplicate, a taken account).
	ErrConflict = errors.New("conflict")
	// ErrUpstream means a messaging platform failed or refused a call we needed.
	ErrUpstream = errors.New("platform error")
	// ErrFailedPrecondition means the object's state forbids the operation
	// (a disconnected channel, a closed messaging window, a message already sent).
	ErrFailedPrecondition = errors.New("failed precondition")
)

// InputError is a problem with one input field, reported back with the field's path.
// Kind, when set, reports a different error class for the field (ErrConflict
// for "this email is taken"); the field is still named.
type InputError struct {
	Field   string
	Message string
	Kind    error
}

func (e *InputError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Message) }

// Unwrap exposes Kind to errors.Is.
func (e *InputError) Unwrap() error { return e.Kind }

// Input returns an InputError for field.
func Input(field, format string, args ...any) error {
	return &InputError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Error is an error of one of the kinds above with a message written for the
// user (safe to show: no internals, no secrets).
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap exposes Kind to errors.Is.
func (e *Error) Unwrap() error { return e.Kind }

// Conflictf returns an ErrConflict with a message for the user.
func Conflictf(format string, args ...any) error {
	return &Error{Kind: ErrConflict, Msg: fmt.Sprintf(format, args...)}
}

// Forbiddenf returns an ErrForbidden with a message for the user.
func Forbiddenf(format string, args ...any) error {
	return &Error{Kind: ErrForbidden, Msg: fmt.Sprintf(format, args...)}
}

// NotFoundf returns an ErrNotFound with a message for the user.
func NotFoundf(format string, args ...any) error {
	return &Error{Kind: ErrNotFound, Msg: fmt.Sprintf(format, args...)}
}

// Unauthenticatedf returns an ErrUnauthenticated with a message for the user.
func Unauthenticatedf(format string, args ...any) error {
	return &Error{Kind: ErrUnauthenticated, Msg: fmt.Sprintf(format, args...)}
}

// Preconditionf returns an ErrFailedPrecondition whose message says why.
func Preconditionf(format string, args ...any) error {
	return &Error{Kind: ErrFailedPrecondition, Msg: fmt.Sprintf(format, args...)}
}

// Upstreamf returns an ErrUpstream with a message for the user.
func Upstreamf(format string, args ...any) error {
	return &Error{Kind: ErrUpstream, Msg: fmt.Sprintf(format, args...)}
}

// ErrTooManyRequests means the caller is being slowed down (a rate limit, a
// sign-in lockout): the request was refused without being looked at, and
// trying again before RetryAfter has passed is refused the same way.
type ErrTooManyRequests struct {
	RetryAfter time.Duration
	Msg        string
}

func (e *ErrTooManyRequests) Error() string {
	if e.Msg == "" {
		return "too many requests"
	}
	return e.Msg
}

// RetryAfterSeconds is RetryAfter in whole seconds, rounded up and at least
// 1, as Retry-After headers and clients count it: a client told 0 would
// retry at once and be refused again.
func (e *ErrTooManyRequests) RetryAfterSeconds() int {
	s := int((e.RetryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}

// TooManyRequestsf returns an ErrTooManyRequests with a message for the user.
func TooManyRequestsf(retryAfter time.Duration, format string, args ...any) error {
	return &ErrTooManyRequests{RetryAfter: retryAfter, Msg: fmt.Sprintf(format, args...)}
}
