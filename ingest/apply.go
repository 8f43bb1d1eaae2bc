package ingest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/contact"
	"github.com/switchboard-chat/switchboard/ent/conversation"
	"github.com/switchboard-chat/switchboard/ent/message"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/inbound"
)

// apply makes the changes an event asks for and returns what to publish once
// they are committed.
func (p *Processor) apply(ctx context.Context, tx *ent.Tx, ev *ent.WebhookEvent, e *inbound.Event, b *batch) ([]events.Event, error) {
	if e.Test || e.Kind == inbound.Ignore {
		return nil, nil
	}
	conn := b.conns[*ev.ConnectionID]
	if conn == nil {
		var err error
		if conn, err = tx.Connection.Get(ctx, *ev.ConnectionID); err != nil {
			return nil, fmt.Errorf("loading connection: %w", err)
		}
		b.conns[conn.ID] = conn
	}
	if e.Contact.ExternalID == "" {
		return nil, fmt.Errorf("%s event names no customer", ev.EventType)
	}
	ct, err := upsertContact(ctx, tx, conn, e.Contact)
	if err != nil {
		return nil, err
	}
	if e.Contact.Name == "" && e.Kind == inbound.NewMessage &&
		(conn.Platform == schematype.PlatformFacebook || conn.Platform == schematype.PlatformZalo) {
		b.wants = append(b.wants, ct)
	}
	switch e.Kind {
	case inbound.NewMessage:
		return p.newMessage(ctx, tx, ev, conn, ct, e)
	case inbound.EditMessage:
		return editMessage(ctx, tx, conn, e)
	case inbound.Receipt:
		return receipt(ctx, tx, conn, ct, e.Receipt)
	}
	// ContactInfo, Follow and Unfollow only touch the contact.
	return nil, nil
}

// upsertContact finds or creates the customer; what the platform tells fills
// in blanks and updates names, but the business's own customer id, once set,
// is never overwritten.
func upsertContact(ctx context.Context, tx *ent.Tx, conn *ent.Connection, c inbound.Contact) (pulid.ID, error) {
	id, err := tx.Contact.Create().
		SetCampaignID(conn.CampaignID).
		SetPlatform(conn.Platform).
		SetExternalID(c.ExternalID).
		SetName(c.Name).
		SetAvatarURL(c.AvatarURL).
		SetPhone(c.Phone).
		SetCustomerID(c.CustomerID).
		OnConflictColumns(contact.FieldCampaignID, contact.FieldPlatform, contact.FieldExternalID).
		Update(func(u *ent.ContactUpsert) {
			u.UpdateUpdatedAt()
			if c.Name != "" {
				u.SetName(c.Name)
			}
			if c.AvatarURL != "" {
				u.SetAvatarURL(c.AvatarURL)
			}
			if c.Phone != "" {
				u.SetPhone(c.Phone)
			}
		}).
		ID(ctx)
	if err != nil {
		return "", fmt.Errorf("storing contact: %w", err)
	}
	if c.CustomerID != "" {
		// Set once, never overwritten (the widget's user_external_id rule).
		if _, err := tx.Contact.Update().Where(contact.ID(id), contact.Or(contact.CustomerIDIsNil(), contact.CustomerID(""))).
			SetCustomerID(c.CustomerID).Save(ctx); err != nil {
			return "", err
		}
	}
	return id, nil
}

