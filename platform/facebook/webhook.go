package facebook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/inbound"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
)

// Messenger webhooks arrive as {"object":"page","entry":[…]}, each entry
// holding one page's "messaging" (or, for a secondary receiver under the
// handover protocol, "standby") items. Meta batches several pages and items
// into one request, so Split cuts them apart and Decode reads one item.

// ErrMalformed is wrapped by every error Split and Decode return: the body
// or item cannot be read, and Meta sending it again will not change that.
var ErrMalformed = errors.New("malformed facebook webhook")

// testType is the Fragment.Type of a synthetic testWebhook item.
const testType = "test"

// webhookBody is the request envelope. Entry is a pointer so that a body
// without it is told apart from an empty batch.
type webhookBody struct {
	Object string          `json:"object"`
	Entry  *[]webhookEntry `json:"entry"`
}

type webhookEntry struct {
	ID        scopedID          `json:"id"`
	Messaging []json.RawMessage `json:"messaging"`
	Standby   []json.RawMessage `json:"standby"`
}

// Split cuts a verified webhook body into one Fragment per messaging or
// standby item, across every entry. Each fragment's Raw is the item's bytes
// exactly as they were in body. An error (ErrMalformed) means the body is
// not a Messenger page webhook at all, or an item cannot be routed or
// deduplicated; the caller answers 400.
func Split(body []byte) ([]inbound.Fragment, error) {
	frags, err := split(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return frags, nil
}

func split(body []byte) ([]inbound.Fragment, error) {
	var b webhookBody
	if err := graphapi.DecodeWebhook(body, &b); err != nil {
		return nil, err
	}
	if b.Object != "page" {
		return nil, fmt.Errorf("object is %q, not \"page\"", b.Object)
	}
	if b.Entry == nil {
		return nil, errors.New("no entry")
	}
	var frags []inbound.Fragment
	for i, e := range *b.Entry {
		if e.ID == "" {
			return nil, fmt.Errorf("entry %d has no page id", i)
		}
		for _, items := range [][]json.RawMessage{e.Messaging, e.Standby} {
			for j, raw := range items {
				typ, key, thread, err := identify(raw)
				if err != nil {
					return nil, fmt.Errorf("entry %d item %d: %w", i, j, err)
				}
				frags = append(frags, inbound.Fragment{Type: typ, DedupKey: key, Account: string(e.ID), Thread: thread, Raw: raw})
			}
		}
	}
	return frags, nil
}

// identify reads only what routing, deduplication and queueing (the
// customer's thread) need, so that a field
// Decode would choke on fails one fragment later rather than the whole
// batch now.
func identify(raw []byte) (typ, dedupKey, thread string, err error) {
	f, err := fieldsOf(raw)
	if err != nil {
		return "", "", "", err
	}
	var sender struct {
		ID scopedID `json:"id"`
	}
	var timestamp json.Number
	if err := f.decode("sender", &sender); err != nil {
		return "", "", "", err
	}
	if err := f.decode("timestamp", &timestamp); err != nil {
		return "", "", "", err
	}
	// The customer is the sender, but of an echo (the page's own message)
	// the recipient. A recipient that does not read leaves the echo without
	// a thread rather than failing it here: Decode judges it.
	var recipient struct {
		ID scopedID `json:"id"`
	}
	who := func(typ string) string {
		if typ == "message_echo" {
			if f.decode("recipient", &recipient) != nil {
				return ""
			}
			return string(recipient.ID)
		}
		return string(sender.ID)
	}
	// Events without an id of their own are told apart by who and when; a
	// retry repeats both.
	byWhoAndWhen := func(typ string, when json.Number) string {
		return typ + ":" + string(sender.ID) + ":" + when.String()
	}

	switch ev := f.event(); ev {
	case testType:
		var nonce string
		if err := f.decode(inbound.TestMarker, &nonce); err != nil {
			return "", "", "", err
		}
		if nonce == "" {
			return "", "", "", errors.New("empty " + inbound.TestMarker)
		}
		return testType, "test:" + nonce, who(testType), nil
	case "message":
		var m struct {
			Mid    string `json:"mid"`
			IsEcho bool   `json:"is_echo"`
		}
		if err := f.decode(ev, &m); err != nil {
			return "", "", "", err
		}
		if m.Mid == "" {
			return "", "", "", errors.New("message without mid")
		}
		typ = "message"
		if m.IsEcho {
			typ = "message_echo"
		}
		return typ, "mid:" + m.Mid, who(typ), nil
	case "postback":
		var p struct {
			Mid string `json:"mid"`
		}
		if err := f.decode(ev, &p); err != nil {
			return "", "", "", err
		}
		if p.Mid != "" {
			return ev, "postback:" + p.Mid, who(ev), nil
		}
		return ev, byWhoAndWhen(ev, timestamp), who(ev), nil
	case "delivery", "read":
		var r struct {
			Watermark json.Number `json:"watermark"`
		}
		if err := f.decode(ev, &r); err != nil {
			return "", "", "", err
		}
		if r.Watermark == "" {
			return "", "", "", errors.New(ev + " without watermark")
		}
		return ev, byWhoAndWhen(ev, r.Watermark), who(ev), nil
	default:
		return ev, byWhoAndWhen(ev, timestamp), who(ev), nil
	}
}

// Decode turns one messaging item (a Fragment's Raw from Split) into an
// Event. Item types Switchboard does not act on decode to Ignore; an error
// (ErrMalformed) means the item cannot be read at all.
func Decode(raw []byte) (*inbound.Event, error) {
	ev, err := decodeItem(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: messaging item: %w", ErrMalformed, err)
	}
	return ev, nil
}

type itemMessage struct {
	Mid         string           `json:"mid"`
	Text        string           `json:"text"`
	IsEcho      bool             `json:"is_echo"`
	Attachments []itemAttachment `json:"attachments"`
}

type itemAttachment struct {
	Type string `json:"type"`
	// Title and URL sit beside the payload on legacy location and
	// fallback (shared link) attachments.
	Title   string             `json:"title"`
	URL     string             `json:"url"`
	Payload *attachmentPayload `json:"payload"`
}

type attachmentPayload struct {
	URL string `json:"url"`
	// Title is where some fallback attachments carry their title, which
	// others have beside the payload.
	Title string `json:"title"`
	// StickerID only matters by its presence: it is what tells a sticker
	// from a picture, both being "image".
	StickerID   json.RawMessage `json:"sticker_id"`
	Coordinates *struct {
		Lat  json.Number `json:"lat"`
		Long json.Number `json:"long"`
	} `json:"coordinates"`
}

type itemPostback struct {
	Mid     string `json:"mid"`
	Title   string `json:"title"`
	Payload string `json:"payload"`
}

type itemEdit struct {
	Mid  string `json:"mid"`
	Text string `json:"text"`
}

type itemReceipt struct {
	Mids      []string    `json:"mids"`
	Watermark json.Number `json:"watermark"`
}

func decodeItem(raw []byte) (*inbound.Event, error) {
	f, err := fieldsOf(raw)
	if err != nil {
		return nil, err
	}
	var sender, recipient struct {
		ID scopedID `json:"id"`
	}
	var timestamp json.Number
	if err := f.decode("sender", &sender); err != nil {
		return nil, err
	}
	if err := f.decode("recipient", &recipient); err != nil {
		return nil, err
	}
	if err := f.decode("timestamp", &timestamp); err != nil {
		return nil, err
	}
	at, err := millis(timestamp)
	if err != nil {
		return nil, fmt.Errorf("timestamp: %w", err)
	}

	ev := &inbound.Event{Kind: inbound.Ignore, Contact: inbound.Contact{ExternalID: string(sender.ID)}, At: at}
	switch kind := f.event(); kind {
	case testType:
		return &inbound.Event{Kind: inbound.Ignore, Test: true, At: at}, nil
	case "message":
		var m itemMessage
		if err := f.decode(kind, &m); err != nil {
			return nil, err
		}
		if m.Mid == "" {
			return nil, errors.New("message without mid")
		}
		msg := &inbound.Message{ExternalID: m.Mid, Direction: inbound.Inbound, Text: m.Text, SentAt: at}
		if m.IsEcho {
			// An echo is the page's own message, so the customer is the
			// recipient; older payloads name the page differently as
			// sender, which is why is_echo, not the ids, decides this.
			msg.Direction = inbound.Outbound
			ev.Contact.ExternalID = string(recipient.ID)
		}
		msg.Kind, msg.Attachments, err = attachments(m.Attachments)
		if err != nil {
			return nil, err
		}
		if msg.Kind == "" {
			msg.Kind = "OTHER"
			if m.Text != "" {
				msg.Kind = "TEXT"
			}
		}
		ev.Kind, ev.Message = inbound.NewMessage, msg
	case "postback":
		var p itemPostback
		if err := f.decode(kind, &p); err != nil {
			return nil, err
		}
		id := p.Mid
		if id == "" {
			id = "postback:" + string(sender.ID) + ":" + timestamp.String()
		}
		// The title is the button the customer saw and tapped, so it reads
		// in the conversation as what they said; the payload is ours, but
		// better than nothing when a button (a persistent menu item, a
		// referral's Get Started) comes without a title.
		text := p.Title
		if text == "" {
			text = p.Payload
		}
		ev.Kind = inbound.NewMessage
		ev.Message = &inbound.Message{ExternalID: id, Direction: inbound.Inbound, Kind: "TEXT", Text: text, SentAt: at}
	case "message_edit":
		var e itemEdit
		if err := f.decode(kind, &e); err != nil {
			return nil, err
		}
		if e.Mid == "" {
			return nil, errors.New("message_edit without mid")
		}
		// Only text can be edited, and the edit does not say when the
		// message was first sent.
		ev.Kind = inbound.EditMessage
		ev.Message = &inbound.Message{ExternalID: e.Mid, Direction: inbound.Inbound, Kind: "TEXT", Text: e.Text, EditedAt: at}
	case "delivery", "read":
		var r itemReceipt
		if err := f.decode(kind, &r); err != nil {
			return nil, err
		}
		if r.Watermark == "" {
			return nil, errors.New(kind + " without watermark")
		}
		watermark, err := millis(r.Watermark)
		if err != nil {
			return nil, fmt.Errorf("watermark: %w", err)
		}
		status := "DELIVERED"
		if kind == "read" {
			status = "READ"
		}
		if ev.At.IsZero() {
			ev.At = watermark
		}
		ev.Kind = inbound.Receipt
		ev.Receipt = &inbound.ReceiptInfo{Status: status, MessageIDs: r.Mids, Watermark: watermark}
	}
	return ev, nil
}

// attachments converts Messenger attachments; kind is the message Kind the
// first one gives, or "" when there are none.
func attachments(in []itemAttachment) (kind string, out []schematype.Attachment, err error) {
	for i, a := range in {
		var p attachmentPayload
		if a.Payload != nil {
			p = *a.Payload
		}
		att := schematype.Attachment{Type: a.Type, URL: a.URL}
		if p.URL != "" {
			att.URL = p.URL
		}
		k := "OTHER"
		switch a.Type {
		case "image":
			k = "IMAGE"
			if len(p.StickerID) > 0 && string(p.StickerID) != "null" {
				att.Type, k = "sticker", "STICKER"
			}
		case "video":
			k = "VIDEO"
		case "audio":
			k = "AUDIO"
		case "file":
			k = "FILE"
		case "fallback":
			// A shared link, its title beside the payload or in it.
			att.Name = a.Title
			if att.Name == "" {
				att.Name = p.Title
			}
		case "location":
			k = "LOCATION"
			att.Name = a.Title
			if c := p.Coordinates; c != nil {
				if att.Latitude, err = graphapi.Coordinate(c.Lat); err != nil {
					return "", nil, fmt.Errorf("attachment %d latitude: %w", i, err)
				}
				if att.Longitude, err = graphapi.Coordinate(c.Long); err != nil {
					return "", nil, fmt.Errorf("attachment %d longitude: %w", i, err)
				}
			}
		}
		if i == 0 {
			kind = k
		}
		out = append(out, att)
	}
	return kind, out, nil
}

// TestEvent returns a complete webhook body for pageID carrying one
// synthetic item, for testWebhook to push through the same path as a real
// delivery: Split gives it DedupKey "test:<nonce>" and Decode an Event with
// Test set. The item has no message, so even a reader unaware of the marker
// finds nothing to act on.
func TestEvent(pageID, nonce string) []byte {
	type item struct {
		Recipient struct {
			ID string `json:"id"`
		} `json:"recipient"`
		Timestamp int64  `json:"timestamp"`
		Test      string `json:"switchboard_test"`
	}
	type entry struct {
		ID        string `json:"id"`
		Time      int64  `json:"time"`
		Messaging []item `json:"messaging"`
	}
	now := time.Now().UnixMilli()
	it := item{Timestamp: now, Test: nonce}
	it.Recipient.ID = pageID
	body, err := json.Marshal(struct {
		Object string  `json:"object"`
		Entry  []entry `json:"entry"`
	}{"page", []entry{{ID: pageID, Time: now, Messaging: []item{it}}}})
	if err != nil {
		// Only strings and integers go in; Marshal cannot fail on them.
		panic(err)
	}
	return body
}

// scopedID is a Meta id (page id, PSID). Meta sends them as strings, but
// they exceed 2^53, so one sent as a bare number is kept as its digits
// rather than passing through a float.
type scopedID string

func (id *scopedID) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = scopedID(s)
		return nil
	case isDigits(b):
		*id = scopedID(b)
		return nil
	}
	return fmt.Errorf("id %s is neither a string nor an integer", b)
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// millis reads a millisecond Unix time; an absent one is the zero time.
func millis(n json.Number) (time.Time, error) {
	if n == "" {
		return time.Time{}, nil
	}
	v, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(v).UTC(), nil
}

