// Package events is the ordered, gap-free stream of domain events behind
// GraphQL subscriptions. Changes append rows to the event log (table
// domain_events) in their own transaction; each replica's Hub reads the log
// past its position when woken (by a local commit, by PostgreSQL
// LISTEN/NOTIFY from another replica, or by a periodic poll) and fans the
// events out to its subscribers. Cursors are positions in the log, so a
// client that reconnects with the last cursor it saw gets exactly what it
// missed, in order.
package events

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/domainevent"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/tracing"
)

// Type names what changed.
type Type = domainevent.Type

// Event types.
const (
	MessageAdded        = domainevent.TypeMESSAGE_ADDED
	MessageUpdated      = domainevent.TypeMESSAGE_UPDATED
	ConversationUpdated = domainevent.TypeCONVERSATION_UPDATED
	ConnectionUpdated   = domainevent.TypeCONNECTION_UPDATED
	CallUpdated         = domainevent.TypeCALL_UPDATED
)

// Event is one change, as appended.
type Event struct {
	Type           Type
	CampaignID     pulid.ID
	ConversationID pulid.ID // empty for connection and call events
	EntityID       pulid.ID
	// TraceParent is the span that made the change, whose trace the
	// fan-out continues ("" when untraced; Append takes its context's).
	TraceParent string
}

// appendSQL writes a batch of events in one statement whose text does not
// depend on the batch's size, so a hot path runs it prepared (package
// prepared). xid and id take their defaults. A NULL array of trace parents
// (nothing traced) unnests, beside the others, as NULLs.
const appendSQL = `INSERT INTO domain_events (type, campaign_id, conversation_id, entity_id, created_at, trace_parent)
SELECT u.type, u.campaign_id, NULLIF(u.conversation_id, ''), u.entity_id, now(), NULLIF(u.trace_parent, '')
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY
	AS u(type, campaign_id, conversation_id, entity_id, trace_parent, n)
ORDER BY u.n`

// Append adds events to the log through client, which should be the
// transaction that makes the change (privacy is bypassed by the caller's
// system context).
func Append(ctx context.Context, client *ent.Client, evs ...Event) error {
	if len(evs) == 0 {
		return nil
	}
	cols := make([][]string, 4)
	for i := range cols {
		cols[i] = make([]string, len(evs))
	}
	var traces []string // nil unless some event is traced
	parent := tracing.Parent(ctx)
	for i, e := range evs {
		if err := domainevent.TypeValidator(e.Type); err != nil {
			return fmt.Errorf("appending an event: %w", err)
		}
		cols[0][i], cols[1][i], cols[2][i], cols[3][i] = string(e.Type), string(e.CampaignID), string(e.ConversationID), string(e.EntityID)
		if e.TraceParent == "" {
			e.TraceParent = parent
		}
		if e.TraceParent != "" {
			if traces == nil {
				traces = make([]string, len(evs))
			}
			traces[i] = e.TraceParent
		}
	}
	if _, err := client.ExecContext(ctx, appendSQL, pq.Array(cols[0]), pq.Array(cols[1]), pq.Array(cols[2]), pq.Array(cols[3]), pq.StringArray(traces)); err != nil {
		return fmt.Errorf("appending %d events to the log: %w", len(evs), err)
	}
	return nil
}

// Cursor is a position in the log: after the event (xid, id).
type Cursor struct {
	XID, ID int64
}

// String encodes the cursor opaquely for clients.
func (c Cursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%d:%d", c.XID, c.ID)))
}

// Less orders cursors like the log.
func (c Cursor) Less(o Cursor) bool {
	return c.XID < o.XID || c.XID == o.XID && c.ID < o.ID
}

// ParseCursor decodes a client's cursor.
func ParseCursor(s string) (Cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, fmt.Errorf("not a cursor")
	}
	x, i, ok := strings.Cut(string(raw), ":")
	if !ok {
		return Cursor{}, fmt.Errorf("not a cursor")
	}
	xid, err1 := strconv.ParseInt(x, 10, 64)
	id, err2 := strconv.ParseInt(i, 10, 64)
	if err1 != nil || err2 != nil || xid < 0 || id < 0 {
		return Cursor{}, fmt.Errorf("not a cursor")
	}
	return Cursor{XID: xid, ID: id}, nil
}

// Row is an event read from the log, with its position.
type Row struct {
	Event
	Cursor Cursor
	// At is when the event was written (its transaction's start): how
	// long delivery took is measured from it.
	At time.Time
}

