package inbound

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strings"
	"unicode/utf8"
)

// What a platform sends is valid JSON, but not always text PostgreSQL
// stores: it refuses NUL in text columns, "\u0000" in jsonb, invalid UTF-8
// anywhere, and index entries over about 2.7 KB. A correctly signed body with
// any of these must still become a stored message (or one clear rejection),
// never a batch that fails again and again; so everything stored as text
// passes through Text, and everything indexed through Key.

// MaxKey is the longest platform id or deduplication key stored as it is.
const MaxKey = 255

// Text returns s as PostgreSQL stores it: NUL removed, invalid UTF-8 replaced.
func Text(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// Key returns an id or key as Text does, and one longer than MaxKey bytes as
// its beginning and the SHA-256 of the whole: it fits any index, and the
// same key always gives the same result, so deduplication and lookups by
// platform id keep working.
func Key(s string) string {
	s = Text(s)
	if len(s) <= MaxKey {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	const suffix = 1 + 2*sha256.Size // "~" and the hex digest
	head := s[:MaxKey-suffix]
	for !utf8.ValidString(head) { // do not cut a character in two
		head = head[:len(head)-1]
	}
	return head + "~" + hex.EncodeToString(sum[:])
}

// MakeStorable applies Text to every string the event carries and Key to
// the ids that are stored in unique indexes (the customer's id, message ids).
func (e *Event) MakeStorable() {
	textAll(reflect.ValueOf(e).Elem())
	e.Contact.ExternalID = Key(e.Contact.ExternalID)
	if e.Message != nil {
		e.Message.ExternalID = Key(e.Message.ExternalID)
	}
	if e.Receipt != nil {
		for i, id := range e.Receipt.MessageIDs {
			e.Receipt.MessageIDs[i] = Key(id)
		}
	}
}

// textAll walks a value and applies Text to every settable string in it, so
// that a field added to the event types later is covered too.
func textAll(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			v.SetString(Text(v.String()))
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			textAll(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				textAll(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			textAll(v.Index(i))
		}
	}
}