// itemFields is a messaging item's top-level fields in the order they came.
// The order matters because an event type we do not know is named by its
// key, and encoding/json's maps and case-insensitive struct matching would
// lose which key came first and how it was spelled.
type itemFields struct {
	order []string
	vals  map[string]json.RawMessage
}

func fieldsOf(raw []byte) (itemFields, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return itemFields{}, errors.New("item is not a JSON object")
	}
	f := itemFields{vals: map[string]json.RawMessage{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return itemFields{}, err
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return itemFields{}, err
		}
		if _, seen := f.vals[key]; !seen {
			f.order = append(f.order, key)
		}
		f.vals[key] = val
	}
	if _, err := dec.Token(); err != nil {
		return itemFields{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return itemFields{}, errors.New("trailing data after item")
	}
	return f, nil
}

// decode unmarshals field key into v, leaving v alone when it is absent.
func (f itemFields) decode(key string, v any) error {
	raw, ok := f.vals[key]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// event names the item's type: the test marker, one of the events we act
// on, or else the first key holding an object other than the sender and
// recipient (reaction, optin, referral…), which is how Messenger names
// every event type.
func (f itemFields) event() string {
	if _, ok := f.vals[inbound.TestMarker]; ok {
		return testType
	}
	for _, k := range []string{"message", "postback", "message_edit", "delivery", "read"} {
		if isObject(f.vals[k]) {
			return k
		}
	}
	for _, k := range f.order {
		if k != "sender" && k != "recipient" && isObject(f.vals[k]) {
			return k
		}
	}
	return "unknown"
}

func isObject(raw json.RawMessage) bool {
	return len(raw) > 0 && raw[0] == '{'
}
