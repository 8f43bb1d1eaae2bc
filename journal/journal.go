// Package journal is the durable inbox of platform webhooks. Handlers Append
// the events of a request and answer the platform only once Append returns:
// the events are then committed. A single batcher group-commits the events of
// many concurrent requests in one multi-row INSERT, which is what lets one
// PostgreSQL on a small machine acknowledge thousands of webhooks a second
// while fsync stays on. Nothing is acknowledged that is not stored: when the
// database cannot commit, every request of the batch fails with
// ErrUnavailable (the platform retries). One request whose data PostgreSQL
// refuses must not fail its neighbours, though: text is made storable
// before the batch, and a batch that still fails on its data is committed
// request by request, so only the request that cannot be stored fails, with
// ErrUnstorable (retrying it would never help).
package journal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"time"

	"github.com/lib/pq"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/inbound"
	"github.com/switchboard-chat/switchboard/metrics"
	"github.com/switchboard-chat/switchboard/tracing"
)

// Entry is one platform event to journal.
type Entry struct {
	Platform schematype.Platform
	// ConnectionID and CampaignID are empty for an unroutable event (a page
	// or number that is not connected); it is stored as processed, for the
	// log, until Reroute gives it to the account's new connection.
	ConnectionID pulid.ID
	CampaignID   pulid.ID
	// Account is the platform account the event is for. Events are
	// deduplicated per account, so that a reconnect (a new connection) does
	// not make an old event new, and a connection switched to another
	// account takes that account's events whose keys repeat the old one's.
	Account   string
	EventType string
	DedupKey  string
	// Thread is the customer the event concerns (inbound.Fragment.Thread):
	// it chooses the entry's lane (see Lane).
	Thread  string
	Payload []byte
	// Note is stored as the entry's error, e.g. why it is unroutable.
	Note string
}

// Lane is the processing lane of an entry about thread (a customer): a
// hash, so that every replica puts one customer's events in the same lane,
// where they are applied one after another (package ingest claims lanes).
// An entry about no customer orders against nothing and is spread by its
// dedup key.
func Lane(thread, dedupKey string) int16 {
	if thread == "" {
		thread = dedupKey
	}
	h := fnv.New32a()
	h.Write([]byte(thread))
	return int16(h.Sum32() % laneCount)
}

// laneCount is how many lanes Lane spreads customers over: so many that two
// customers rarely share one (package ingest holds a lane per batch), and
// every one fits the column's smallint.
const laneCount = 1 << 15

// Result says what happened to an appended entry.
type Result struct {
	ID pulid.ID
	// Duplicate: an entry with the same dedup key was already journaled for
	// the account; nothing was added.
	Duplicate bool
}

// ErrUnavailable means the journal could not commit; the platform should retry.
var ErrUnavailable = errors.New("journal unavailable")

// ErrUnstorable means the database refused the request's own data; storing
// it again would fail again.
var ErrUnstorable = errors.New("request cannot be stored")

// maxEventType bounds the event name kept for the log; platforms' names are short.
const maxEventType = 100

// Options tune the batcher.
type Options struct {
	// MaxBatch is the most entries one transaction takes (default 500).
	MaxBatch int
	// MaxWait is how long the batcher waits for more entries after the first
	// (default 0: it takes what is queued and commits).
	MaxWait time.Duration
	// CommitTimeout bounds one batch's transaction (default 5s).
	CommitTimeout time.Duration
	// OnCommit is called after a batch that added entries commits (to wake processing).
	OnCommit func()
	// Received learns how many events each connection received (its webhook
	// health), counted off the acknowledgement path.
	Received func(connection pulid.ID, n int, at time.Time)
}

// Journal appends webhook events.
type Journal struct {
	db     *sql.DB
	logger *slog.Logger
	opt    Options
	in     chan *request
	// stmt is the insert, prepared: bound and executed in one round trip
	// on a kept plan, where lib/pq takes two and PostgreSQL plans afresh.
	// Only the batcher uses it; nil until prepared.
	stmt *sql.Stmt
}

