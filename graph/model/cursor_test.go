package model

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"

	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
)

// Clients keep cursors and send them back, across releases: ours must be
// entgql's, byte for byte, and read back as entgql reads them.
func TestCursorIsEntgqls(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 300)
	for i, c := range []entgql.Cursor[pulid.ID]{
		{ID: "cnv01JEXAMPLE0000000000000000"},
		{ID: "cnv01JEXAMPLE0000000000000001", Value: ent.Value(time.Date(2026, 12, 7, 17, 0, 0, 123456789, time.UTC).Format(time.RFC3339Nano))},
		{ID: "msg01JEXAMPLE0000000000000002", Value: ent.Value(int64(42))},
		{ID: "whe01JEXAMPLE0000000000000003", Value: ent.Value(string(long))},
		{},
	} {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			var want, got bytes.Buffer
			c.MarshalGQL(&want)
			MarshalCursor(c).MarshalGQL(&got)
			if got.String() != want.String() {
				t.Fatalf("cursor %+v: wrote %s, entgql writes %s", c, got.String(), want.String())
			}
			s := got.String()
			back, err := UnmarshalCursor(s[1 : len(s)-1])
			if err != nil {
				t.Fatal(err)
			}
			var again bytes.Buffer
			back.MarshalGQL(&again)
			if again.String() != want.String() {
				t.Fatalf("read back as %+v, which writes %s", back, again.String())
			}
		})
	}
	if _, err := UnmarshalCursor("not base64!"); err == nil {
		t.Fatal("a cursor that is not base64 was read")
	}
}
