package telegram

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/inbound"
)

// SecretHeader is the header Telegram sends the webhook secret_token in.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// ErrMalformed is wrapped by every error Split and Decode return: the body is
// not an update we can read, and sending it again will not change that.
var ErrMalformed = errors.New("malformed telegram update")

// ErrBadSecret is Verify's answer to a delivery without the right secret token.
var ErrBadSecret = errors.New("missing or wrong secret token")

// Verify checks that the SecretHeader of a delivery is the secret_token the
// webhook was set with (the body carries no signature). An empty secret
// never matches, so a connection whose secret was lost cannot be fed by
// anyone who omits the header.
func Verify(h http.Header, _ []byte, secret string) error {
	if secret == "" {
		return ErrBadSecret
	}
	// ConstantTimeCompare returns early on a length mismatch; comparing
	// digests keeps the secret's length from leaking too.
	g, w := sha256.Sum256([]byte(h.Get(SecretHeader))), sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(g[:], w[:]) != 1 {
		return ErrBadSecret
	}
	return nil
}

// Split turns one webhook request into its fragment: Telegram delivers one
// update per request, so there is exactly one, carrying the whole body.
func Split(body []byte) ([]inbound.Fragment, error) {
	fields, err := topLevel(body)
	if err != nil {
		return nil, err
	}
	id, ok := fields["update_id"]
	if !ok {
		return nil, fmt.Errorf("%w: no update_id", ErrMalformed)
	}
	updateID, err := integer(id)
	if err != nil {
		return nil, fmt.Errorf("%w: update_id: %v", ErrMalformed, err)
	}
	key := "update:" + updateID
	if marker, ok := fields[inbound.TestMarker]; ok {
		// Test updates get a key of their own so that they can never shadow,
		// or be shadowed by, a real update_id.
		var nonce string
		if err := json.Unmarshal(marker, &nonce); err != nil {
			return nil, fmt.Errorf("%w: %s is not a string", ErrMalformed, inbound.TestMarker)
		}
		key = "test:" + nonce
	}
	typ := updateType(fields)
	return []inbound.Fragment{{Type: typ, DedupKey: key, Thread: thread(fields[typ]), Raw: body}}, nil
}

// thread names the chat an update is in, the contact Decode makes of it:
// the message's chat, or the chat of the message a button was on. An
// update without one (or one that would not decode) has no thread.
func thread(payload json.RawMessage) string {
	type chat struct {
		ID json.RawMessage `json:"id"`
	}
	var p struct {
		Chat    chat `json:"chat"`
		Message struct {
			Chat chat `json:"chat"`
		} `json:"message"`
	}
	if len(payload) == 0 || json.Unmarshal(payload, &p) != nil {
		return ""
	}
	id := p.Chat.ID
	if id == nil {
		id = p.Message.Chat.ID
	}
	s, _ := integer(id)
	return s
}

