package ingest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/webhookevent"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// A claim takes the lanes of the oldest due events that no other
// transaction holds, until they cover a batch: a light load is one batch,
// and under a backlog another worker's claim finds the next lanes free
// rather than waiting for the first.
func TestAClaimTakesLanesThatCoverABatch(t *testing.T) {
	ctx := system(context.Background())
	client := dbtest.Client(t, nil)
	c := client.Campaign.Create().SetName("lanes").SaveX(ctx)
	conn := client.Connection.Create().SetCampaign(c).SetPlatform(schematype.PlatformTelegram).
		SetExternalID(fmt.Sprint(time.Now().UnixNano())).SetConnectedAt(time.Now()).SaveX(ctx)
	journal := func(lanes ...int16) {
		var evs []*ent.WebhookEventCreate
		for _, lane := range lanes {
			evs = append(evs, client.WebhookEvent.Create().SetPlatform(schematype.PlatformTelegram).SetConnectionID(conn.ID).
				SetCampaignID(c.ID).SetEventType("message").SetDedupKey(pulid.New("key").String()).SetPayload([]byte("{}")).
				SetLane(lane))
		}
		client.WebhookEvent.CreateBulk(evs...).ExecX(ctx)
	}
	begin := func() *ent.Tx {
		tx, err := client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tx.Rollback() })
		return tx
	}
	// claim returns the lanes of the events a claim in tx got, in id
	// order, and the lanes tx holds.
	claim := func(tx *ent.Tx) (got []int16, held []int) {
		evs, err := tx.WebhookEvent.Query().Where(append(queued(), webhookevent.ConnectionID(conn.ID), lanes(queued()))...).
			Order(webhookevent.ByID()).Limit(BatchSize).ForUpdate(entsql.WithLockAction(entsql.SkipLocked)).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			got = append(got, ev.Lane)
		}
		rows, err := tx.QueryContext(ctx, `SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND pid = pg_backend_pid() ORDER BY objid`, LaneLocks)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var l int
			if err := rows.Scan(&l); err != nil {
				t.Fatal(err)
			}
			held = append(held, l)
		}
		return got, held
	}
	expect := func(what string, got []int16, held []int, wantGot []int16, wantHeld []int) {
		t.Helper()
		if !slices.Equal(got, wantGot) || !slices.Equal(held, wantHeld) {
			t.Errorf("%s: a claim got events of lanes %v holding lanes %v; want %v holding %v", what, got, held, wantGot, wantHeld)
		}
	}

	journal(5, 3, 9, 3, 12, 1)
	tx := begin()
	got, held := claim(tx)
	expect("six events waiting", got, held, []int16{5, 3, 9, 3, 12, 1}, []int{1, 3, 5, 9, 12})
	_ = tx.Rollback()

	other := begin()
	if _, err := other.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1, 3)", LaneLocks); err != nil {
		t.Fatal(err)
	}
	tx = begin()
	got, held = claim(tx)
	expect("lane 3 held by another", got, held, []int16{5, 9, 12, 1}, []int{1, 5, 9, 12})
	_ = tx.Rollback()
	_ = other.Rollback()
	client.WebhookEvent.Update().SetProcessedAt(time.Now()).ExecX(ctx)

	// 70 events of one customer, then two of others: the first claim's
	// batch is all lane 7, and a second claim meanwhile takes the others.
	journal(append(slices.Repeat([]int16{7}, 70), 5, 3)...)
	got, held = claim(begin())
	expect("a backlog, first claim", got, held, slices.Repeat([]int16{7}, BatchSize), []int{7})
	got, held = claim(begin())
	expect("a backlog, second claim", got, held, []int16{5, 3}, []int{3, 5})
}
