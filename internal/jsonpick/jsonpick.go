// Package jsonpick reads a value out of JSON decoded into any, for the
// platform fakes and the tests that look at bodies of whatever shape the
// platform gave them.
package jsonpick

// Pick follows keys through nested objects of v and returns the value
// found, or nil as soon as a step is not an object.
func Pick(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