// updateType names the update's payload field. Telegram keeps adding update
// types, so any object-valued field counts rather than a fixed list; sorting
// keeps the choice stable for the (never seen) body with two of them.
func updateType(fields map[string]json.RawMessage) string {
	var names []string
	for name, v := range fields {
		if name == "update_id" || name == inbound.TestMarker {
			continue
		}
		if v = bytes.TrimSpace(v); len(v) > 0 && v[0] == '{' {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "unknown"
	}
	slices.Sort(names)
	return names[0]
}

// TestEvent returns a synthetic update for testing a connection's webhook
// end to end. Its update_id is negative, which Telegram never uses, and
// derived from nonce so that a replay of the same test is still one update.
func TestEvent(nonce string) []byte {
	h := fnv.New64a()
	h.Write([]byte(nonce))
	// 52 bits keep the id exact in any JSON reader, including JavaScript's.
	id := -int64(h.Sum64()&(1<<52-1)) - 1
	body, err := json.Marshal(map[string]any{"update_id": id, inbound.TestMarker: nonce})
	if err != nil {
		// A map of an int64 and a string always marshals.
		panic(err)
	}
	return body
}

// Decode turns a journaled update into an Event. Only message,
// edited_message and callback_query concern a conversation; every other
// update type is Ignore.
func Decode(raw []byte) (*inbound.Event, error) {
	fields, err := topLevel(raw)
	if err != nil {
		return nil, err
	}
	if _, ok := fields[inbound.TestMarker]; ok {
		return &inbound.Event{Test: true, Kind: inbound.Ignore}, nil
	}
	for _, u := range []struct {
		field string
		kind  inbound.Kind
	}{{"message", inbound.NewMessage}, {"edited_message", inbound.EditMessage}} {
		payload, ok := fields[u.field]
		if !ok {
			continue
		}
		var m wireMessage
		if err := json.Unmarshal(payload, &m); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, u.field, err)
		}
		ev, err := m.event(u.kind)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, u.field, err)
		}
		return ev, nil
	}
	if payload, ok := fields["callback_query"]; ok {
		var q wireCallbackQuery
		if err := json.Unmarshal(payload, &q); err != nil {
			return nil, fmt.Errorf("%w: callback_query: %v", ErrMalformed, err)
		}
		ev, err := q.event()
		if err != nil {
			return nil, fmt.Errorf("%w: callback_query: %v", ErrMalformed, err)
		}
		return ev, nil
	}
	return &inbound.Event{Kind: inbound.Ignore}, nil
}

// topLevel reads body as a JSON object. json.Unmarshal accepts "null" into a
// map without error, hence the nil check.
func topLevel(body []byte) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, fmt.Errorf("%w: body is not a JSON object", ErrMalformed)
	}
	return fields, nil
}

// integer returns the JSON integer v as written. Ids stay text because chat
// ids can exceed what float64 holds exactly, and no range is imposed so that
// Telegram widening them breaks nothing. A quoted number is refused: it is
// not what Telegram sends, and "10" and 10 must not become two spellings of
// one key.
func integer(v json.RawMessage) (string, error) {
	s := string(bytes.TrimSpace(v))
	if s == "" {
		return "", errors.New("missing")
	}
	digits := strings.TrimPrefix(s, "-")
	ok := digits != ""
	for i := 0; ok && i < len(digits); i++ {
		ok = digits[i] >= '0' && digits[i] <= '9'
	}
	if !ok {
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		return "", fmt.Errorf("%s is not an integer", s)
	}
	return s, nil
}

// wireMessage is the part of Telegram's Message we read. Ids are kept raw so
// that they are never rounded through float64.
type wireMessage struct {
	MessageID  json.RawMessage `json:"message_id"`
	Date       int64           `json:"date"`
	EditDate   int64           `json:"edit_date"`
	Chat       *wireChat       `json:"chat"`
	From       *wireUser       `json:"from"`
	SenderChat *wireChat       `json:"sender_chat"`
	Text       string          `json:"text"`
	Caption    string          `json:"caption"`
	Photo      []wirePhoto     `json:"photo"`
	Document   *wireFile       `json:"document"`
	Sticker    *wireSticker    `json:"sticker"`
	Location   *wireLocation   `json:"location"`
	Voice      *wireFile       `json:"voice"`
	Audio      *wireFile       `json:"audio"`
	Video      *wireFile       `json:"video"`
	VideoNote  *wireFile       `json:"video_note"`
}

type wireChat struct {
	ID        json.RawMessage `json:"id"`
	Title     string          `json:"title"`
	FirstName string          `json:"first_name"`
	LastName  string          `json:"last_name"`
}

// name is how the chat is shown: a group by its title, a person by name.
func (c *wireChat) name() string {
	if c.Title != "" {
		return c.Title
	}
	return strings.TrimSpace(c.FirstName + " " + c.LastName)
}

type wireUser struct {
	ID        json.RawMessage `json:"id"`
	FirstName string          `json:"first_name"`
	LastName  string          `json:"last_name"`
	Username  string          `json:"username"`
}

