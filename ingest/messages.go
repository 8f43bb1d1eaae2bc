package ingest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/lib/pq"

	"github.com/switchboard-chat/switchboard/contacts"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/message"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/inbound"
)

// incoming is a new message of the batch being applied.
type incoming struct {
	ev   *ent.WebhookEvent
	e    *inbound.Event
	conn *source
	// account is the platform account the event came from, whose message
	// ids it names: after a switch, not always the one the connection holds.
	account string
}

// The new messages of a batch are stored set-wise, a fixed handful of
// statements for the whole batch rather than several per message: on a
// small PostgreSQL each statement costs a fraction of a millisecond, and
// that, not the data, bounds how fast the journal drains.
const (
	upsertContactsSQL = `
INSERT INTO contacts AS c (id, created_at, updated_at, campaign_id, channel, platform, external_id, name, avatar_url, phone, customer_id)
SELECT u.id, now(), now(), u.campaign_id, u.platform, u.platform, u.external_id, u.name, NULLIF(u.avatar, ''), NULLIF(u.phone, ''), NULLIF(u.customer, '')
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
	AS u(id, campaign_id, platform, external_id, name, avatar, phone, customer)
ON CONFLICT (campaign_id, channel, external_id) DO UPDATE SET
	updated_at = now(),
	name = CASE WHEN EXCLUDED.name <> '' THEN EXCLUDED.name ELSE c.name END,
	avatar_url = COALESCE(EXCLUDED.avatar_url, c.avatar_url),
	phone = COALESCE(EXCLUDED.phone, c.phone),
	customer_id = COALESCE(NULLIF(c.customer_id, ''), EXCLUDED.customer_id)
RETURNING c.id, c.external_id, c.campaign_id, c.platform, c.name`

	// One conversation per customer and channel: a new message reopens it.
	openConversationsSQL = `
INSERT INTO conversations AS v (id, created_at, updated_at, campaign_id, connection_id, contact_id, status, last_message_at, unread_count)
SELECT u.id, now(), now(), u.campaign_id, u.connection_id, u.contact_id, 'OPEN', u.at, 0
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS u(id, campaign_id, connection_id, contact_id, at)
ON CONFLICT (connection_id, contact_id) DO UPDATE SET updated_at = now()
RETURNING v.id, v.connection_id, v.contact_id`

	// A platform message id the account has already (a replay, or the
	// echo of a message sent from Switchboard, also of any part of a send
	// the platform took as several messages) adds nothing.
	insertMessagesSQL = `
INSERT INTO messages (id, created_at, updated_at, campaign_id, conversation_id, connection_id, direction, kind, text,
	attachments, external_id, status, sent_at, position, author, edited_at, account)
SELECT u.id, now(), now(), u.campaign_id, u.conversation_id, u.connection_id, u.direction, u.kind, u.text,
	NULLIF(u.attachments, '')::jsonb, u.external_id, u.status, u.sent_at, u.position,
	NULLIF(u.author, '')::jsonb, NULLIF(u.edited_at, '')::timestamptz, u.account
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
	$11::timestamptz[], $12::text[], $13::text[], $14::text[], $15::text[])
	AS u(id, campaign_id, conversation_id, connection_id, direction, kind, text, attachments, external_id, status, sent_at, position,
		author, edited_at, account)
WHERE u.direction = 'INBOUND' OR NOT EXISTS (SELECT 1 FROM messages x
	WHERE x.connection_id = u.connection_id AND x.account = u.account AND x.external_ids @> jsonb_build_array(u.external_id))
ON CONFLICT (connection_id, account, external_id) DO NOTHING
RETURNING id`

	// An echo of one of our own sends may arrive before the send is
	// recorded: while a send to that customer is under way and the echo's
	// id is unknown, the echo waits rather than become a second message.
	sendInFlightSQL = `
SELECT EXISTS (SELECT 1 FROM messages m JOIN conversations c ON c.id = m.conversation_id JOIN contacts ct ON ct.id = c.contact_id
	WHERE m.connection_id = $1 AND m.claimed_at IS NOT NULL AND m.status = 'PENDING' AND ct.external_id = $2)
AND NOT EXISTS (SELECT 1 FROM messages
	WHERE connection_id = $1 AND account = $4 AND (external_id = $3 OR external_ids @> jsonb_build_array($3::text)))`

	// The newest message by position becomes the last one (a late-arriving
	// older message does not displace it); the customer's messages count as
	// unread and reopen the conversation.
	updateConversationsSQL = `
UPDATE conversations c SET
	last_message_id = CASE WHEN c.last_message_id IS NULL
		OR coalesce((SELECT position FROM messages WHERE id = c.last_message_id), '') < u.position THEN u.message_id ELSE c.last_message_id END,
	last_message_at = CASE WHEN c.last_message_id IS NULL
		OR coalesce((SELECT position FROM messages WHERE id = c.last_message_id), '') < u.position THEN u.at ELSE c.last_message_at END,
	unread_count = c.unread_count + u.unread,
	status = CASE WHEN u.unread > 0 THEN 'OPEN' ELSE c.status END,
	updated_at = now()
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::int[]) AS u(id, message_id, position, at, unread)
WHERE c.id = u.id`
)

