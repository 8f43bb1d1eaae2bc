package whatsapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/inbound"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
)

// Cloud API webhooks arrive as {"object":"whatsapp_business_account",
// "entry":[{"changes":[{"field":"messages","value":{…}}]}]}, where one value
// holds the phone number it is for, the senders' profiles, and any number of
// messages and statuses. Split cuts out each message and status; Decode
// reads one.

// ErrMalformed is wrapped by every error Split and Decode return: the body
// or event cannot be read, and Meta sending it again will not change that.
var ErrMalformed = errors.New("malformed whatsapp webhook")

// testType is the Fragment.Type of a synthetic testWebhook message.
const testType = "test"

// webhookBody is the request envelope. Entry is a pointer so that a body
// without it is told apart from an empty batch; a change's value stays raw
// because only the "messages" field's shape is ours to rely on.
type webhookBody struct {
	Object string `json:"object"`
	Entry  *[]struct {
		Changes []struct {
			Field string          `json:"field"`
			Value json.RawMessage `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

type changeValue struct {
	Metadata struct {
		PhoneNumberID string `json:"phone_number_id"`
	} `json:"metadata"`
	Contacts []json.RawMessage `json:"contacts"`
	Messages []json.RawMessage `json:"messages"`
	Statuses []json.RawMessage `json:"statuses"`
}

// Split cuts a verified webhook body into one Fragment per message and per
// status in every "messages" change of every entry; other fields
// (account, template and quality updates) give none. A message's Raw is
// {"contact":…,"message":…}, pairing it with the profile of its sender so
// the name survives journaling; both parts are the body's own bytes. An
// error (ErrMalformed) means the body is not a Cloud API webhook, or an
// event in it cannot be routed or deduplicated; the caller answers 400.
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
	if b.Object != "whatsapp_business_account" {
		return nil, fmt.Errorf("object is %q, not \"whatsapp_business_account\"", b.Object)
	}
	if b.Entry == nil {
		return nil, errors.New("no entry")
	}
	var frags []inbound.Fragment
	for i, e := range *b.Entry {
		for j, c := range e.Changes {
			if c.Field != "messages" {
				continue
			}
			got, err := splitValue(c.Value)
			if err != nil {
				return nil, fmt.Errorf("entry %d change %d: %w", i, j, err)
			}
			frags = append(frags, got...)
		}
	}
	return frags, nil
}

func splitValue(raw json.RawMessage) ([]inbound.Fragment, error) {
	var v changeValue
	if len(raw) == 0 {
		return nil, errors.New("no value")
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("value: %w", err)
	}
	if len(v.Messages) == 0 && len(v.Statuses) == 0 {
		return nil, nil
	}
	account := v.Metadata.PhoneNumberID
	if account == "" {
		return nil, errors.New("no metadata.phone_number_id")
	}

	profiles := make(map[string]json.RawMessage, len(v.Contacts))
	for i, c := range v.Contacts {
		var wc waContact
		if err := json.Unmarshal(c, &wc); err != nil {
			return nil, fmt.Errorf("contact %d: %w", i, err)
		}
		if _, dup := profiles[wc.WaID]; dup || wc.WaID == "" {
			continue
		}
		if len(c) > maxContactRaw {
			// Every message of the sender carries the contact: an oversized
			// one would multiply into the journal once per message.
			c = wc.compact()
		}
		profiles[wc.WaID] = c
	}

	frags := make([]inbound.Fragment, 0, len(v.Messages)+len(v.Statuses))
	for i, m := range v.Messages {
		var head struct {
			ID   string  `json:"id"`
			From string  `json:"from"`
			Test *string `json:"switchboard_test"`
		}
		if err := json.Unmarshal(m, &head); err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		f := inbound.Fragment{Type: "message", DedupKey: "wamid:" + head.ID, Account: account, Thread: head.From}
		switch {
		case head.Test != nil:
			if *head.Test == "" {
				return nil, fmt.Errorf("message %d: empty %s", i, inbound.TestMarker)
			}
			f.Type, f.DedupKey = testType, "test:"+*head.Test
		case head.ID == "":
			return nil, fmt.Errorf("message %d: no id", i)
		}
		contact, ok := profiles[head.From]
		if !ok || head.From == "" {
			contact = json.RawMessage("null")
		}
		f.Raw = messageRaw(contact, m)
		frags = append(frags, f)
	}
	for i, s := range v.Statuses {
		var head struct {
			ID          string `json:"id"`
			Status      string `json:"status"`
			RecipientID string `json:"recipient_id"`
		}
		if err := json.Unmarshal(s, &head); err != nil {
			return nil, fmt.Errorf("status %d: %w", i, err)
		}
		if head.ID == "" || head.Status == "" {
			return nil, fmt.Errorf("status %d: no id or status", i)
		}
		frags = append(frags, inbound.Fragment{
			Type:     "status",
			DedupKey: "status:" + head.ID + ":" + head.Status,
			Account:  account,
			Thread:   head.RecipientID,
			Raw:      statusRaw(s),
		})
	}
	return frags, nil
}

// messageRaw and statusRaw build a Fragment's Raw by concatenation: the
// parts are already JSON, and marshalling them again could only change
// their bytes.
func messageRaw(contact, message []byte) []byte {
	b := make([]byte, 0, len(contact)+len(message)+len(`{"contact":,"message":}`))
	b = append(b, `{"contact":`...)
	b = append(b, contact...)
	b = append(b, `,"message":`...)
	b = append(b, message...)
	return append(b, '}')
}

func statusRaw(status []byte) []byte {
	b := make([]byte, 0, len(status)+len(`{"status":}`))
	b = append(b, `{"status":`...)
	b = append(b, status...)
	return append(b, '}')
}

// fragment is a Fragment's Raw as Split built it.
type fragment struct {
	Contact json.RawMessage `json:"contact"`
	Message json.RawMessage `json:"message"`
	Status  json.RawMessage `json:"status"`
}

type waContact struct {
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
	WaID string `json:"wa_id"`
}

// maxContactRaw is the size past which a contact travels with its
// messages as only what Decode reads of it; real ones are about 80 bytes.
const maxContactRaw = 1024

// maxNameBytes bounds a compacted contact's profile name.
const maxNameBytes = 256

func (c waContact) compact() json.RawMessage {
	name := c.Profile.Name
	if len(name) > maxNameBytes {
		name = strings.ToValidUTF8(name[:maxNameBytes], "")
	}
	c.Profile.Name = name
	b, _ := json.Marshal(c) // strings only: cannot fail
	return b
}

type waMessage struct {
	From      string      `json:"from"`
	ID        string      `json:"id"`
	Timestamp json.Number `json:"timestamp"`
	Type      string      `json:"type"`
	Text      *struct {
		Body string `json:"body"`
	} `json:"text"`
	Image    *waMedia `json:"image"`
	Video    *waMedia `json:"video"`
	Audio    *waMedia `json:"audio"`
	Document *waMedia `json:"document"`
	Sticker  *waMedia `json:"sticker"`
	Location *struct {
		Latitude  json.Number `json:"latitude"`
		Longitude json.Number `json:"longitude"`
		Name      string      `json:"name"`
		Address   string      `json:"address"`
		URL       string      `json:"url"`
	} `json:"location"`
	Interactive *struct {
		Type        string   `json:"type"`
		ButtonReply *waReply `json:"button_reply"`
		ListReply   *waReply `json:"list_reply"`
	} `json:"interactive"`
	// Button is a tap on a template's quick-reply button.
	Button *struct {
		Text string `json:"text"`
	} `json:"button"`
	Test *string `json:"switchboard_test"`
}

type waMedia struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type"`
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
}

type waReply struct {
	Title string `json:"title"`
}

type waStatus struct {
	ID          string      `json:"id"`
	Status      string      `json:"status"`
	Timestamp   json.Number `json:"timestamp"`
	RecipientID string      `json:"recipient_id"`
	Errors      []struct {
		Title     string `json:"title"`
		Message   string `json:"message"`
		ErrorData struct {
			Details string `json:"details"`
		} `json:"error_data"`
	} `json:"errors"`
}

// Decode turns one Fragment's Raw from Split into an Event; an error
// (ErrMalformed) means it cannot be read at all.
func Decode(raw []byte) (*inbound.Event, error) {
	var f fragment
	if err := graphapi.DecodeWebhook(raw, &f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var (
		ev  *inbound.Event
		err error
	)
	switch {
	case !isNull(f.Message):
		ev, err = decodeMessage(f.Contact, f.Message)
	case !isNull(f.Status):
		ev, err = decodeStatus(f.Status)
	default:
		err = errors.New("neither a message nor a status")
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return ev, nil
}

func decodeMessage(rawContact, rawMessage json.RawMessage) (*inbound.Event, error) {
	var m waMessage
	if err := json.Unmarshal(rawMessage, &m); err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	at, err := seconds(m.Timestamp)
	if err != nil {
		return nil, fmt.Errorf("message timestamp: %w", err)
	}
	if m.Test != nil {
		return &inbound.Event{Kind: inbound.Ignore, Test: true, At: at}, nil
	}
	if m.ID == "" {
		return nil, errors.New("message without id")
	}
	var c waContact
	if !isNull(rawContact) {
		if err := json.Unmarshal(rawContact, &c); err != nil {
			return nil, fmt.Errorf("contact: %w", err)
		}
	}
	contact := inbound.Contact{ExternalID: c.WaID, Name: c.Profile.Name}
	if contact.ExternalID == "" {
		contact.ExternalID = m.From
	}
	// wa_id is the number's digits; anything else (a future non-phone
	// identity) must not be passed off as a phone number.
	if isDigits(contact.ExternalID) {
		contact.Phone = "+" + contact.ExternalID
	}

	msg := &inbound.Message{ExternalID: m.ID, Direction: inbound.Inbound, Kind: "OTHER", SentAt: at}
	media := func(kind, attType string, md *waMedia) {
		msg.Kind = kind
		if md == nil {
			return
		}
		msg.Text = md.Caption
		msg.Attachments = []schematype.Attachment{{Type: attType, PlatformFileID: md.ID, MimeType: md.MimeType, Name: md.Filename}}
	}
	switch m.Type {
	case "text":
		msg.Kind = "TEXT"
		if m.Text != nil {
			msg.Text = m.Text.Body
		}
	case "image":
		media("IMAGE", "image", m.Image)
	case "video":
		media("VIDEO", "video", m.Video)
	case "audio":
		media("AUDIO", "audio", m.Audio)
	case "document":
		media("FILE", "file", m.Document)
	case "sticker":
		media("STICKER", "sticker", m.Sticker)
	case "location":
		msg.Kind = "LOCATION"
		if l := m.Location; l != nil {
			att := schematype.Attachment{Type: "location", Name: l.Name, URL: l.URL}
			if att.Latitude, err = graphapi.Coordinate(l.Latitude); err != nil {
				return nil, fmt.Errorf("location latitude: %w", err)
			}
			if att.Longitude, err = graphapi.Coordinate(l.Longitude); err != nil {
				return nil, fmt.Errorf("location longitude: %w", err)
			}
			msg.Attachments = []schematype.Attachment{att}
			msg.Text = joinNonEmpty("\n", l.Name, l.Address)
		}
	case "interactive":
		// A tapped reply button or list row reads in the conversation as
		// what the customer said; its id is ours and means nothing to an agent.
		if in := m.Interactive; in != nil {
			switch {
			case in.Type == "button_reply" && in.ButtonReply != nil:
				msg.Kind, msg.Text = "TEXT", in.ButtonReply.Title
			case in.Type == "list_reply" && in.ListReply != nil:
				msg.Kind, msg.Text = "TEXT", in.ListReply.Title
			}
		}
	case "button":
		if m.Button != nil {
			msg.Kind, msg.Text = "TEXT", m.Button.Text
		}
	}
	return &inbound.Event{Kind: inbound.NewMessage, Contact: contact, Message: msg, At: at}, nil
}

func decodeStatus(raw json.RawMessage) (*inbound.Event, error) {
	var s waStatus
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	if s.ID == "" {
		return nil, errors.New("status without id")
	}
	at, err := seconds(s.Timestamp)
	if err != nil {
		return nil, fmt.Errorf("status timestamp: %w", err)
	}
	ev := &inbound.Event{Kind: inbound.Ignore, Contact: inbound.Contact{ExternalID: s.RecipientID}, At: at}
	var status string
	switch s.Status {
	case "sent":
		status = "SENT"
	case "delivered":
		status = "DELIVERED"
	case "read":
		status = "READ"
	case "failed":
		status = "FAILED"
	default:
		// Statuses such as "deleted" do not move an outbound message forward.
		return ev, nil
	}
	r := &inbound.ReceiptInfo{Status: status, MessageIDs: []string{s.ID}}
	if status == "FAILED" && len(s.Errors) > 0 {
		e := s.Errors[0]
		// Meta often repeats the title as the message; the details then
		// say more, so the first text that adds something is kept.
		detail := ""
		for _, d := range []string{e.Message, e.ErrorData.Details} {
			if d != "" && !strings.EqualFold(d, e.Title) {
				detail = d
				break
			}
		}
		r.Error = joinNonEmpty(": ", e.Title, detail)
	}
	ev.Kind, ev.Receipt = inbound.Receipt, r
	return ev, nil
}

// TestEvent returns a complete webhook body for phoneNumberID carrying one
// synthetic message, for testWebhook to push through the same path as a
// real delivery: Split gives it DedupKey "test:<nonce>" and Decode an Event
// with Test set. Its type is none Decode knows and it names no sender, so
// even a reader unaware of the marker has nothing to act on.
func TestEvent(phoneNumberID, nonce string) []byte {
	type message struct {
		Timestamp string `json:"timestamp"`
		Type      string `json:"type"`
		Test      string `json:"switchboard_test"`
	}
	type value struct {
		MessagingProduct string `json:"messaging_product"`
		Metadata         struct {
			PhoneNumberID string `json:"phone_number_id"`
		} `json:"metadata"`
		Messages []message `json:"messages"`
	}
	type change struct {
		Value value  `json:"value"`
		Field string `json:"field"`
	}
	type entry struct {
		Changes []change `json:"changes"`
	}
	v := value{MessagingProduct: "whatsapp", Messages: []message{{
		Timestamp: strconv.FormatInt(time.Now().Unix(), 10),
		Type:      inbound.TestMarker,
		Test:      nonce,
	}}}
	v.Metadata.PhoneNumberID = phoneNumberID
	body, err := json.Marshal(struct {
		Object string  `json:"object"`
		Entry  []entry `json:"entry"`
	}{"whatsapp_business_account", []entry{{Changes: []change{{Value: v, Field: "messages"}}}}})
	if err != nil {
		// Only strings go in; Marshal cannot fail on them.
		panic(err)
	}
	return body
}

// seconds reads a Unix time in seconds, which the Cloud API sends as a
// string; an absent one is the zero time.
func seconds(n json.Number) (time.Time, error) {
	if n == "" {
		return time.Time{}, nil
	}
	v, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(v, 0).UTC(), nil
}

func joinNonEmpty(sep string, parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, sep)
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}