// wireCallbackQuery is a tap on an inline keyboard button. Message is the
// message the keyboard was on; it is absent when that message was sent in
// inline mode to a chat the bot may not be in (inline_message_id).
type wireCallbackQuery struct {
	ID            string       `json:"id"`
	From          *wireUser    `json:"from"`
	Message       *wireMessage `json:"message"`
	Data          string       `json:"data"`
	GameShortName string       `json:"game_short_name"`
}

// wireFile covers Document, Voice, Audio, Video and VideoNote, which share
// these fields; the ones a type lacks stay empty.
type wireFile struct {
	FileID   string `json:"file_id"`
	FileName string `json:"file_name"`
	MimeType string `json:"mime_type"`
	FileSize int64  `json:"file_size"`
}

type wirePhoto struct {
	FileID   string `json:"file_id"`
	Width    int64  `json:"width"`
	Height   int64  `json:"height"`
	FileSize int64  `json:"file_size"`
}

type wireSticker struct {
	FileID   string `json:"file_id"`
	Emoji    string `json:"emoji"`
	FileSize int64  `json:"file_size"`
}

type wireLocation struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

func (m *wireMessage) event(kind inbound.Kind) (*inbound.Event, error) {
	chatID, messageID, err := m.ids()
	if err != nil {
		return nil, err
	}
	// date is required by Telegram; without it the message would sort at
	// 1970 in its conversation.
	if m.Date <= 0 {
		return nil, errors.New("no date")
	}
	sentAt := time.Unix(m.Date, 0).UTC()
	at := sentAt
	var editedAt time.Time
	if kind == inbound.EditMessage && m.EditDate > 0 {
		editedAt = time.Unix(m.EditDate, 0).UTC()
		at = editedAt
	}
	text := m.Text
	if text == "" {
		text = m.Caption
	}
	msgKind, attachments := m.content()
	// Replies go to the chat, so the chat, not the sender, is the contact;
	// in a group the sender is the message's author.
	return &inbound.Event{
		Kind:    kind,
		Contact: inbound.Contact{ExternalID: chatID, Name: m.Chat.name()},
		Message: &inbound.Message{
			ExternalID:  externalID(chatID, messageID),
			Direction:   inbound.Inbound,
			Kind:        msgKind,
			Text:        text,
			Attachments: attachments,
			Author:      author(chatID, m.From, m.SenderChat),
			SentAt:      sentAt,
			EditedAt:    editedAt,
		},
		At: at,
	}, nil
}

// ids reads the chat and message ids every message has, even an
// inaccessible one (a callback query's message the bot can no longer see).
func (m *wireMessage) ids() (chatID, messageID string, err error) {
	if m.Chat == nil {
		return "", "", errors.New("no chat")
	}
	if chatID, err = integer(m.Chat.ID); err != nil {
		return "", "", fmt.Errorf("chat.id: %v", err)
	}
	if messageID, err = integer(m.MessageID); err != nil {
		return "", "", fmt.Errorf("message_id: %v", err)
	}
	return chatID, messageID, nil
}

// event turns a tapped button into the customer's message in the chat the
// keyboard was on, with the button's data as its text: Telegram sends the
// data, not the button's label. The update carries no time of the tap, so
// the message is dated when it arrives. A tap on a message sent in inline
// mode names no chat of the bot's, so there is no conversation to put it in.
func (q *wireCallbackQuery) event() (*inbound.Event, error) {
	if q.ID == "" {
		return nil, errors.New("no id")
	}
	if q.Message == nil {
		return &inbound.Event{Kind: inbound.Ignore}, nil
	}
	chatID, messageID, err := q.Message.ids()
	if err != nil {
		return nil, fmt.Errorf("message: %v", err)
	}
	text := q.Data
	if text == "" {
		text = q.GameShortName
	}
	kind := "TEXT"
	if text == "" {
		kind = "OTHER"
	}
	return &inbound.Event{
		Kind:    inbound.NewMessage,
		Contact: inbound.Contact{ExternalID: chatID, Name: q.Message.Chat.name()},
		Message: &inbound.Message{
			ExternalID: callbackID(chatID, messageID, q.ID),
			Direction:  inbound.Inbound,
			Kind:       kind,
			Text:       text,
			Author:     author(chatID, q.From, nil),
		},
		AnswerID: q.ID,
	}, nil
}

