package graph

import "github.com/switchboard-chat/switchboard/ent"

// deref returns the value of an optional input, or its zero value.
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// nonEmpty turns "" into null for optional string fields.
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// one returns the only connection a connect made.
func one(conns []*ent.Connection, err error) (*ent.Connection, error) {
	if err != nil {
		return nil, err
	}
	return conns[0], nil
}
