package conversations

import (
	"context"
	"fmt"
	"regexp"
	"slices"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/call"
	"github.com/switchboard-chat/switchboard/ent/message"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
)

// TimelinePage is one page of a conversation's messages and calls, oldest first.
type TimelinePage struct {
	// Items are *ent.Message and *ent.Call; Cursors[i] is Items[i]'s.
	Items           []ent.Noder
	Cursors         []ent.Cursor
	HasNextPage     bool
	HasPreviousPage bool
	TotalCount      int
}

// defaultTimelinePage is the page size when neither first nor last is given.
const defaultTimelinePage = 100

// A message sorts by its position ("<ms, 13 digits>|<arrival id>", fixed at
// receipt); a call by the same form of its start (or, never started, when
// it was logged) and its id, so both interleave by time in one order.
// Positions compare byte-wise: the database's collation could otherwise
// weigh the separator differently.
const timelineSQL = `
SELECT kind, id, key FROM (
	SELECT 'M' AS kind, id, position COLLATE "C" AS key FROM messages WHERE conversation_id = $1
	UNION ALL
	SELECT 'C', id, (lpad(floor(extract(epoch FROM COALESCE(started_at, created_at)) * 1000)::bigint::text, 13, '0') || '|' || id) COLLATE "C"
	FROM calls WHERE conversation_id = $1
) t
WHERE ($2 = '' OR key > $2) AND ($3 = '' OR key < $3)
ORDER BY key %s
LIMIT $4`

const timelineCountSQL = `
SELECT (SELECT count(*) FROM messages WHERE conversation_id = $1) + (SELECT count(*) FROM calls WHERE conversation_id = $1)`

var timelineKey = regexp.MustCompile(`^\d{13}\|[0-9a-zA-Z_]+$`)

// Timeline returns a page of the conversation's messages and calls in
// time order: first after after, or the last before before (Relay).
func (s *Service) Timeline(ctx context.Context, conv *ent.Conversation, after *ent.Cursor, first *int, before *ent.Cursor, last *int) (*TimelinePage, error) {
	bound := func(name string, c *ent.Cursor) (string, error) {
		if c == nil {
			return "", nil
		}
		k, ok := c.Value.(string)
		if !ok || !timelineKey.MatchString(k) {
			return "", apperr.Input(name, "not a cursor of this timeline")
		}
		return k, nil
	}
	lo, err := bound("after", after)
	if err != nil {
		return nil, err
	}
	hi, err := bound("before", before)
	if err != nil {
		return nil, err
	}
	for name, n := range map[string]*int{"first": first, "last": last} {
		if n != nil && *n < 0 {
			return nil, apperr.Input(name, "must not be negative")
		}
	}
	// With last, the page is read backwards from before, then turned round.
	n, order := defaultTimelinePage, "ASC"
	switch {
	case first != nil:
		n = *first
	case last != nil:
		n, order = *last, "DESC"
	}
	rows, err := s.client.QueryContext(ctx, fmt.Sprintf(timelineSQL, order), string(conv.ID), lo, hi, n+1)
	if err != nil {
		return nil, fmt.Errorf("reading the timeline of %s: %w", conv.ID, err)
	}
	type row struct {
		kind string
		id   pulid.ID
		key  string
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.kind, &r.id, &r.key); err != nil {
			rows.Close()
			return nil, err
		}
		got = append(got, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	page := &TimelinePage{}
	more := len(got) > n
	if more {
		got = got[:n]
	}
	if order == "DESC" {
		slices.Reverse(got)
		page.HasPreviousPage, page.HasNextPage = more, hi != ""
	} else {
		page.HasNextPage, page.HasPreviousPage = more, lo != ""
	}
	if first != nil && last != nil && len(got) > *last {
		// Both given: the last of the first (Relay).
		got, page.HasPreviousPage = got[len(got)-*last:], true
	}
	var msgIDs, callIDs []pulid.ID
	for _, r := range got {
		if r.kind == "M" {
			msgIDs = append(msgIDs, r.id)
		} else {
			callIDs = append(callIDs, r.id)
		}
	}
	// Loaded through ent, so the viewer's access rules apply to each item.
	nodes := map[pulid.ID]ent.Noder{}
	if len(msgIDs) > 0 {
		ms, err := s.client.Message.Query().Where(message.IDIn(msgIDs...)).All(ctx)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			nodes[m.ID] = m
		}
	}
	if len(callIDs) > 0 {
		cs, err := s.client.Call.Query().Where(call.IDIn(callIDs...)).All(ctx)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			nodes[c.ID] = c
		}
	}
	for _, r := range got {
		if nd, ok := nodes[r.id]; ok {
			page.Items = append(page.Items, nd)
			page.Cursors = append(page.Cursors, ent.Cursor{ID: r.id, Value: r.key})
		}
	}
	count, err := s.client.QueryContext(ctx, timelineCountSQL, string(conv.ID))
	if err != nil {
		return nil, err
	}
	defer count.Close()
	if count.Next() {
		if err := count.Scan(&page.TotalCount); err != nil {
			return nil, err
		}
	}
	return page, count.Err()
}
