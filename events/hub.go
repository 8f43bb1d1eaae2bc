package events

import (
	"context"
	"database/sql"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/call"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/conversation"
	"github.com/switchboard-chat/switchboard/ent/message"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/tracing"
)

// Channel is the PostgreSQL notification channel replicas wake each other on.
// Notifications carry no payload: the log is the only source of events.
const Channel = "switchboard_events"

// Delivery is an event with the entity it is about, loaded once for every
// subscriber.
type Delivery struct {
	Row
	Message      *ent.Message
	Conversation *ent.Conversation
	Connection   *ent.Connection
	Call         *ent.Call
	// Trace is the event's fan-out span on this replica, the parent of
	// what subscribers do with it (invalid when the event is untraced).
	Trace trace.SpanContext
}

// empty reports a delivery that only moves the position: its entity was
// deleted since, so there is nothing to show.
func (d *Delivery) empty() bool {
	return d.Message == nil && d.Conversation == nil && d.Connection == nil && d.Call == nil
}

// Spec says which events a subscriber wants.
type Spec struct {
	// After, when set, replays every event after it before going live.
	After *Cursor
	// AllCampaigns takes every campaign's events (administrators);
	// otherwise only those of Campaigns, the campaigns the subscriber may
	// see (none when it is empty).
	AllCampaigns bool
	Campaigns    []pulid.ID
	// ConversationID, when set, keeps only that conversation's events.
	ConversationID pulid.ID
	// Types, when set, keeps only these types.
	Types []Type
	// Buffer is how many events may wait for a slow subscriber before it is
	// switched to reading the log itself (default DefaultBuffer).
	Buffer int
}

// Sets are slices rather than maps: every idle subscription holds its
// spec for hours, and a map of one entry costs some hundred bytes where a
// slice costs sixteen. Campaigns are kept sorted (by stream) and searched.
func (s *Spec) match(d *Delivery) bool {
	return (len(s.Types) == 0 || slices.Contains(s.Types, d.Type)) &&
		(s.AllCampaigns || s.hasCampaign(d.CampaignID)) &&
		(s.ConversationID == "" || s.ConversationID == d.ConversationID)
}

func (s *Spec) hasCampaign(id pulid.ID) bool {
	_, ok := slices.BinarySearch(s.Campaigns, id)
	return ok
}

// Hub fans the log out to this replica's subscribers. Publishing never
// blocks: each subscriber has a bounded buffer, and one that falls behind is
// detached and catches up from the log on its own, without a gap and
// without holding anyone else up.
type Hub struct {
	db     *sql.DB
	client *ent.Client
	logger *slog.Logger
	wake   chan struct{}
	notify chan struct{}
	ready  chan struct{}

	mu   sync.Mutex
	head Cursor
	subs map[*sub]struct{}
	// The same subscribers by campaign, and those of every campaign
	// (administrators): an event is matched against its campaign's
	// subscribers only, not against every socket of the replica.
	byCampaign  map[pulid.ID]map[*sub]struct{}
	anyCampaign map[*sub]struct{}
}

type sub struct {
	spec *Spec
	// live holds, in order, the deliveries handed to the subscriber and
	// not yet taken, at most spec.Buffer. It is a slice made when needed
	// and dropped when emptied, not a buffered channel, which an idle
	// subscriber would hold at its full size for hours.
	mu   sync.Mutex
	live []*Delivery
	// lagged is set when the hub detached the subscriber for falling
	// behind: it catches up from the log, then attaches again.
	lagged atomic.Bool
	// wake runs the subscriber's follower (set before it is attached).
	wake func()
}

// offer queues d unless the subscriber already holds its buffer's worth.
func (s *sub) offer(d *Delivery) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.live) >= s.spec.Buffer {
		return false
	}
	s.live = append(s.live, d)
	return true
}

// take returns the oldest queued delivery, if any.
func (s *sub) take() (*Delivery, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.live) == 0 {
		return nil, false
	}
	d := s.live[0]
	s.live[0] = nil
	if s.live = s.live[1:]; len(s.live) == 0 {
		s.live = nil
	}
	return d, true
}

func (s *sub) queued() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live) > 0
}

// NewHub returns a hub; Run starts it.
func NewHub(db *sql.DB, client *ent.Client, logger *slog.Logger) *Hub {
	return &Hub{db: db, client: client, logger: logger, wake: make(chan struct{}, 1), notify: make(chan struct{}, 1),
		ready: make(chan struct{}), subs: map[*sub]struct{}{}, byCampaign: map[pulid.ID]map[*sub]struct{}{}, anyCampaign: map[*sub]struct{}{}}
}