type request struct {
	entries []Entry
	at      time.Time
	done    chan []Result
	err     error
	// span is the request's journal span (nil while tracing is off: the
	// acknowledgement path then carries nothing more).
	span *requestSpan
}

type requestSpan struct {
	// parent is the span's traceparent, stored with the entries so that
	// processing continues the trace.
	parent string
	// What the batcher tells the span: when the batch that took the
	// request began its insert, and how big that batch was.
	commitAt          time.Time
	requests, entries int
}

// traceParent is what the request's entries store ("": untraced).
func (r *request) traceParent() string {
	if r.span == nil {
		return ""
	}
	return r.span.parent
}

// New returns a journal; call Run to start its batcher.
func New(db *sql.DB, logger *slog.Logger, opt Options) *Journal {
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 500
	}
	if opt.CommitTimeout <= 0 {
		opt.CommitTimeout = 5 * time.Second
	}
	if opt.Received == nil {
		opt.Received = func(pulid.ID, int, time.Time) {}
	}
	return &Journal{db: db, logger: logger, opt: opt, in: make(chan *request, 4096)}
}

// Append journals the entries of one webhook request and returns once they
// are committed (or failed with ErrUnavailable).
func (j *Journal) Append(ctx context.Context, entries []Entry) ([]Result, error) {
	r := &request{entries: entries, at: time.Now(), done: make(chan []Result, 1)}
	if tracing.On() {
		return j.traced(ctx, r)
	}
	res, _, err := j.append(ctx, r)
	return res, err
}

// traced appends under a "journal" span of the request's own, from its
// arrival at the batcher to its commit: the insert is shared by every
// request of the batch, so a span for it would belong to none of their
// traces (or to one, dishonestly). This one says what the request waited
// for, when the shared insert began (event "commit") and how many requests
// and entries it carried.
func (j *Journal) traced(ctx context.Context, r *request) ([]Result, error) {
	ctx, span := tracing.Start(ctx, "journal", trace.WithAttributes(attribute.Int("journal.entries", len(r.entries))))
	defer span.End()
	r.span = &requestSpan{parent: tracing.Parent(ctx)}
	res, answered, err := j.append(ctx, r)
	if answered {
		span.AddEvent("commit", trace.WithTimestamp(r.span.commitAt))
		span.SetAttributes(attribute.Int("journal.batch.requests", r.span.requests), attribute.Int("journal.batch.entries", r.span.entries))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return nil, err
	}
	dups := 0
	for _, x := range res {
		if x.Duplicate {
			dups++
		}
	}
	span.SetAttributes(attribute.Int("journal.duplicates", dups))
	return res, nil
}

// append queues r and waits for its batch; answered reports that the
// batcher is done with r (its fields may be read).
func (j *Journal) append(ctx context.Context, r *request) (_ []Result, answered bool, _ error) {
	select {
	case j.in <- r:
	case <-ctx.Done():
		return nil, false, fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
	}
	select {
	case res := <-r.done:
		if r.err != nil {
			return nil, true, r.err
		}
		return res, true, nil
	case <-ctx.Done():
		// The batch may still commit; the platform's retry is then a duplicate.
		return nil, false, fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
	}
}

// Run batches appends until ctx ends. One batcher per process.
func (j *Journal) Run(ctx context.Context) {
	for {
		var first *request
		select {
		case <-ctx.Done():
			return
		case first = <-j.in:
		}
		batch := []*request{first}
		n := len(first.entries)
		// Take what is already waiting; wait for more only if MaxWait says
		// so. Under load, requests pile up during each commit, so batches
		// grow by themselves without adding a fixed delay at low load.
		var timeout <-chan time.Time
		var timer *time.Timer
		if j.opt.MaxWait > 0 {
			timer = time.NewTimer(j.opt.MaxWait)
			timeout = timer.C
		}
	collect:
		for n < j.opt.MaxBatch {
			select {
			case r := <-j.in:
				batch = append(batch, r)
				n += len(r.entries)
			case <-timeout:
				break collect
			default:
				if timeout == nil {
					break collect
				}
				select {
				case r := <-j.in:
					batch = append(batch, r)
					n += len(r.entries)
				case <-timeout:
					break collect
				}
			}
		}
		if timer != nil {
			timer.Stop()
		}
		j.commit(ctx, batch)
	}
}

