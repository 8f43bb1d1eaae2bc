package events_test

import (
	"testing"

	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
	"github.com/switchboard-chat/switchboard/internal/testkit"
)

// A resume from a cursor the retention trimmed is refused as too far
// behind (Behind reports the limit), since events after it may be gone;
// one from a cursor still in the log counts what follows it.
func TestBehindATrimmedCursor(t *testing.T) {
	f := newFixture(t)
	f.change(t, 4)
	db := dbtest.Open(t)
	// Read sees a transaction's events once every older transaction of the
	// cluster has ended; other packages' tests run beside this one.
	var rows []events.Row
	testkit.Eventually(t, "the four events are readable", func() bool {
		var err error
		rows, err = events.Read(sys(), db, events.Cursor{}, f.conn.CampaignID, 10)
		return err == nil && len(rows) == 4
	})
	spec := events.Spec{Campaigns: []pulid.ID{f.conn.CampaignID}}
	if n, err := f.hub.Behind(sys(), rows[0].Cursor, spec, 100); err != nil || n != 3 {
		t.Fatalf("before trimming: %d behind (%v), want 3", n, err)
	}
	if _, err := db.ExecContext(sys(), `DELETE FROM domain_events WHERE id <= $1`, rows[1].Cursor.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := f.hub.Behind(sys(), rows[0].Cursor, spec, 100); err != nil || n != 100 {
		t.Fatalf("a trimmed cursor: %d behind (%v), want the limit, 100", n, err)
	}
	if n, err := f.hub.Behind(sys(), rows[2].Cursor, spec, 100); err != nil || n != 1 {
		t.Fatalf("a cursor still in the log: %d behind (%v), want 1", n, err)
	}
}
