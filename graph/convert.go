package graph

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