func (p *Processor) newMessage(ctx context.Context, tx *ent.Tx, ev *ent.WebhookEvent, conn *ent.Connection, ct pulid.ID, e *inbound.Event) ([]events.Event, error) {
	m := e.Message
	if m == nil || m.ExternalID == "" {
		return nil, fmt.Errorf("%s event carries no message id", ev.EventType)
	}
	at := m.SentAt
	if at.IsZero() {
		at = ev.ReceivedAt
	}
	// One conversation per customer and channel; a new message reopens it.
	convID, err := tx.Conversation.Create().
		SetCampaignID(conn.CampaignID).
		SetConnectionID(conn.ID).
		SetContactID(ct).
		SetLastMessageAt(at).
		OnConflictColumns(conversation.FieldConnectionID, conversation.FieldContactID).
		UpdateUpdatedAt().
		ID(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening conversation: %w", err)
	}
	kind := message.Kind(m.Kind)
	if message.KindValidator(kind) != nil {
		kind = message.KindOTHER
	}
	msgID := pulid.New("msg")
	status := message.StatusSENT
	if m.Direction == inbound.Inbound {
		status = message.StatusDELIVERED
	}
	pos := Position(at, ev.ID)
	err = tx.Message.Create().
		SetID(msgID).
		SetCampaignID(conn.CampaignID).
		SetConversationID(convID).
		SetConnectionID(conn.ID).
		SetDirection(message.Direction(m.Direction)).
		SetKind(kind).
		SetText(m.Text).
		SetAttachments(m.Attachments).
		SetExternalID(m.ExternalID).
		SetStatus(status).
		SetSentAt(at).
		SetPosition(pos).
		OnConflictColumns(message.FieldConnectionID, message.FieldExternalID).
		DoNothing().
		Exec(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		// The platform's message id is known already (a replay, or the echo
		// of a message sent from Switchboard): nothing changes.
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storing message: %w", err)
	}
	// One statement: the newest message by position becomes the last one (a
	// late-arriving older message does not displace it), and a message from
	// the customer reopens the conversation and counts as unread.
	fromCustomer := m.Direction == inbound.Inbound
	if _, err := tx.ExecContext(ctx, `UPDATE conversations c SET
		last_message_id = CASE WHEN newer THEN $2 ELSE c.last_message_id END,
		last_message_at = CASE WHEN newer THEN $3 ELSE c.last_message_at END,
		unread_count = c.unread_count + CASE WHEN $4 THEN 1 ELSE 0 END,
		status = CASE WHEN $4 THEN 'OPEN' ELSE c.status END,
		updated_at = now()
	FROM (SELECT c2.id, (c2.last_message_id IS NULL OR coalesce(m.position, '') < $5) AS newer
	      FROM conversations c2 LEFT JOIN messages m ON m.id = c2.last_message_id WHERE c2.id = $1) x
	WHERE c.id = x.id`, convID, msgID, at, fromCustomer, pos); err != nil {
		return nil, fmt.Errorf("updating conversation: %w", err)
	}
	return []events.Event{
		{Type: events.MessageAdded, CampaignID: conn.CampaignID, ConversationID: convID, EntityID: msgID},
		{Type: events.ConversationUpdated, CampaignID: conn.CampaignID, ConversationID: convID, EntityID: convID},
	}, nil
}

func editMessage(ctx context.Context, tx *ent.Tx, conn *ent.Connection, e *inbound.Event) ([]events.Event, error) {
	if e.Message == nil {
		return nil, fmt.Errorf("edit without a message")
	}
	m, err := tx.Message.Query().Where(message.ConnectionID(conn.ID), message.ExternalID(e.Message.ExternalID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fmt.Errorf("%w: the edited message %s is not stored yet", errLater, e.Message.ExternalID)
	}
	if err != nil {
		return nil, err
	}
	if m.Text == e.Message.Text {
		return nil, nil
	}
	if err := tx.Message.UpdateOne(m).SetText(e.Message.Text).SetAttachments(e.Message.Attachments).Exec(ctx); err != nil {
		return nil, err
	}
	return []events.Event{{Type: events.MessageUpdated, CampaignID: m.CampaignID, ConversationID: m.ConversationID, EntityID: m.ID}}, nil
}

// statusRank orders delivery statuses; receipts only move a message forward.
var statusRank = map[message.Status]int{
	message.StatusPENDING: 0, message.StatusSENT: 1, message.StatusDELIVERED: 2, message.StatusREAD: 3,
}

func receipt(ctx context.Context, tx *ent.Tx, conn *ent.Connection, ct pulid.ID, r *inbound.ReceiptInfo) ([]events.Event, error) {
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
		message.ConnectionID(conn.ID),
		message.DirectionEQ(message.DirectionOUTBOUND),
		message.StatusIn(behind...),
	)
	switch {
	case len(r.MessageIDs) > 0 && !r.Watermark.IsZero():
		q = q.Where(message.Or(message.ExternalIDIn(r.MessageIDs...),
			message.And(message.HasConversationWith(conversation.ContactID(ct)), message.SentAtLTE(r.Watermark))))
	case len(r.MessageIDs) > 0:
		q = q.Where(message.ExternalIDIn(r.MessageIDs...))
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
		if r.Watermark.IsZero() && !anyKnown(ctx, tx, conn, r.MessageIDs) {
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
func anyKnown(ctx context.Context, tx *ent.Tx, conn *ent.Connection, ids []string) bool {
	n, err := tx.Message.Query().Where(message.ConnectionID(conn.ID), message.ExternalIDIn(ids...)).Count(ctx)
	return err == nil && n > 0
}
