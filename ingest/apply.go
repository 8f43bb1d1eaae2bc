package ingest

import (
	"context"
	"fmt"

	"entgo.io/ent/dialect/sql"
	"github.com/lib/pq"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/conversation"
	"github.com/switchboard-chat/switchboard/ent/message"
	"github.com/switchboard-chat/switchboard/ent/predicate"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/inbound"
)

// apply makes the changes of an event other than a new message (those are
// stored together by storeMessages) and returns the events to append.
func (p *Processor) apply(ctx context.Context, tx *ent.Tx, x incoming, b *batch) ([]events.Event, error) {
	ids, err := p.upsertContacts(ctx, tx, []customer{{x.conn, x.e.Contact}}, b)
	if err != nil {
		return nil, err
	}
	ct := ids[contactKey{string(x.conn.CampaignID), string(x.conn.Platform), x.e.Contact.ExternalID}]
	switch x.e.Kind {
	case inbound.EditMessage:
		return p.editMessage(ctx, tx, x, b)
	case inbound.Receipt:
		return receipt(ctx, tx, x, ct)
	case inbound.Follow, inbound.Unfollow:
		return follow(ctx, tx, x.conn, ct, x.e.Kind == inbound.Follow, eventAt(x))
	case inbound.Consent:
		return consent(ctx, tx, x.conn, ct, eventAt(x))
	case inbound.CustomerIDRefused:
		return refuseCustomerID(ctx, tx, x.conn, ct, x.e.Reason)
	}
	// ContactInfo only fills in the contact, which upsertContacts did.
	return nil, nil
}

// editMessage applies an edit. A message never stored (sent before the
// connection existed, or lost on the way) is stored from its edit at once:
// waiting for it would only delay the edit and then drop it. Edits move a
// message forward only, so an older edit applied late changes nothing.
func (p *Processor) editMessage(ctx context.Context, tx *ent.Tx, x incoming, b *batch) ([]events.Event, error) {
	e := x.e
	if e.Message == nil || e.Message.ExternalID == "" {
		return nil, fmt.Errorf("edit without a message id")
	}
	m, err := tx.Message.Query().Where(message.ConnectionID(x.conn.ID), message.Account(x.account), message.ExternalID(e.Message.ExternalID)).Only(ctx)
	if ent.IsNotFound(err) {
		return p.storeMessages(ctx, tx, []incoming{x}, b)
	}
	if err != nil {
		return nil, err
	}
	at := editedAt(x)
	if m.EditedAt != nil && (at.Before(*m.EditedAt) || at.Equal(*m.EditedAt) && m.Text == e.Message.Text) {
		return nil, nil
	}
	upd := tx.Message.UpdateOne(m).SetText(e.Message.Text).SetEditedAt(at)
	// An edit without attachments changed only the text (Messenger edits
	// carry nothing else); Telegram's carry the media the caption is on.
	if len(e.Message.Attachments) > 0 {
		upd.SetAttachments(e.Message.Attachments)
	}
	if err := upd.Exec(ctx); err != nil {
		return nil, err
	}
	return []events.Event{{Type: events.MessageUpdated, CampaignID: m.CampaignID, ConversationID: m.ConversationID, EntityID: m.ID}}, nil
}

// statusRank orders delivery statuses; receipts only move a message forward.
var statusRank = map[message.Status]int{
	message.StatusPENDING: 0, message.StatusSENT: 1, message.StatusDELIVERED: 2, message.StatusREAD: 3,
}

func receipt(ctx context.Context, tx *ent.Tx, x incoming, ct pulid.ID) ([]events.Event, error) {
	r := x.e.Receipt
	if r == nil {
		return nil, fmt.Errorf("receipt without status")
	}
	status := message.Status(r.Status)
	if message.StatusValidator(status) != nil {
		return nil, fmt.Errorf("unknown receipt status %q", r.Status)
	}
	var behind []message.Status
	if status == message.StatusFAILED {
		// A failure only counts before the platform confirmed delivery.
		behind = []message.Status{message.StatusPENDING, message.StatusSENT}
	} else {
		for s, rank := range statusRank {
			if rank < statusRank[status] {
				behind = append(behind, s)
			}
		}
	}
	q := tx.Message.Query().Where(
		message.ConnectionID(x.conn.ID),
		message.DirectionEQ(message.DirectionOUTBOUND),
		message.StatusIn(behind...),
	)
	switch {
	case len(r.MessageIDs) > 0 && !r.Watermark.IsZero():
		q = q.Where(message.Or(named(x.account, r.MessageIDs),
			message.And(message.HasConversationWith(conversation.ContactID(ct)), message.SentAtLTE(r.Watermark))))
	case len(r.MessageIDs) > 0:
		q = q.Where(named(x.account, r.MessageIDs))
	case !r.Watermark.IsZero():
		q = q.Where(message.HasConversationWith(conversation.ContactID(ct)), message.SentAtLTE(r.Watermark))
	default:
		return nil, fmt.Errorf("receipt names no message")
	}
	msgs, err := q.All(ctx)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		if r.Watermark.IsZero() && !anyKnown(ctx, tx, x, r.MessageIDs) {
			return nil, fmt.Errorf("%w: receipt for messages %v not stored yet", errLater, r.MessageIDs)
		}
		return nil, nil
	}
	var out []events.Event
	for _, m := range msgs {
		upd := tx.Message.UpdateOne(m).SetStatus(status)
		if status == message.StatusFAILED && r.Error != "" {
			upd.SetError(r.Error)
		}
		if err := upd.Exec(ctx); err != nil {
			return nil, err
		}
		out = append(out, events.Event{Type: events.MessageUpdated, CampaignID: m.CampaignID, ConversationID: m.ConversationID, EntityID: m.ID})
	}
	return out, nil
}

// anyKnown reports whether any of the platform message ids is stored at all
// (then a receipt that changes nothing is simply late, not early).
func anyKnown(ctx context.Context, tx *ent.Tx, x incoming, ids []string) bool {
	n, err := tx.Message.Query().Where(message.ConnectionID(x.conn.ID), named(x.account, ids)).Count(ctx)
	return err == nil && n > 0
}

// named matches messages by the account's platform message ids, of any
// part of a send the platform took as several messages.
func named(account string, ids []string) predicate.Message {
	return message.And(message.Account(account), message.Or(message.ExternalIDIn(ids...), func(s *sql.Selector) {
		s.Where(sql.P(func(b *sql.Builder) {
			b.WriteString("jsonb_exists_any(").Ident(s.C(message.FieldExternalIds)).WriteString(", ").Arg(pq.Array(ids)).WriteString(")")
		}))
	}))
}
