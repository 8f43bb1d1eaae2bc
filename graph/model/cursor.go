package model

import (
	"encoding/base64"
	"io"
	"sync"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
)

// MarshalCursor writes a page cursor exactly as entgql's Cursor.MarshalGQL
// does (msgpack, then unpadded standard base64, quoted), without its
// base64.NewEncoder, which allocates a kilobyte of buffer for each cursor:
// an inbox page has one per edge, and they were 6 % of the bytes the page
// allocated (PERFORMANCE.md item 33).
func MarshalCursor(c entgql.Cursor[pulid.ID]) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		raw, err := msgpack.Marshal(c)
		if err != nil {
			// entgql writes what it has and ignores the error too: a cursor
			// holds an id and a scalar value, which always encode.
			raw = nil
		}
		buf := cursorBufs.Get().(*[]byte)
		out := append((*buf)[:0], '"')
		out = base64.RawStdEncoding.AppendEncode(out, raw)
		out = append(out, '"')
		_, _ = w.Write(out)
		*buf = out
		cursorBufs.Put(buf)
	})
}

var cursorBufs = sync.Pool{New: func() any { b := make([]byte, 0, 128); return &b }}

// UnmarshalCursor reads a cursor as entgql does.
func UnmarshalCursor(v any) (entgql.Cursor[pulid.ID], error) {
	var c entgql.Cursor[pulid.ID]
	err := c.UnmarshalGQL(v)
	return c, err
}