// author is who wrote in a chat that is not theirs alone: a member of a
// group, or the chat an anonymous admin or a linked channel wrote as (for
// whom Telegram also puts a placeholder user in from). It is nil in a
// private chat, whose writer is the chat itself, and when the sender's id
// cannot be read: the message matters more than its author.
func author(chatID string, from *wireUser, senderChat *wireChat) *schematype.MessageAuthor {
	var a schematype.MessageAuthor
	switch {
	case senderChat != nil:
		id, err := integer(senderChat.ID)
		if err != nil {
			return nil
		}
		a = schematype.MessageAuthor{ExternalID: id, Name: senderChat.name()}
	case from != nil:
		id, err := integer(from.ID)
		if err != nil {
			return nil
		}
		a = schematype.MessageAuthor{ExternalID: id, Name: strings.TrimSpace(from.FirstName + " " + from.LastName)}
		if a.Name == "" {
			a.Name = from.Username
		}
	default:
		return nil
	}
	if a.ExternalID == chatID {
		return nil
	}
	return &a
}

// content classifies the message. Animations also carry a document (Telegram
// keeps it for older clients), so they arrive as FILE.
func (m *wireMessage) content() (string, []schematype.Attachment) {
	switch {
	case len(m.Photo) > 0:
		p := largest(m.Photo)
		return "IMAGE", []schematype.Attachment{{Type: "image", PlatformFileID: p.FileID, Size: p.FileSize}}
	case m.Document != nil:
		return "FILE", []schematype.Attachment{m.Document.attachment("file")}
	case m.Sticker != nil:
		s := m.Sticker
		return "STICKER", []schematype.Attachment{{Type: "sticker", PlatformFileID: s.FileID, Name: s.Emoji, Size: s.FileSize}}
	case m.Location != nil:
		lat, lon := m.Location.Latitude, m.Location.Longitude
		return "LOCATION", []schematype.Attachment{{Type: "location", Latitude: &lat, Longitude: &lon}}
	case m.Voice != nil:
		return "AUDIO", []schematype.Attachment{m.Voice.attachment("audio")}
	case m.Audio != nil:
		return "AUDIO", []schematype.Attachment{m.Audio.attachment("audio")}
	case m.Video != nil:
		return "VIDEO", []schematype.Attachment{m.Video.attachment("video")}
	case m.VideoNote != nil:
		return "VIDEO", []schematype.Attachment{m.VideoNote.attachment("video")}
	case m.Text != "":
		return "TEXT", nil
	default:
		return "OTHER", nil
	}
}

// externalID names a message: message_id is unique only within its chat,
// and one bot talks to many chats.
func externalID(chatID, messageID string) string { return chatID + ":" + messageID }

// callbackID names the message a tapped button becomes. A callback query
// has no message id of its own; its id is unique, and the id of the message
// the keyboard was on in front of it keeps which message it answered.
func callbackID(chatID, messageID, queryID string) string {
	return externalID(chatID, messageID) + ":callback:" + queryID
}

func (f *wireFile) attachment(typ string) schematype.Attachment {
	return schematype.Attachment{Type: typ, Name: f.FileName, MimeType: f.MimeType, Size: f.FileSize, PlatformFileID: f.FileID}
}

// largest picks by pixel count rather than trusting that Telegram lists the
// sizes in ascending order; file_size breaks ties.
func largest(sizes []wirePhoto) wirePhoto {
	best := sizes[0]
	for _, p := range sizes[1:] {
		if a, b := p.Width*p.Height, best.Width*best.Height; a > b || a == b && p.FileSize > best.FileSize {
			best = p
		}
	}
	return best
}