// horizon limits reads to transactions older than every one still running:
// those are final, and anything committed later has a larger xid.
const horizon = `xid < (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint`

const rowColumns = `id, xid, type, campaign_id, coalesce(conversation_id, ''), entity_id, created_at, coalesce(trace_parent, '')`

// Read returns up to limit events after cursor, in log order; campaign, when
// set, keeps only that campaign's.
func Read(ctx context.Context, db *sql.DB, after Cursor, campaign pulid.ID, limit int) ([]Row, error) {
	q := `SELECT ` + rowColumns + `, false FROM domain_events WHERE (xid, id) > ($1, $2) AND ` + horizon
	args := []any{after.XID, after.ID}
	if campaign != "" {
		q += ` AND campaign_id = $3`
		args = append(args, campaign)
	}
	q += fmt.Sprintf(` ORDER BY xid, id LIMIT %d`, limit)
	rows, _, err := readRows(ctx, db, q, args...)
	return rows, err
}

// readAhead is Read for the hub, which also learns whether a committed event
// waits beyond the horizon (its transaction ended after an older one began
// that is still running): one statement, the same snapshot for both. The
// outer ORDER BY keeps log order, which UNION ALL alone does not promise.
func readAhead(ctx context.Context, db *sql.DB, after Cursor, limit int) (rows []Row, waiting bool, err error) {
	q := fmt.Sprintf(`SELECT * FROM (
		(SELECT %[1]s, false FROM domain_events WHERE (xid, id) > ($1, $2) AND %[2]s ORDER BY xid, id LIMIT %[3]d)
		UNION ALL
		(SELECT %[1]s, true FROM domain_events WHERE (xid, id) > ($1, $2) AND NOT (%[2]s) ORDER BY xid, id LIMIT 1)
	) u ORDER BY 9, 2, 1`, rowColumns, horizon, limit)
	return readRows(ctx, db, q, after.XID, after.ID)
}

// readRows scans rows of rowColumns and a flag; a flagged row only reports
// that an event waits beyond the horizon.
func readRows(ctx context.Context, db *sql.DB, q string, args ...any) (out []Row, waiting bool, err error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("reading the event log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Row
		var typ string
		var beyond bool
		if err := rows.Scan(&r.Cursor.ID, &r.Cursor.XID, &typ, &r.CampaignID, &r.ConversationID, &r.EntityID, &r.At, &r.TraceParent, &beyond); err != nil {
			return nil, false, err
		}
		if beyond {
			waiting = true
			continue
		}
		r.Type = Type(typ)
		out = append(out, r)
	}
	return out, waiting, rows.Err()
}

// Head returns the position after the last event readers may see now.
func Head(ctx context.Context, db *sql.DB) (Cursor, error) {
	var c Cursor
	err := db.QueryRowContext(ctx, `SELECT coalesce(max(xid), 0), coalesce(max(id), 0) FROM domain_events
		WHERE xid = (SELECT max(xid) FROM domain_events WHERE `+horizon+`)`).Scan(&c.XID, &c.ID)
	if err != nil {
		return Cursor{}, fmt.Errorf("reading the event log's head: %w", err)
	}
	return c, nil
}

// Behind counts the events after the cursor that a subscriber of spec's
// campaigns would replay, stopping at limit: a resume past that is refused
// rather than replaying the whole log. A cursor older than the log's oldest
// event counts as limit: a cursor names an event the log held, so the log
// was trimmed past it (package retention) and what followed it may be gone.
func (h *Hub) Behind(ctx context.Context, after Cursor, spec Spec, limit int) (int, error) {
	var oldest Cursor
	err := h.db.QueryRowContext(ctx, `SELECT xid, id FROM domain_events ORDER BY xid, id LIMIT 1`).Scan(&oldest.XID, &oldest.ID)
	switch {
	case err == nil && after.Less(oldest):
		return limit, nil
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return 0, fmt.Errorf("measuring a resume: %w", err)
	}
	q := `SELECT count(*) FROM (SELECT 1 FROM domain_events WHERE (xid, id) > ($1, $2)`
	args := []any{after.XID, after.ID}
	if !spec.AllCampaigns {
		ids := make([]string, len(spec.Campaigns))
		for i, id := range spec.Campaigns {
			ids[i] = string(id)
		}
		q += ` AND campaign_id = ANY($3)`
		args = append(args, pq.Array(ids))
	}
	q += fmt.Sprintf(` LIMIT %d) e`, limit)
	var n int
	if err := h.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("measuring a resume: %w", err)
	}
	return n, nil
}
