package events_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
	"github.com/switchboard-chat/switchboard/internal/testkit"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func sys() context.Context { return testkit.Sys() }

type fixture struct {
	client *ent.Client
	hub    *events.Hub
	conn   *ent.Connection
}

func newFixture(t testing.TB) *fixture { return newFixturePolling(t, 20*time.Millisecond) }

// newFixturePolling is newFixture with the hub polling every poll.
func newFixturePolling(t testing.TB, poll time.Duration) *fixture {
	client := dbtest.Client(t, nil)
	hub := events.NewHub(dbtest.Open(t), client, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { hub.Run(ctx, dbtest.URL(t), poll); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	c := client.Campaign.Create().SetName("events").SaveX(sys())
	conn := client.Connection.Create().SetCampaign(c).SetPlatform(schematype.PlatformTelegram).
		SetExternalID(fmt.Sprint(time.Now().UnixNano())).SetConnectedAt(time.Now()).SaveX(sys())
	return &fixture{client: client, hub: hub, conn: conn}
}

// change appends n connection events in one transaction each, like real changes.
func (f *fixture) change(t testing.TB, n int) {
	for range n {
		tx, err := f.client.Tx(sys())
		if err != nil {
			t.Fatal(err)
		}
		if err := events.Append(sys(), tx.Client(), events.Event{Type: events.ConnectionUpdated, CampaignID: f.conn.CampaignID, EntityID: f.conn.ID}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		f.hub.Committed()
	}
}

func (f *fixture) subscribe(t testing.TB, ctx context.Context, after *events.Cursor, buffer int) <-chan *events.Delivery {
	ch, err := f.hub.Subscribe(ctx, events.Spec{After: after, Campaigns: []pulid.ID{f.conn.CampaignID}, Buffer: buffer})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func receive(t testing.TB, ch <-chan *events.Delivery, n int) []*events.Delivery {
	t.Helper()
	out, err := collect(ch, n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// collect reads n deliveries; it never fails a test itself, so any
// goroutine may call it.
func collect(ch <-chan *events.Delivery, n int) ([]*events.Delivery, error) {
	var out []*events.Delivery
	timeout := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case d, ok := <-ch:
			if !ok {
				return out, fmt.Errorf("stream closed after %d of %d events", len(out), n)
			}
			out = append(out, d)
		case <-timeout:
			return out, fmt.Errorf("received %d of %d events", len(out), n)
		}
	}
	return out, nil
}

func ordered(t *testing.T, ds []*events.Delivery) {
	t.Helper()
	for i := 1; i < len(ds); i++ {
		if !ds[i-1].Cursor.Less(ds[i].Cursor) {
			t.Fatalf("event %d (%v) does not follow %v", i, ds[i].Cursor, ds[i-1].Cursor)
		}
	}
}

// A client that disconnects, misses N events and resumes with the last
// cursor it saw gets exactly those N, in order, then live events.
func TestResumeAfterDisconnect(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	first := receive(t, func() <-chan *events.Delivery { ch := f.subscribe(t, ctx, nil, 0); f.change(t, 2); return ch }(), 2)
	cancel() // the socket blinks
	last := first[1].Cursor

	f.change(t, 5) // missed while away
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	ch := f.subscribe(t, ctx2, &last, 0)
	missed := receive(t, ch, 5)
	ordered(t, append([]*events.Delivery{first[1]}, missed...))
	f.change(t, 2) // live again
	live := receive(t, ch, 2)
	ordered(t, append(missed, live...))
	// No extra event: the next one delivered is the next one made.
	f.change(t, 1)
	if next := receive(t, ch, 1)[0]; !live[1].Cursor.Less(next.Cursor) {
		t.Fatalf("an extra event arrived: %v after %v", next.Cursor, live[1].Cursor)
	}
	for _, d := range append(missed, live...) {
		if d.Connection == nil || d.Connection.ID != f.conn.ID || d.Type != events.ConnectionUpdated {
			t.Fatalf("delivery without its entity: %+v", d)
		}
	}
}

// A subscriber that stops reading does not hold up others; when it reads
// again it gets everything, in order, from the log.
func TestStalledSubscriberDoesNotDelayOthers(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stalled := f.subscribe(t, ctx, nil, 4) // tiny buffer: it overflows at once
	healthy := f.subscribe(t, ctx, nil, 0)
	const n = 60
	done := make(chan []*events.Delivery)
	var err error
	go func() {
		var got []*events.Delivery
		got, err = collect(healthy, n)
		done <- got
	}()
	f.change(t, n)
	select {
	case got := <-done:
		if err != nil {
			t.Fatal(err)
		}
		ordered(t, got)
	case <-time.After(10 * time.Second):
		t.Fatal("the healthy subscriber was held up by the stalled one")
	}
	got := receive(t, stalled, n)
	ordered(t, got)
}

// BenchmarkFanOut delivers one event to 1,000 subscribers and waits until
// every one has it.
func BenchmarkFanOut(b *testing.B) {
	f := newFixture(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const subscribers = 1000
	var wg sync.WaitGroup
	arrived := make(chan struct{}, subscribers)
	for range subscribers {
		ch := f.subscribe(b, ctx, nil, 0)
		wg.Go(func() {
			for range ch {
				arrived <- struct{}{}
			}
		})
	}
	b.ResetTimer()
	for range b.N {
		f.change(b, 1)
		for range subscribers {
			<-arrived
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(subscribers*b.N)/b.Elapsed().Seconds(), "deliveries/s")
	cancel()
	wg.Wait()
}

// A subscriber takes the events of the campaigns its spec lists, of every
// campaign only when the spec says so, and of none when the list is empty
// (a member of no campaign): an empty list never widens to all.
func TestASpecTakesItsCampaignsOnly(t *testing.T) {
	f := newFixture(t)
	other := f.client.Campaign.Create().SetName("other").SaveX(sys())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	subscribe := func(spec events.Spec) <-chan *events.Delivery {
		ch, err := f.hub.Subscribe(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	none := subscribe(events.Spec{Campaigns: []pulid.ID{}})
	nilList := subscribe(events.Spec{})
	all := subscribe(events.Spec{AllCampaigns: true})
	listed := subscribe(events.Spec{Campaigns: []pulid.ID{"zz-not-a-campaign", other.ID, f.conn.CampaignID, other.ID}})
	theirs := subscribe(events.Spec{Campaigns: []pulid.ID{other.ID}})

	f.change(t, 1)
	got := receive(t, all, 1)
	if got[0].CampaignID != f.conn.CampaignID {
		t.Fatalf("the administrator's stream got campaign %s, want %s", got[0].CampaignID, f.conn.CampaignID)
	}
	if d := receive(t, listed, 1)[0]; d.Cursor != got[0].Cursor {
		t.Fatalf("a spec listing the campaign among others got %v, want %v", d.Cursor, got[0].Cursor)
	}
	// The hub handed the event to every subscriber it matched before the
	// two above received it; these had nothing handed to them.
	for name, ch := range map[string]<-chan *events.Delivery{"an empty list": none, "no list": nilList, "another campaign's": theirs} {
		select {
		case d := <-ch:
			t.Fatalf("%s received campaign %s's event", name, d.CampaignID)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// An event committed while an older transaction was still running sits
// behind the log's horizon until that transaction ends. When it ends, the
// event goes out at once, also when that transaction appended no event and
// so woke no hub (a login, a settings change, a journal insert): the hub
// does not wait for the next commit or its poll, which at a quiet moment
// is a second away.
func TestAnEventHeldBehindAnOlderTransactionGoesOutWhenItEnds(t *testing.T) {
	f := newFixturePolling(t, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := f.subscribe(t, ctx, nil, 0)
	older, err := f.client.Tx(sys())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = older.Rollback() }()
	if _, err := older.ExecContext(sys(), `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	f.change(t, 1) // committed, and the hub told
	select {
	case d := <-ch:
		t.Fatalf("event %v went out past a transaction older than it, still running", d.Cursor)
	case <-time.After(300 * time.Millisecond):
	}
	if err := older.Commit(); err != nil { // no event, no wake-up
		t.Fatal(err)
	}
	receive(t, ch, 1)
}
