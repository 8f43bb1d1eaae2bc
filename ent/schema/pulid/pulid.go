// Package pulid implements the identifiers of every Switchboard entity: a short
// type prefix, an underscore and a ULID (for example "cmp_01JD3YQ4Z9S8V6T2K1M0N7P5QR").
//
// The prefix lets node(id:) find the right table without a lookup, the ULID part
// sorts by creation time, and the whole string is opaque to API clients.
package pulid

import (
	"crypto/rand"
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ID is a prefixed ULID.
type ID string

// crockford is the ULID alphabet: no I, L, O or U, so ids survive being read aloud.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var (
	mu       sync.Mutex
	lastMS   uint64
	lastRand [10]byte
)

// New returns a new ID with the given prefix. Within one process, ids made in the
// same millisecond are strictly increasing (monotonic ULID), so creation order and
// id order agree.
func New(prefix string) ID {
	ms := uint64(time.Now().UnixMilli())
	mu.Lock()
	if ms <= lastMS {
		ms = lastMS
		increment(&lastRand)
	} else {
		lastMS = ms
		if _, err := rand.Read(lastRand[:]); err != nil {
			mu.Unlock()
			panic(fmt.Sprintf("pulid: reading randomness: %v", err))
		}
		// Leave headroom so that increments within one millisecond never overflow.
		lastRand[0] &= 0x7f
	}
	entropy := lastRand
	mu.Unlock()
	return ID(prefix + "_" + encode(ms, entropy))
}

func increment(b *[10]byte) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			return
		}
	}
}

// encode renders 48 bits of milliseconds and 80 bits of entropy as 26 base32 characters.
func encode(ms uint64, entropy [10]byte) string {
	var raw [16]byte
	binary.BigEndian.PutUint16(raw[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(raw[2:6], uint32(ms))
	copy(raw[6:], entropy[:])
	hi := binary.BigEndian.Uint64(raw[0:8])
	lo := binary.BigEndian.Uint64(raw[8:16])
	var out [26]byte
	// 128 bits in 26 groups of 5 bits, the first group holding only 3 bits.
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&0x1f]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// Prefix returns the type prefix of the id, or "" when the id has none.
func (id ID) Prefix() string {
	p, _, ok := strings.Cut(string(id), "_")
	if !ok {
		return ""
	}
	return p
}

// String implements fmt.Stringer.
func (id ID) String() string { return string(id) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (id *ID) UnmarshalGQL(v any) error {
	switch s := v.(type) {
	case string:
		*id = ID(s)
	case ID:
		*id = s
	default:
		return fmt.Errorf("an ID must be a string, got %T", v)
	}
	return nil
}

// MarshalGQL implements graphql.Marshaler.
func (id ID) MarshalGQL(w io.Writer) {
	_, _ = io.WriteString(w, strconv.Quote(string(id)))
}

// Scan implements sql.Scanner.
func (id *ID) Scan(src any) error {
	switch v := src.(type) {
	case string:
		*id = ID(v)
	case []byte:
		*id = ID(v)
	case nil:
		return fmt.Errorf("pulid: NULL is not an ID")
	default:
		return fmt.Errorf("pulid: cannot scan %T", src)
	}
	return nil
}

// Value implements driver.Valuer.
func (id ID) Value() (driver.Value, error) { return string(id), nil }