// insert skips an entry whose dedup key the account has already. A NULL
// array of trace parents (tracing off) unnests, beside the others, as NULLs.
const insert = `
INSERT INTO webhook_events (id, platform, connection_id, campaign_id, account, event_type, dedup_key, payload,
	received_at, response_status, attempts, processed_at, error, trace_parent, lane)
SELECT id, platform, NULLIF(connection_id, ''), NULLIF(campaign_id, ''), NULLIF(account, ''), event_type, dedup_key, payload,
	received_at, 200, 0, CASE WHEN connection_id = '' THEN received_at END, NULLIF(note, ''), NULLIF(trace_parent, ''), lane
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::timestamptz[], $9::text[], $10::text[],
	$11::text[], $12::smallint[])
	AS v(id, platform, connection_id, campaign_id, event_type, dedup_key, payload, received_at, note, account, trace_parent, lane)
ON CONFLICT DO NOTHING
RETURNING id`

func (j *Journal) commit(ctx context.Context, batch []*request) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), j.opt.CommitTimeout)
	defer cancel()
	n := 0
	for _, r := range batch {
		n += len(r.entries)
	}
	metrics.JournalBatch.Observe(float64(n))
	start := time.Now()
	for _, r := range batch {
		if r.span != nil {
			r.span.commitAt, r.span.requests, r.span.entries = start, len(batch), n
		}
	}
	ids, err := j.insert(ctx, batch)
	if err != nil && refusedData(err) && len(batch) > 1 {
		// One request's data broke the batch: commit them one by one, so
		// that only that request fails.
		j.logger.WarnContext(ctx, "journal batch refused; committing its requests one by one", "requests", len(batch), "err", err)
		for _, r := range batch {
			j.commit(ctx, []*request{r})
		}
		return
	}
	if err != nil {
		kind, msg := ErrUnavailable, "journal commit failed; answering 503"
		if refusedData(err) {
			kind, msg = ErrUnstorable, "journal refused a request's data; answering 400"
		}
		j.logger.ErrorContext(ctx, msg, "requests", len(batch), "err", err)
		for _, r := range batch {
			r.err = fmt.Errorf("%w: %v", kind, err)
			r.done <- nil
		}
		return
	}
	added := false
	for i, r := range batch {
		res := make([]Result, len(r.entries))
		seen := map[pulid.ID]bool{}
		for k, e := range r.entries {
			res[k] = ids[i][k]
			added = added || !res[k].Duplicate
			if e.ConnectionID != "" && !seen[e.ConnectionID] {
				seen[e.ConnectionID] = true
				j.opt.Received(e.ConnectionID, 1, r.at)
			}
		}
		r.done <- res
	}
	if added && j.opt.OnCommit != nil {
		j.opt.OnCommit()
	}
}

