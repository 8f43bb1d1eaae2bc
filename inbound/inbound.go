// Package inbound holds the normalised shape of what platforms send us. Each
// platform adapter (platform/telegram, platform/facebook, platform/whatsapp,
// platform/zalo) turns its webhook payloads into these types; everything
// downstream (the journal, processing, subscriptions) speaks only these.
//
// Ingest happens in two steps. At the HTTP edge, after the signature check,
// an adapter's Split cuts a request body into Fragments, one per platform
// event, each with its deduplication key and routing key; each fragment is
// journaled as it came. Later, processing calls the adapter's Decode on a
// journaled fragment to get an Event.
package inbound

import (
	"time"

	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
)

// Fragment is one platform event cut out of a webhook request.
type Fragment struct {
	// Type is the platform's own event name: "message", "edited_message",
	// "messaging" subtypes like "message_echo", "delivery", "read", "postback",
	// Zalo's "user_send_text", WhatsApp's "message" or "status".
	Type string
	// DedupKey is unique per platform event within an account, so a
	// redelivery adds nothing (Telegram "update:<update_id>", Facebook
	// "mid:<mid>", Zalo "msg:<msg_id>", WhatsApp "wamid:<id>" or
	// "status:<id>:<status>").
	DedupKey string
	// Account is the platform account the event is for (page id, phone
	// number id, OA id; empty for Telegram, routed by URL). It routes the
	// fragment to a connection.
	Account string
	// Thread is the customer the event concerns, as the platform names them
	// (the Contact.ExternalID Decode gives), or empty when it concerns none
	// or Split cannot tell cheaply. One customer's events queue in one lane
	// of the journal, applied one after another in arrival order, while
	// other customers' are applied beside them.
	Thread string
	// Raw is the event's bytes: the whole body for single-event platforms
	// (Telegram, Zalo), the event's own JSON for batching ones. For WhatsApp
	// messages it is {"contact":…,"message":…} built from the raw parts, so
	// the sender's profile travels with the message.
	Raw []byte
}

// Kind says what an Event does.
type Kind int

// The kinds of events.
const (
	// Ignore: nothing to do (unsupported event types, synthetic test events).
	Ignore Kind = iota
	// NewMessage: a message from the customer (INBOUND) or an echo of one the
	// business sent outside Switchboard (OUTBOUND).
	NewMessage
	// EditMessage: the customer edited an earlier message (Message.ExternalID
	// names it). An edit of a message never stored is stored as the message.
	EditMessage
	// Receipt: delivery or read status of outbound messages.
	Receipt
	// ContactInfo: the customer shared details (name, phone, the business's own id).
	ContactInfo
	// Follow and Unfollow: the customer followed or unfollowed the account.
	Follow
	Unfollow
	// Consent: the customer let the account message them (Zalo's interaction
	// widget); Contact.CustomerID is the business's id for them, when linked.
	Consent
	// CustomerIDRefused: the platform would not link the business's id to the
	// customer (Zalo keeps the first one linked); Reason says why.
	CustomerIDRefused
)

// Direction of a message, as stored.
type Direction string

// Directions.
const (
	Inbound  Direction = "INBOUND"
	Outbound Direction = "OUTBOUND"
)

// Event is a decoded platform event.
type Event struct {
	Kind Kind
	// Test marks a synthetic event sent by testWebhook: journaled, never processed into a conversation.
	Test bool
	// Contact is the customer the event is about.
	Contact Contact
	// Message is set for NewMessage and EditMessage.
	Message *Message
	// Receipt is set for Receipt.
	Receipt *ReceiptInfo
	// Reason is the platform's explanation of a CustomerIDRefused.
	Reason string
	// AnswerID, when set, names an interaction the customer's app keeps
	// waiting on until the platform is told it was received (a Telegram
	// callback_query id: the tapped button spins). The platform's
	// platform.Answerer is called with it once the event is stored.
	AnswerID string
	// At is the platform's timestamp of the event.
	At time.Time
}

// Contact is what the event tells about the customer. Empty fields are unknown.
type Contact struct {
	// ExternalID is the id used to reply: Telegram chat id, Facebook PSID,
	// Zalo sender.id (not user_id_by_app), WhatsApp wa_id. Always a string.
	ExternalID string
	Name       string
	AvatarURL  string
	Phone      string
	// CustomerID is the business's own id for the customer (Zalo user_external_id).
	CustomerID string
}

// Message is a message carried by an event.
type Message struct {
	// ExternalID is the platform's message id (Telegram message_id, Facebook
	// mid, Zalo msg_id, WhatsApp wamid).
	ExternalID  string
	Direction   Direction
	Kind        string // TEXT, IMAGE, FILE, AUDIO, VIDEO, STICKER, LOCATION or OTHER
	Text        string
	Attachments []schematype.Attachment
	// Author is who wrote the message when that can differ from the contact
	// (a member of a Telegram group, whose conversation is the group's); nil
	// when the contact wrote it.
	Author *schematype.MessageAuthor
	// SentAt is the platform's timestamp of the message: when it was first
	// sent, also in an EditMessage that knows it (zero: when it arrived).
	SentAt time.Time
	// EditedAt is set by EditMessage: when the customer made this edit.
	EditedAt time.Time
}

// ReceiptInfo moves outbound messages' status forward.
type ReceiptInfo struct {
	// Status is SENT, DELIVERED, READ or FAILED.
	Status string
	// MessageIDs lists the platform message ids it covers, when the platform names them.
	MessageIDs []string
	// Watermark, when set, covers every outbound message sent at or before it
	// in the conversation (Facebook delivery and read watermarks).
	Watermark time.Time
	// Error explains a FAILED status.
	Error string
}

// TestMarker is the JSON field a synthetic testWebhook event carries at its
// top level (Telegram update, Facebook messaging item, Zalo event, WhatsApp
// message); decoders that see it return an Event with Test set.
const TestMarker = "switchboard_test"
