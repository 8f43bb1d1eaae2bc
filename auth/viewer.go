// Package auth authenticates people: passwords, JWTs, the viewer carried in the
// request context, and the accounts (users) themselves.
package auth

import (
	"context"

	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
)

// Viewer is the authenticated user behind a request.
type Viewer struct {
	UserID pulid.ID
	Admin  bool
	// ExpiresAt is the token's expiry, in Unix seconds; long-lived sockets close then.
	ExpiresAt int64
	// Session is the token's id (a password change keeps that session),
	// Epoch the user's session epoch it was issued in.
	Session string
	Epoch   int
	// AccessVersion is the user's access version when the viewer was loaded;
	// a different one means roles or memberships changed since.
	AccessVersion int
}

type viewerKey struct{}

// WithViewer returns ctx carrying v.
func WithViewer(ctx context.Context, v *Viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

// FromContext returns the viewer of ctx, or nil when the request is anonymous.
func FromContext(ctx context.Context) *Viewer {
	v, _ := ctx.Value(viewerKey{}).(*Viewer)
	return v
}