// insert writes the batch's entries in one statement and returns, per
// request and entry, the id given and whether it was a duplicate.
func (j *Journal) insert(ctx context.Context, batch []*request) ([][]Result, error) {
	var ids, platforms, conns, campaigns, types, keys, notes, accounts []string
	var payloads [][]byte
	var times []string
	var traces []string // nil unless some request is traced
	var lanes []int64
	out := make([][]Result, len(batch))
	for i, r := range batch {
		if r.span != nil && traces == nil {
			traces = make([]string, len(ids))
		}
		out[i] = make([]Result, len(r.entries))
		for k, e := range r.entries {
			id := pulid.New("whe")
			out[i][k].ID = id
			ids = append(ids, string(id))
			platforms = append(platforms, string(e.Platform))
			conns = append(conns, string(e.ConnectionID))
			campaigns = append(campaigns, string(e.CampaignID))
			types = append(types, eventType(e.EventType))
			keys = append(keys, inbound.Key(e.DedupKey))
			payloads = append(payloads, e.Payload)
			times = append(times, r.at.UTC().Format(time.RFC3339Nano))
			notes = append(notes, inbound.Text(e.Note))
			accounts = append(accounts, inbound.Key(e.Account))
			lanes = append(lanes, int64(Lane(e.Thread, e.DedupKey)))
			if traces != nil {
				traces = append(traces, r.traceParent())
			}
		}
	}
	if len(ids) == 0 {
		return out, nil
	}
	inserted := map[pulid.ID]bool{}
	if j.stmt == nil {
		// Unprepared when the database cannot prepare it now: the insert
		// then reports why, and the next batch tries again.
		j.stmt, _ = j.db.PrepareContext(ctx, insert)
	}
	query := j.db.QueryContext
	if j.stmt != nil {
		query = func(ctx context.Context, _ string, args ...any) (*sql.Rows, error) {
			return j.stmt.QueryContext(ctx, args...)
		}
	}
	rows, err := query(ctx, insert, pq.Array(ids), pq.Array(platforms), pq.Array(conns), pq.Array(campaigns),
		pq.Array(types), pq.Array(keys), pq.ByteaArray(payloads), pq.Array(times), pq.Array(notes), pq.Array(accounts),
		pq.StringArray(traces), // not pq.Array: a nil slice becomes an interface without allocating
		pq.Int64Array(lanes))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		inserted[pulid.ID(id)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		for k := range out[i] {
			out[i][k].Duplicate = !inserted[out[i][k].ID]
		}
	}
	return out, nil
}

// eventType is the platform's event name as stored: text PostgreSQL takes,
// cut to a length worth showing.
func eventType(s string) string {
	s = inbound.Text(s)
	if len(s) > maxEventType {
		s = strings.ToValidUTF8(s[:maxEventType], "")
	}
	return s
}

// refusedData reports whether PostgreSQL refused the statement for the data
// it carried (a data exception, a constraint, a size limit), as opposed to
// being unreachable or overloaded: the same data would be refused again.
func refusedData(err error) bool {
	var pe *pq.Error
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code.Class() {
	case "22", "23", "54":
		return true
	}
	return false
}

// Execer runs a statement: a *sql.DB, or an ent client or transaction.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

const reroute = `
UPDATE webhook_events w
SET connection_id = $1, campaign_id = $2, processed_at = NULL, failed_at = NULL, error = NULL,
	attempts = 0, next_attempt_at = NULL
WHERE w.platform = $3 AND w.account = $4 AND w.connection_id IS NULL AND w.received_at >= $5
	AND ($6 = '' OR w.id = $6)`

// Reroute gives the unroutable events of an account, journaled since
// since, to the connection that now holds it, queued for processing as if
// they had been routed on arrival. They are what a platform sent before the
// connection committed (Meta delivers as soon as a page is subscribed,
// which a connect does first) or while a replica still believed the account
// not connected. (The connection cannot hold the same event already: events
// are unique per account and key.) only, when not empty, reroutes that one
// event.
func Reroute(ctx context.Context, db Execer, p schematype.Platform, account string, conn, campaign pulid.ID, since time.Time, only pulid.ID) (int64, error) {
	res, err := db.ExecContext(ctx, reroute, string(conn), string(campaign), string(p), inbound.Key(account), since, string(only))
	if err != nil {
		return 0, fmt.Errorf("rerouting the unroutable events of %s account %s: %w", p, account, err)
	}
	return res.RowsAffected()
}
