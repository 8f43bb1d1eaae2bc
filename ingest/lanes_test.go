package ingest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/webhookevent"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// A claim takes the lanes of the oldest due events, no more than its share,
// and leaves the rest for other workers: a claim that locked every lane
// with work would have the other workers find nothing, one at a time again.
func TestAClaimTakesItsShareOfLanes(t *testing.T) {
	ctx := system(context.Background())
	client := dbtest.Client(t, nil)
	c := client.Campaign.Create().SetName("lanes").SaveX(ctx)
	conn := client.Connection.Create().SetCampaign(c).SetPlatform(schematype.PlatformTelegram).
		SetExternalID(fmt.Sprint(time.Now().UnixNano())).SetConnectedAt(time.Now()).SaveX(ctx)
	// Events in lanes 5, 3, 9, 3, 12, 1 (in journal order): the oldest
	// lanes are 5, 3 and 9.
	order := []int16{5, 3, 9, 3, 12, 1}
	for i, lane := range order {
		client.WebhookEvent.Create().SetPlatform(schematype.PlatformTelegram).SetConnectionID(conn.ID).SetCampaignID(c.ID).
			SetEventType("message").SetDedupKey(fmt.Sprint("update:", i)).SetPayload([]byte("{}")).SetLane(lane + Lanes).
			ExecX(ctx)
	}

	tx, err := client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	evs, err := tx.WebhookEvent.Query().Where(webhookevent.ConnectionID(conn.ID), lanes(time.Now(), 3)).
		Order(webhookevent.ByID()).All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []int16
	for _, ev := range evs {
		got = append(got, ev.Lane-Lanes)
	}
	if want := []int16{5, 3, 9, 3}; !slices.Equal(got, want) {
		t.Errorf("a claim of three lanes got events of lanes %v, want %v", got, want)
	}
	rows, err := tx.QueryContext(ctx, `SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND pid = pg_backend_pid() ORDER BY objid`, LaneLocks)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var held []int
	for rows.Next() {
		var l int
		if err := rows.Scan(&l); err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
	}
	if want := []int{3, 5, 9}; !slices.Equal(held, want) {
		t.Errorf("the claim holds lanes %v, want %v", held, want)
	}
}