// Committed tells the hub that a transaction appending events committed:
// this replica reads the log at once, and the others are notified.
func (h *Hub) Committed() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
	select {
	case h.notify <- struct{}{}:
	default:
	}
}

// Run reads and fans out the log until ctx ends. dsn is used for the
// LISTEN connection (empty: no cross-replica wake-ups, polling only).
func (h *Hub) Run(ctx context.Context, dsn string, poll time.Duration) {
	for {
		head, err := Head(ctx, h.db)
		if err == nil {
			h.mu.Lock()
			h.head = head
			h.mu.Unlock()
			break
		}
		h.logger.ErrorContext(ctx, "reading the event log head", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	close(h.ready)
	var wg sync.WaitGroup
	wg.Go(func() { h.notifier(ctx) })
	if dsn != "" {
		wg.Go(func() { h.listen(ctx, dsn) })
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	// again is the wait before reading again while committed events sit
	// behind an older transaction: nothing may tell the hub when that one
	// ends (a transaction that appends no event wakes no hub), so it looks
	// again soon, then less often, until they are read.
	var again time.Duration
	for {
		var retry <-chan time.Time
		if h.advance(ctx) {
			again = min(max(2*again, time.Millisecond), 250*time.Millisecond)
			retry = time.After(again)
		} else {
			again = 0
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-h.wake:
		case <-t.C:
		case <-retry:
		}
	}
}

// advance reads everything new in the log and hands it to subscribers. It
// reports whether committed events wait behind an older transaction.
func (h *Hub) advance(ctx context.Context) (waiting bool) {
	for ctx.Err() == nil {
		h.mu.Lock()
		from := h.head
		h.mu.Unlock()
		var began time.Time
		if tracing.On() {
			began = time.Now()
		}
		rows, behind, err := readAhead(ctx, h.db, from, 500)
		if err != nil {
			if ctx.Err() == nil { // shutting down is not an error
				h.logger.ErrorContext(ctx, "reading the event log", "err", err)
			}
			return false
		}
		waiting = behind
		if len(rows) == 0 {
			return waiting
		}
		// Only what someone here subscribes to is loaded: a replica with
		// no subscriber of a campaign reads its events' positions and no
		// more.
		h.mu.Lock()
		var wanted, skipped []Row
		for _, r := range rows {
			if h.wanted(&Delivery{Row: r}) {
				wanted = append(wanted, r)
			} else {
				skipped = append(skipped, r)
			}
		}
		h.mu.Unlock()
		var ds []*Delivery
		if len(wanted) > 0 {
			if ds, err = h.load(ctx, wanted); err != nil {
				h.logger.ErrorContext(ctx, "loading event entities", "err", err)
				return false
			}
		}
		h.mu.Lock()
		// A subscriber that attached while the entities loaded may want an
		// event nobody wanted before: it was not loaded, so that
		// subscriber reads the log itself from its position, as one that
		// fell behind does.
		for _, r := range skipped {
			for _, set := range []map[*sub]struct{}{h.anyCampaign, h.byCampaign[r.CampaignID]} {
				for s := range set {
					if s.spec.match(&Delivery{Row: r}) {
						h.lag(s)
					}
				}
			}
		}
		for _, d := range ds {
			var span trace.Span
			if d.TraceParent != "" && tracing.On() {
				span = h.fanOut(ctx, d, began)
			}
			taken, lagged := h.deliver(d, h.anyCampaign)
			t, l := h.deliver(d, h.byCampaign[d.CampaignID])
			if span != nil {
				span.SetAttributes(attribute.Int("events.subscribers", taken+t), attribute.Int("events.lagged", lagged+l))
				span.End()
			}
		}
		h.head = rows[len(rows)-1].Cursor
		h.mu.Unlock()
	}
	return false
}

// load fetches the entities of rows, one query per type.
func (h *Hub) load(ctx context.Context, rows []Row) ([]*Delivery, error) {
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	ids := map[Type][]pulid.ID{}
	for _, r := range rows {
		t := r.Type
		if t == MessageUpdated {
			t = MessageAdded
		}
		ids[t] = append(ids[t], r.EntityID)
	}
	msgs, convs, conns, calls := map[pulid.ID]*ent.Message{}, map[pulid.ID]*ent.Conversation{}, map[pulid.ID]*ent.Connection{}, map[pulid.ID]*ent.Call{}
	if len(ids[MessageAdded]) > 0 {
		all, err := h.client.Message.Query().Where(message.IDIn(ids[MessageAdded]...)).All(ctx)
		if err != nil {
			return nil, err
		}
		for _, m := range all {
			msgs[m.ID] = m
		}
	}
	if len(ids[ConversationUpdated]) > 0 {
		all, err := h.client.Conversation.Query().Where(conversation.IDIn(ids[ConversationUpdated]...)).All(ctx)
		if err != nil {
			return nil, err
		}
		for _, c := range all {
			convs[c.ID] = c
		}
	}
	if len(ids[ConnectionUpdated]) > 0 {
		all, err := h.client.Connection.Query().Where(connection.IDIn(ids[ConnectionUpdated]...)).All(ctx)
		if err != nil {
			return nil, err
		}
		for _, c := range all {
			conns[c.ID] = c
		}
	}
	if len(ids[CallUpdated]) > 0 {
		all, err := h.client.Call.Query().Where(call.IDIn(ids[CallUpdated]...)).All(ctx)
		if err != nil {
			return nil, err
		}
		for _, c := range all {
			calls[c.ID] = c
		}
	}
	out := make([]*Delivery, 0, len(rows))
	for _, r := range rows {
		d := &Delivery{Row: r, Message: msgs[r.EntityID], Conversation: convs[r.EntityID], Connection: conns[r.EntityID], Call: calls[r.EntityID]}
		if d.empty() {
			continue // deleted since: nothing to show
		}
		out = append(out, d)
	}
	// Even skipped rows move the head: remember the last position.
	if len(out) == 0 || out[len(out)-1].Cursor != rows[len(rows)-1].Cursor {
		out = append(out, &Delivery{Row: Row{Cursor: rows[len(rows)-1].Cursor}})
	}
	return out, nil
}

// notifier sends coalesced wake-ups to the other replicas: at most one
// NOTIFY every few milliseconds, outside any write transaction.
func (h *Hub) notifier(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.notify:
		}
		if _, err := h.db.ExecContext(ctx, `SELECT pg_notify($1, '')`, Channel); err != nil && ctx.Err() == nil {
			h.logger.WarnContext(ctx, "notifying replicas", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// listen wakes the hub on other replicas' notifications, and after a
// reconnect (anything may have been missed: the read catches up).
func (h *Hub) listen(ctx context.Context, dsn string) {
	l := pq.NewListener(dsn, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		if err != nil && ctx.Err() == nil {
			h.logger.WarnContext(ctx, "event listener", "event", ev, "err", err)
		}
	})
	defer l.Close()
	if err := l.Listen(Channel); err != nil {
		h.logger.ErrorContext(ctx, "listening for events", "err", err)
	}
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.Notify: // a notification, or nil after a reconnect
			select {
			case h.wake <- struct{}{}:
			default:
			}
		case <-ping.C:
			go func() { _ = l.Ping() }()
		}
	}
}

// Subscribe streams the events spec asks for until ctx ends. With spec.After
// it first replays the log from there; the switch to live events has no gap
// and no duplicate.
func (h *Hub) Subscribe(ctx context.Context, spec Spec) (<-chan *Delivery, error) {
	return Stream(ctx, h, spec, func(d *Delivery) (*Delivery, bool) { return d, true })
}

// DefaultBuffer is how many deliveries may wait for a subscriber: a few
// journal batches' events (a batch commits about a dozen at 1,000 msg/s).
// A subscriber that falls further behind loses nothing, it reads the log,
// as after any lag. The memory is held only while deliveries wait.
const DefaultBuffer = 64

// Stream is Subscribe for a consumer that wants values of its own: each
// delivery goes through conv on the subscription's goroutine, which skips
// it when conv gives nil and ends the stream when conv says false.
func Stream[T any](ctx context.Context, h *Hub, spec Spec, conv func(*Delivery) (*T, bool)) (<-chan *T, error) {
	return stream(ctx, h, spec, conv, nil)
}

// StreamNotify is Stream for a consumer that does not wait on the channel:
// after each value is put in it, and after it is closed, ready is called on
// the subscription's goroutine. The channel holds one value, so the stream
// waits while the consumer has not taken the last. The websocket transport
// starts a drainer from ready, so that an idle subscription costs no
// goroutine at all (see follower).
func StreamNotify[T any](ctx context.Context, h *Hub, spec Spec, conv func(*Delivery) (*T, bool), ready func()) (<-chan *T, error) {
	return stream(ctx, h, spec, conv, ready)
}

func stream[T any](ctx context.Context, h *Hub, spec Spec, conv func(*Delivery) (*T, bool), ready func()) (<-chan *T, error) {
	if spec.Buffer <= 0 {
		spec.Buffer = DefaultBuffer
	}
	spec.Campaigns = slices.Compact(slices.Sorted(slices.Values(spec.Campaigns)))
	spec.Types = slices.Clip(slices.Clone(spec.Types))
	select {
	case <-h.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	out := make(chan *T)
	if ready != nil {
		out = make(chan *T, 1)
	}
	f := &follower{h: h, ctx: ctx, done: ctx.Done(), spec: &spec}
	f.emit = func(d *Delivery) bool {
		v, ok := conv(d)
		if !ok {
			return false
		}
		if v == nil {
			return true
		}
		select {
		case out <- v:
			if ready != nil {
				ready()
			}
			return true
		case <-f.done:
			return false
		}
	}
	f.end = func() {
		close(out)
		if ready != nil {
			ready()
		}
	}
	f.s, f.cursor = h.attach(&spec, f.wake)
	f.start = f.cursor
	context.AfterFunc(ctx, f.wake)
	f.wake() // the replay, if any
	return out, nil
}

// follower delivers one subscription's events: first the replay from
// spec.After, then what the hub hands it, catching up from the log after
// falling behind. It runs on a goroutine only while it has something to do
// (woken by the hub, or by the end of its context): an idle subscription,
// the common case of thousands of agents' sockets, costs no goroutine.
type follower struct {
	h   *Hub
	ctx context.Context
	// done is ctx.Done(), taken once: asking ctx walks its chain of
	// values (a GraphQL operation's are deep) on memory gone cold since the
	// last event, which a fan-out to a thousand followers paid per event
	// (6 % of the server's CPU in its profile).
	done <-chan struct{}
	spec *Spec
	s    *sub
	emit func(*Delivery) bool
	end  func()

	// scheduled is set while a goroutine runs the follower; the fields
	// below are only touched by that goroutine.
	scheduled atomic.Bool
	start     Cursor
	cursor    Cursor
	replayed  bool
	ended     bool
}

func (f *follower) wake() {
	if f.scheduled.CompareAndSwap(false, true) {
		go f.run()
	}
}

func (f *follower) run() {
	for {
		if !f.ended && !f.step() {
			f.ended = true
			f.h.detach(f.s)
			f.end()
		}
		ended := f.ended
		f.scheduled.Store(false)
		// Work that came after step looked, whose wake found the
		// follower still scheduled, is taken here.
		if ended || !f.pending() || !f.scheduled.CompareAndSwap(false, true) {
			return
		}
	}
}

func (f *follower) stopped() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

func (f *follower) pending() bool {
	return f.stopped() || f.s.queued() || f.s.lagged.Load()
}

// step delivers what is waiting; false ends the stream.
func (f *follower) step() bool {
	if f.stopped() {
		return false
	}
	if !f.replayed {
		f.replayed = true
		if after := f.spec.After; after != nil && after.Less(f.start) {
			if !f.h.replay(f.ctx, f.spec, *after, f.start, f.emit) {
				return false
			}
		} else if after != nil {
			// The client has seen more than this replica has read yet
			// (it was connected to a faster one): skip up to its cursor.
			f.cursor = *after
		}
	}
	for {
		if d, ok := f.s.take(); ok {
			if !f.cursor.Less(d.Cursor) {
				continue
			}
			f.cursor = d.Cursor
			if !d.empty() && !f.emit(d) {
				return false
			}
			continue
		}
		if !f.s.lagged.Load() {
			return !f.stopped()
		}
		// Detached for falling behind: what was buffered is delivered
		// (above); catch up from the log to a fresh attachment point.
		next := f.h.reattach(f.s)
		if f.cursor.Less(next) {
			if !f.h.replay(f.ctx, f.spec, f.cursor, next, f.emit) {
				return false
			}
			f.cursor = next
		}
	}
}

// wanted reports whether any subscriber would take d (only its row is
// looked at). h.mu is held.
func (h *Hub) wanted(d *Delivery) bool {
	for _, set := range []map[*sub]struct{}{h.anyCampaign, h.byCampaign[d.CampaignID]} {
		for s := range set {
			if s.spec.match(d) {
				return true
			}
		}
	}
	return false
}

// deliver hands d to the subscribers of set it matches; one too slow to
// take it is detached, and catches up from the log. h.mu is held.
func (h *Hub) deliver(d *Delivery, set map[*sub]struct{}) (taken, lagged int) {
	for s := range set {
		if !s.spec.match(d) {
			continue
		}
		if s.offer(d) {
			taken++
			s.wake()
		} else {
			lagged++
			h.lag(s)
		}
	}
	return taken, lagged
}

// fanOut starts the span of an event's fan-out here, in the trace of the
// change that wrote it: one per event and replica, from the hub's read of
// the log to the event handed to every subscriber (thousands of sockets may
// take it; what they do with it is theirs, see graph's deliver spans). Its
// context goes to them with the delivery.
func (h *Hub) fanOut(ctx context.Context, d *Delivery, began time.Time) trace.Span {
	parent := tracing.Remote(d.TraceParent)
	if !parent.IsValid() {
		return nil
	}
	_, span := tracing.Start(trace.ContextWithRemoteSpanContext(ctx, parent), "fan-out", trace.WithTimestamp(began),
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
			attribute.String("events.type", string(d.Type)), attribute.Int64("events.id", d.Cursor.ID),
			attribute.String("events.entity_id", string(d.EntityID)), attribute.String("campaign.id", string(d.CampaignID))))
	d.Trace = span.SpanContext()
	return span
}

// lag detaches a subscriber that fell behind; it reads the log itself.
// h.mu is held.
func (h *Hub) lag(s *sub) {
	h.remove(s)
	s.lagged.Store(true)
	s.wake()
}

func (h *Hub) attach(spec *Spec, wake func()) (*sub, Cursor) {
	s := &sub{spec: spec, wake: wake}
	return s, h.reattach(s)
}

// reattach registers s (again, after a lag) and returns the position from
// which it receives live events.
func (h *Hub) reattach(s *sub) Cursor {
	h.mu.Lock()
	defer h.mu.Unlock()
	s.lagged.Store(false)
	h.subs[s] = struct{}{}
	if s.spec.AllCampaigns {
		h.anyCampaign[s] = struct{}{}
		return h.head
	}
	for _, c := range s.spec.Campaigns {
		set := h.byCampaign[c]
		if set == nil {
			set = map[*sub]struct{}{}
			h.byCampaign[c] = set
		}
		set[s] = struct{}{}
	}
	return h.head
}

func (h *Hub) detach(s *sub) {
	h.mu.Lock()
	h.remove(s)
	h.mu.Unlock()
}

// remove forgets s everywhere; h.mu is held.
func (h *Hub) remove(s *sub) {
	delete(h.subs, s)
	delete(h.anyCampaign, s)
	for _, c := range s.spec.Campaigns {
		if set := h.byCampaign[c]; set != nil {
			delete(set, s)
			if len(set) == 0 {
				delete(h.byCampaign, c)
			}
		}
	}
}

// replay sends the matching events in (from, to] from the log.
func (h *Hub) replay(ctx context.Context, spec *Spec, from, to Cursor, emit func(*Delivery) bool) bool {
	var campaign pulid.ID
	if !spec.AllCampaigns && len(spec.Campaigns) == 1 {
		campaign = spec.Campaigns[0]
	}
	for from.Less(to) {
		rows, err := Read(ctx, h.db, from, campaign, 500)
		if err != nil {
			if ctx.Err() == nil { // the subscriber left, or the server is shutting down
				h.logger.ErrorContext(ctx, "replaying the event log", "err", err)
			}
			return false
		}
		if len(rows) == 0 {
			return true
		}
		var upto []Row
		for _, r := range rows {
			if to.Less(r.Cursor) {
				break
			}
			upto = append(upto, r)
		}
		if len(upto) == 0 {
			return true
		}
		ds, err := h.load(ctx, upto)
		if err != nil {
			h.logger.ErrorContext(ctx, "loading replayed events", "err", err)
			return false
		}
		for _, d := range ds {
			if d.empty() || !spec.match(d) {
				continue
			}
			if ctx.Err() != nil || !emit(d) {
				return false
			}
		}
		from = upto[len(upto)-1].Cursor
	}
	return true
}

// Subscribers reports how many subscribers are attached (for tests and metrics).
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}