type contactKey struct{ campaign, platform, external string }

type convKey struct{ connection, contact pulid.ID }

// customer is what one event tells about a customer of a connection.
type customer struct {
	conn *source
	c    inbound.Contact
}

// upsertContacts finds or creates customers in one statement. What the
// platform tells fills in blanks and updates names, avatars and phones
// (later events win), blanks never erase, and the business's own customer id,
// once set, is never overwritten. Customers whose name is still unknown on a
// platform with a profile API are queued on b for a lookup.
func (p *Processor) upsertContacts(ctx context.Context, tx *ent.Tx, in []customer, b *batch) (map[contactKey]pulid.ID, error) {
	// One row per customer: a statement may not upsert a row twice.
	merged := map[contactKey]*inbound.Contact{}
	via := map[contactKey]pulid.ID{} // the connection to look a profile up through
	var order []contactKey
	for _, x := range in {
		k := contactKey{string(x.conn.CampaignID), string(x.conn.Platform), x.c.ExternalID}
		c, ok := merged[k]
		if !ok {
			c = &inbound.Contact{ExternalID: k.external}
			merged[k] = c
			via[k] = x.conn.ID
			order = append(order, k)
		}
		for dst, src := range map[*string]string{&c.Name: x.c.Name, &c.AvatarURL: x.c.AvatarURL, &c.Phone: x.c.Phone, &c.CustomerID: x.c.CustomerID} {
			if src != "" {
				*dst = src
			}
		}
	}
	// Rows are upserted in key order, as every worker's batch does: two
	// batches that share customers then lock them in the same order, so
	// one waits for the other instead of deadlocking with it.
	slices.SortFunc(order, func(a, b contactKey) int {
		return cmp.Or(cmp.Compare(a.campaign, b.campaign), cmp.Compare(a.platform, b.platform), cmp.Compare(a.external, b.external))
	})
	cols := make([][]string, 8)
	for _, k := range order {
		c := merged[k]
		// Phones are kept in E.164 where they are phone numbers, so calls
		// find the customer whatever form the platform wrote it in.
		phone := c.Phone
		if e164, ok := contacts.NormalizePhone(phone); ok {
			phone = e164
		}
		for i, v := range []string{string(pulid.New("ctc")), k.campaign, k.platform, k.external, c.Name, c.AvatarURL, phone, c.CustomerID} {
			cols[i] = append(cols[i], v)
		}
	}
	args := make([]any, len(cols))
	for i, c := range cols {
		args[i] = pq.Array(c)
	}
	ids := map[contactKey]pulid.ID{}
	err := query(ctx, tx, upsertContactsSQL, func(scan func(...any) error) error {
		var id, external, campaign, platform, name string
		if err := scan(&id, &external, &campaign, &platform, &name); err != nil {
			return err
		}
		k := contactKey{campaign, platform, external}
		ids[k] = pulid.ID(id)
		if name == "" && p.fetchesProfiles(platform) {
			b.wants = append(b.wants, profileWant{contact: pulid.ID(id), connection: via[k]})
		}
		return nil
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("storing contacts: %w", err)
	}
	return ids, nil
}

// storeMessages applies the batch's new messages and returns their events.
// An edit is stored here too when the message it edits never was: the
// edit, with when it was made, is then all there is of the message.
func (p *Processor) storeMessages(ctx context.Context, tx *ent.Tx, in []incoming, b *batch) ([]events.Event, error) {
	if len(in) == 0 {
		return nil, nil
	}
	var cs []customer
	for _, x := range in {
		cs = append(cs, customer{x.conn, x.e.Contact})
	}
	contactID, err := p.upsertContacts(ctx, tx, cs, b)
	if err != nil {
		return nil, err
	}

	// Conversations.
	convAt := map[convKey]time.Time{}
	var vorder []convKey
	for _, x := range in {
		k := convKey{x.conn.ID, contactID[contactKey{string(x.conn.CampaignID), string(x.conn.Platform), x.e.Contact.ExternalID}]}
		if _, ok := convAt[k]; !ok {
			vorder = append(vorder, k)
			convAt[k] = sentAt(x)
		}
	}
	// In key order, like the contacts (see upsertContacts).
	slices.SortFunc(vorder, func(a, b convKey) int {
		return cmp.Or(cmp.Compare(a.connection, b.connection), cmp.Compare(a.contact, b.contact))
	})
	var vIDs, vCampaigns, vConns, vContacts, vAts []string
	campaignOf := map[pulid.ID]pulid.ID{}
	for _, x := range in {
		campaignOf[x.conn.ID] = x.conn.CampaignID
	}
	for _, k := range vorder {
		vIDs = append(vIDs, string(pulid.New("cnv")))
		vCampaigns, vConns, vContacts = append(vCampaigns, string(campaignOf[k.connection])), append(vConns, string(k.connection)), append(vContacts, string(k.contact))
		vAts = append(vAts, convAt[k].UTC().Format(time.RFC3339Nano))
	}
	convID := map[convKey]pulid.ID{}
	err = query(ctx, tx, openConversationsSQL, func(scan func(...any) error) error {
		var id, conn, contact string
		if err := scan(&id, &conn, &contact); err != nil {
			return err
		}
		convID[convKey{pulid.ID(conn), pulid.ID(contact)}] = pulid.ID(id)
		return nil
	}, pq.Array(vIDs), pq.Array(vCampaigns), pq.Array(vConns), pq.Array(vContacts), pq.Array(vAts))
	if err != nil {
		return nil, fmt.Errorf("opening conversations: %w", err)
	}

	// Messages.
	type row struct {
		id, conv pulid.ID
		x        incoming
		pos      string
		at       time.Time
	}
	rows := make([]row, 0, len(in))
	cols := make([][]string, 15)
	for _, x := range in {
		m := x.e.Message
		kind := message.Kind(m.Kind)
		if message.KindValidator(kind) != nil {
			kind = message.KindOTHER
		}
		status := message.StatusSENT
		if m.Direction == inbound.Inbound {
			status = message.StatusDELIVERED
		}
		var att, author, edited string
		if m.Attachments != nil {
			b, err := json.Marshal(m.Attachments)
			if err != nil {
				return nil, err
			}
			att = string(b)
		}
		if m.Author != nil {
			b, err := json.Marshal(m.Author)
			if err != nil {
				return nil, err
			}
			author = string(b)
		}
		if x.e.Kind == inbound.EditMessage {
			edited = editedAt(x).UTC().Format(time.RFC3339Nano)
		}
		k := convKey{x.conn.ID, contactID[contactKey{string(x.conn.CampaignID), string(x.conn.Platform), x.e.Contact.ExternalID}]}
		r := row{id: pulid.New("msg"), conv: convID[k], x: x, at: sentAt(x)}
		r.pos = Position(r.at, x.ev.ID)
		rows = append(rows, r)
		for i, v := range []string{string(r.id), string(x.conn.CampaignID), string(r.conv), string(x.conn.ID), string(m.Direction), string(kind),
			m.Text, att, m.ExternalID, string(status), r.at.UTC().Format(time.RFC3339Nano), r.pos, author, edited, x.account} {
			cols[i] = append(cols[i], v)
		}
	}
	args := make([]any, len(cols))
	for i, c := range cols {
		args[i] = pq.Array(c)
	}
	inserted := map[pulid.ID]bool{}
	err = query(ctx, tx, insertMessagesSQL, func(scan func(...any) error) error {
		var id string
		if err := scan(&id); err != nil {
			return err
		}
		inserted[pulid.ID(id)] = true
		return nil
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("storing messages: %w", err)
	}

	// Conversations' last message and unread count, one row per conversation.
	type convUpdate struct {
		last   *row
		unread int
	}
	updates := map[pulid.ID]*convUpdate{}
	var uorder []pulid.ID
	var out []events.Event
	for i := range rows {
		r := &rows[i]
		if !inserted[r.id] {
			continue
		}
		out = append(out, events.Event{Type: events.MessageAdded, CampaignID: r.x.conn.CampaignID, ConversationID: r.conv, EntityID: r.id,
			TraceParent: b.traceParent(r.x.ev.ID)})
		u := updates[r.conv]
		if u == nil {
			u = &convUpdate{}
			updates[r.conv] = u
			uorder = append(uorder, r.conv)
		}
		if u.last == nil || u.last.pos < r.pos {
			u.last = r
		}
		if r.x.e.Message.Direction == inbound.Inbound {
			u.unread++
		}
	}
	if len(uorder) == 0 {
		return nil, nil
	}
	slices.Sort(uorder) // lock order, as above
	var uIDs, uMsgs, uPos, uAts []string
	var uUnread []int64
	for _, id := range uorder {
		u := updates[id]
		uIDs, uMsgs, uPos = append(uIDs, string(id)), append(uMsgs, string(u.last.id)), append(uPos, u.last.pos)
		uAts, uUnread = append(uAts, u.last.at.UTC().Format(time.RFC3339Nano)), append(uUnread, int64(u.unread))
		// The conversation moved to its last message: that webhook's trace.
		out = append(out, events.Event{Type: events.ConversationUpdated, CampaignID: u.last.x.conn.CampaignID, ConversationID: id, EntityID: id,
			TraceParent: b.traceParent(u.last.x.ev.ID)})
	}
	if _, err := tx.ExecContext(ctx, updateConversationsSQL, pq.Array(uIDs), pq.Array(uMsgs), pq.Array(uPos), pq.Array(uAts), pq.Array(uUnread)); err != nil {
		return nil, fmt.Errorf("updating conversations: %w", err)
	}
	return out, nil
}

// sentAt is when a message was sent: the platform's time, else, for an
// edit that does not say, when the edit was made (it was sent by then),
// else when it arrived.
func sentAt(x incoming) time.Time {
	m := x.e.Message
	switch {
	case !m.SentAt.IsZero():
		return m.SentAt
	case !m.EditedAt.IsZero():
		return m.EditedAt
	}
	return x.ev.ReceivedAt
}

// editedAt is when an edit was made: the platform's time, or when it arrived.
func editedAt(x incoming) time.Time {
	if x.e.Message.EditedAt.IsZero() {
		return x.ev.ReceivedAt
	}
	return x.e.Message.EditedAt
}

// query runs a statement in tx and hands each result row to each.
func query(ctx context.Context, tx *ent.Tx, q string, each func(scan func(...any) error) error, args ...any) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}
