package zalo

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/inbound"
)

// SignatureHeader carries Zalo's "mac=<hex>" over a webhook body.
const SignatureHeader = "X-ZEvent-Signature"

// ErrMalformed wraps every error Peek, Split and Decode return, so the
// webhook edge can tell a body it must refuse from its own failures.
var ErrMalformed = errors.New("zalo: malformed webhook event")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Envelope is the little the webhook edge reads BEFORE verifying: enough to
// find the OA, whose secret key verifies the signature. Nothing in it can be
// trusted until Verify says so.
type Envelope struct {
	AppID string
	// Timestamp is the body's timestamp as written, because the signature
	// covers that text and not the number it stands for.
	Timestamp string
	EventName string
	OAID      string
}

// Peek reads the envelope of a webhook body without verifying it.
func Peek(body []byte) (*Envelope, error) {
	o, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	return peek(o)
}

func peek(o object) (*Envelope, error) {
	var env Envelope
	for _, f := range []struct {
		key string
		dst *string
	}{{"app_id", &env.AppID}, {"timestamp", &env.Timestamp}, {"event_name", &env.EventName}} {
		v, err := o.text(f.key)
		if err != nil {
			return nil, err
		}
		if v == "" {
			return nil, malformed("missing %s", f.key)
		}
		*f.dst = v
	}
	id, err := oaID(o, env.EventName)
	if err != nil {
		return nil, err
	}
	env.OAID = id
	return &env, nil
}

// oaID finds the OA an event belongs to. Only group, chat-now and widget
// events are known to carry oa_id; on message and status events the OA is
// whichever party the user is not.
func oaID(o object, event string) (string, error) {
	id, err := o.text("oa_id")
	if err != nil || id != "" {
		return id, err
	}
	party := "recipient"
	if oaIsSender(event) {
		party = "sender"
	}
	id, err = o.text(party, "id")
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", malformed("%s: no oa_id and no %s.id to tell the OA", event, party)
	}
	return id, nil
}

// oaIsSender reports the events the OA originates. Delivery and read
// receipts count: Zalo reports them as the OA's message reaching the user.
func oaIsSender(event string) bool {
	return strings.HasPrefix(event, "oa_") || event == evReceived || event == evSeen
}

// Sign computes the X-ZEvent-Signature value of a body. Zalo uses a plain
// SHA-256 over the concatenation, not an HMAC, keyed by the OA secret key
// (not the app secret).
func Sign(appID string, body []byte, timestamp, oaSecretKey string) string {
	h := sha256.New()
	io.WriteString(h, appID)
	h.Write(body)
	io.WriteString(h, timestamp)
	io.WriteString(h, oaSecretKey)
	return macPrefix + hex.EncodeToString(h.Sum(nil))
}

const macPrefix = "mac="

// ErrBadSignature is Verify's answer to a request the OA's key did not sign.
var ErrBadSignature = errors.New("missing or wrong " + SignatureHeader)

// Verify checks that the SignatureHeader of a request is the signature of
// body under oaSecretKey. The hex may be in either case; nothing else is
// forgiven, since Zalo sends exactly what Sign makes. The app id and
// timestamp the signature covers are read from the body itself.
func Verify(h http.Header, body []byte, oaSecretKey string) error {
	header := h.Get(SignatureHeader)
	env, err := Peek(body)
	if err != nil || oaSecretKey == "" || header == "" {
		return ErrBadSignature
	}
	got, ok := strings.CutPrefix(header, macPrefix)
	if !ok {
		return ErrBadSignature
	}
	want := Sign(env.AppID, body, env.Timestamp, oaSecretKey)[len(macPrefix):]
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(got)), []byte(want)) != 1 {
		return ErrBadSignature
	}
	return nil
}

// Event names with their own handling.
const (
	evReceived     = "user_received_message"
	evSeen         = "user_seen_message"
	evFollow       = "follow"
	evUnfollow     = "unfollow"
	evSubmitInfo   = "user_submit_info"
	evWidgetOK     = "widget_interaction_accepted"
	evWidgetFailed = "widget_failed_to_sync_user_external_id"
)

// Split makes the one fragment a Zalo webhook body holds: Zalo sends one
// event per request.
func Split(body []byte) ([]inbound.Fragment, error) {
	o, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	env, err := peek(o)
	if err != nil {
		return nil, err
	}
	return []inbound.Fragment{{
		Type:     env.EventName,
		DedupKey: dedupKey(o, env, body),
		Account:  env.OAID,
		Thread:   thread(o, env.EventName),
		Raw:      body,
	}}, nil
}

// customer is where an event names the user it concerns, the customer on
// either side of the OA: the sender of what users send, the recipient of
// the OA's echoes and of receipts, the follower. nil: the event concerns no
// customer, or names them elsewhere (the widget events: widgetUserID).
func customer(name string) []string {
	if dir, _, ok := messageEvent(name); ok {
		if dir == inbound.Outbound {
			return []string{"recipient", "id"}
		}
		return []string{"sender", "id"}
	}
	switch name {
	case evReceived, evSeen:
		return []string{"recipient", "id"}
	case evFollow, evUnfollow:
		return []string{"follower", "id"}
	case evSubmitInfo:
		return []string{"sender", "id"}
	}
	return nil
}

// thread is the customer an event concerns, "" when it names none.
func thread(o object, name string) string {
	var id string
	switch path := customer(name); {
	case path != nil:
		id, _ = o.text(path...)
	case name == evWidgetOK || name == evWidgetFailed:
		id, _ = widgetUserID(o)
	}
	return id
}

// dedupKey names the event so that Zalo's retries of it, which repeat the
// body, add nothing. Where the event lacks what its key is built from, it
// falls back to a hash of the body: a retry still matches, and the event is
// not lost to a key it would share with others (Decode reports the defect).
func dedupKey(o object, env *Envelope, body []byte) string {
	if nonce, ok := testNonce(o); ok {
		return "test:" + nonce
	}
	ev, ts := env.EventName, env.Timestamp
	lookup := func(path ...string) string {
		s, _ := o.text(path...)
		return s
	}
	switch {
	case isMessageEvent(ev):
		if id := lookup("message", "msg_id"); id != "" {
			return "msg:" + id
		}
	case ev == evReceived:
		if id := lookup("message", "msg_id"); id != "" {
			return "received:" + id
		}
	case ev == evSeen:
		if ids, _ := seenIDs(o); len(ids) > 0 {
			// Sorted so the key does not depend on the order Zalo lists them.
			ids = slices.Sorted(slices.Values(ids))
			return "seen:" + strings.Join(ids, ",")
		}
	case ev == evFollow || ev == evUnfollow:
		if id := lookup("follower", "id"); id != "" {
			return ev + ":" + id + ":" + ts
		}
	case ev == evSubmitInfo:
		if id := lookup("sender", "id"); id != "" {
			return "info:" + id + ":" + ts
		}
	case ev == evWidgetOK || ev == evWidgetFailed:
		if id, _ := widgetUserID(o); id != "" {
			return ev + ":" + id + ":" + ts
		}
	}
	sum := sha256.Sum256(body)
	return ev + ":" + ts + ":" + hex.EncodeToString(sum[:8])
}

func isMessageEvent(ev string) bool {
	return strings.HasPrefix(ev, "user_send_") || strings.HasPrefix(ev, "oa_send_") || strings.HasPrefix(ev, "anonymous_")
}

// testNonce finds the marker of a synthetic event from TestEvent. Any value
// marks it; the nonce is its text so the key stays readable.
func testNonce(o object) (string, bool) {
	raw, ok := o[inbound.TestMarker]
	if !ok {
		return "", false
	}
	var s flexString
	if err := json.Unmarshal(raw, &s); err != nil {
		return string(raw), true
	}
	return string(s), true
}

// seenIDs reads the message ids of a read receipt, accepting a lone msg_id
// as well, since the list form is documented only by secondary sources.
func seenIDs(o object) ([]string, error) {
	var m struct {
		MsgID  flexString   `json:"msg_id"`
		MsgIDs []flexString `json:"msg_ids"`
	}
	if _, err := o.into("message", &m); err != nil {
		return nil, err
	}
	var ids []string
	for _, id := range m.MsgIDs {
		if id != "" {
			ids = append(ids, string(id))
		}
	}
	if len(ids) == 0 && m.MsgID != "" {
		ids = append(ids, string(m.MsgID))
	}
	return ids, nil
}

// widgetUserID reads the user of a widget event: documented inside data,
// with the top-level user_id other OA events use as a fallback.
func widgetUserID(o object) (string, error) {
	id, err := o.text("data", "user_id")
	if err != nil || id != "" {
		return id, err
	}
	return o.text("user_id")
}

// requiredWidgetUser reads the user a widget event is about, which it cannot do without.
func requiredWidgetUser(o object, event string) (string, error) {
	user, err := widgetUserID(o)
	if err != nil {
		return "", err
	}
	if user == "" {
		return "", malformed("%s: missing data.user_id", event)
	}
	return user, nil
}

// messageType is what an event's name says about the message it carries.
type messageType struct {
	kind string
	// attachment is the attachment type assumed when an attachment's own
	// type is missing or unknown; empty means such attachments are dropped.
	attachment string
}

var messageTypes = map[string]messageType{
	"text":          {"TEXT", ""},
	"link":          {"TEXT", "link"},
	"business_card": {"TEXT", ""},
	"image":         {"IMAGE", "image"},
	"gif":           {"IMAGE", "gif"},
	"audio":         {"AUDIO", "audio"},
	"video":         {"VIDEO", "video"},
	"sticker":       {"STICKER", "sticker"},
	"location":      {"LOCATION", "location"},
	"file":          {"FILE", "file"},
	"list":          {"OTHER", ""},
	"template":      {"OTHER", ""},
}

// The message types each side can send. Anything else under these
// prefixes (group messages, call consent) is not a conversation message.
var (
	userSends = []string{"text", "image", "link", "audio", "video", "sticker", "gif", "location", "file", "business_card"}
	oaSends   = []string{"text", "image", "gif", "list", "file", "sticker", "template"}
)

// messageEvent tells the direction and type of a message event.
func messageEvent(ev string) (inbound.Direction, messageType, bool) {
	if suffix, ok := strings.CutPrefix(ev, "user_send_"); ok && slices.Contains(userSends, suffix) {
		return inbound.Inbound, messageTypes[suffix], true
	}
	if suffix, ok := strings.CutPrefix(ev, "oa_send_"); ok && slices.Contains(oaSends, suffix) {
		return inbound.Outbound, messageTypes[suffix], true
	}
	return "", messageType{}, false
}

// Decode turns a journaled fragment into an Event. Events Switchboard has no
// use for decode to Ignore; an error means the body is not a Zalo event or
// lacks what its kind needs.
func Decode(raw []byte) (*inbound.Event, error) {
	o, err := parseObject(raw)
	if err != nil {
		return nil, err
	}
	ts, err := o.text("timestamp")
	if err != nil {
		return nil, err
	}
	if _, ok := testNonce(o); ok {
		// A test event is never processed, so a bad clock on it is no reason
		// to fail it.
		at, _ := parseMillis(ts)
		return &inbound.Event{Kind: inbound.Ignore, Test: true, At: at}, nil
	}
	name, err := o.text("event_name")
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, malformed("missing event_name")
	}
	at, err := parseMillis(ts)
	if err != nil {
		return nil, err
	}
	ev := &inbound.Event{At: at}

	if dir, mt, ok := messageEvent(name); ok {
		return decodeMessage(o, ev, customer(name), dir, mt)
	}
	switch name {
	case evReceived, evSeen:
		// The OA sent the message, so the user is the recipient.
		user, err := required(o, customer(name)...)
		if err != nil {
			return nil, err
		}
		r := &inbound.ReceiptInfo{Status: "DELIVERED"}
		if name == evSeen {
			r.Status = "READ"
			if r.MessageIDs, err = seenIDs(o); err != nil {
				return nil, err
			}
			if len(r.MessageIDs) == 0 {
				return nil, malformed("%s: missing message.msg_ids", name)
			}
		} else {
			id, err := required(o, "message", "msg_id")
			if err != nil {
				return nil, err
			}
			r.MessageIDs = []string{id}
		}
		ev.Kind, ev.Contact.ExternalID, ev.Receipt = inbound.Receipt, user, r
	case evFollow, evUnfollow:
		user, err := required(o, customer(name)...)
		if err != nil {
			return nil, err
		}
		ev.Kind, ev.Contact.ExternalID = inbound.Follow, user
		if name == evUnfollow {
			ev.Kind = inbound.Unfollow
		}
	case evSubmitInfo:
		user, err := required(o, customer(name)...)
		if err != nil {
			return nil, err
		}
		var info struct {
			Name  string     `json:"name"`
			Phone flexString `json:"phone"`
		}
		if _, err := o.into("info", &info); err != nil {
			return nil, err
		}
		ev.Kind = inbound.ContactInfo
		ev.Contact = inbound.Contact{ExternalID: user, Name: strings.TrimSpace(info.Name), Phone: strings.TrimSpace(string(info.Phone))}
	case evWidgetOK:
		user, err := requiredWidgetUser(o, name)
		if err != nil {
			return nil, err
		}
		ext, err := o.text("data", "user_external_id")
		if err != nil {
			return nil, err
		}
		ev.Kind = inbound.Consent
		ev.Contact = inbound.Contact{ExternalID: user, CustomerID: strings.TrimSpace(ext)}
	case evWidgetFailed:
		user, err := requiredWidgetUser(o, name)
		if err != nil {
			return nil, err
		}
		// The user_external_id it carries is the one Zalo refused: it is
		// deliberately not taken as the customer's id.
		reason, err := o.text("data", "message")
		if err != nil {
			return nil, err
		}
		if reason = strings.TrimSpace(reason); reason == "" {
			reason = "Zalo did not sync user_external_id and gave no reason"
		}
		ev.Kind, ev.Contact.ExternalID, ev.Reason = inbound.CustomerIDRefused, user, reason
	default:
		// Everything else changes no conversation and no contact.
		ev.Kind = inbound.Ignore
	}
	return ev, nil
}

type wireMessage struct {
	MsgID       flexString       `json:"msg_id"`
	Text        string           `json:"text"`
	Attachments []wireAttachment `json:"attachments"`
	// Location is where some user_send_location events carry the place
	// instead of an attachment: seen in the wild, in no Zalo document. It
	// is read apart, so that a shape we do not know costs the location,
	// not the message.
	Location json.RawMessage `json:"location"`
}

// wireLocation is message.location. Its spelling is not documented, so
// the coordinates are read as the attachment spells them or as lat and
// long (lng), the alternatives readers of these events handle.
type wireLocation struct {
	Latitude  flexString `json:"latitude"`
	Longitude flexString `json:"longitude"`
	Lat       flexString `json:"lat"`
	Long      flexString `json:"long"`
	Lng       flexString `json:"lng"`
	Name      string     `json:"name"`
	Address   string     `json:"address"`
}

// attachment maps the location, unless its coordinates are unusable.
func (l *wireLocation) attachment() (schematype.Attachment, bool) {
	lat, okLat := coordinate(cmp.Or(l.Latitude, l.Lat), 90)
	lon, okLon := coordinate(cmp.Or(l.Longitude, l.Long, l.Lng), 180)
	if !okLat || !okLon {
		return schematype.Attachment{}, false
	}
	return schematype.Attachment{Type: "location", Name: cmp.Or(l.Name, l.Address), Latitude: &lat, Longitude: &lon}, true
}

type wireAttachment struct {
	Type    string      `json:"type"`
	Payload wirePayload `json:"payload"`
}

// wirePayload is the union of the attachment payloads Zalo documents. Every
// scalar is a flexString because Zalo writes numbers as strings or not at
// whim (file sizes, coordinates).
type wirePayload struct {
	URL         flexString `json:"url"`
	Description string     `json:"description"`
	ID          flexString `json:"id"`
	Name        string     `json:"name"`
	Size        flexString `json:"size"`
	Type        string     `json:"type"`
	Coordinates struct {
		Latitude  flexString `json:"latitude"`
		Longitude flexString `json:"longitude"`
	} `json:"coordinates"`
}

func decodeMessage(o object, ev *inbound.Event, party []string, dir inbound.Direction, mt messageType) (*inbound.Event, error) {
	user, err := required(o, party...)
	if err != nil {
		return nil, err
	}
	var m wireMessage
	found, err := o.into("message", &m)
	if err != nil {
		return nil, err
	}
	if !found || m.MsgID == "" {
		return nil, malformed("missing message.msg_id")
	}
	msg := &inbound.Message{
		ExternalID: string(m.MsgID),
		Direction:  dir,
		Kind:       mt.kind,
		Text:       m.Text,
		SentAt:     ev.At,
	}
	located := false
	for _, a := range m.Attachments {
		if att, ok := attachment(a, mt.attachment); ok {
			msg.Attachments = append(msg.Attachments, att)
			located = located || att.Type == "location"
		}
	}
	var loc wireLocation
	if len(m.Location) > 0 && !located && json.Unmarshal(m.Location, &loc) == nil {
		if att, ok := loc.attachment(); ok {
			msg.Attachments = append(msg.Attachments, att)
		}
	}
	ev.Kind, ev.Contact.ExternalID, ev.Message = inbound.NewMessage, user, msg
	return ev, nil
}

// attachment maps one Zalo attachment, trusting its own type over the
// event's because the type is what shapes the payload. It drops attachments
// that point at nothing, which no one could open.
func attachment(a wireAttachment, fallback string) (schematype.Attachment, bool) {
	t := a.Type
	switch t {
	case "image", "gif", "audio", "video", "sticker", "location", "file", "link":
	default:
		t = fallback
	}
	p := a.Payload
	url := string(p.URL)
	var att schematype.Attachment
	switch t {
	case "image", "audio", "video":
		att = schematype.Attachment{Type: t, URL: url}
	case "gif":
		// Our vocabulary has no gif; it displays as an image, and the media
		// type keeps it from being re-encoded as a still.
		att = schematype.Attachment{Type: "image", URL: url, MimeType: "image/gif"}
	case "sticker":
		att = schematype.Attachment{Type: "sticker", URL: url, PlatformFileID: string(p.ID)}
	case "link":
		att = schematype.Attachment{Type: "link", URL: url, Name: p.Description}
	case "file":
		att = schematype.Attachment{Type: "file", URL: url, Name: p.Name, MimeType: mediaType(p.Type)}
		// A size that does not parse is only a missing detail; the file is
		// still worth keeping.
		if n, err := strconv.ParseInt(strings.TrimSpace(string(p.Size)), 10, 64); err == nil && n > 0 {
			att.Size = n
		}
	case "location":
		lat, okLat := coordinate(p.Coordinates.Latitude, 90)
		lon, okLon := coordinate(p.Coordinates.Longitude, 180)
		if !okLat || !okLon {
			return att, false
		}
		return schematype.Attachment{Type: "location", Latitude: &lat, Longitude: &lon}, true
	default:
		return att, false
	}
	return att, att.URL != "" || att.PlatformFileID != ""
}

// coordinate parses a latitude or longitude. Infinities and NaN are refused
// as well as out-of-range values: the attachment is stored as JSON, which
// cannot hold them.
func coordinate(s flexString, limit float64) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(string(s)), 64)
	if err != nil || math.IsNaN(f) || math.Abs(f) > limit {
		return 0, false
	}
	return f, true
}

// mediaType keeps a file's type only when it is a media type: Zalo's own
// docs leave open whether it sends one or a bare extension.
func mediaType(s string) string {
	if !strings.Contains(s, "/") {
		return ""
	}
	mt, _, err := mime.ParseMediaType(s)
	if err != nil {
		return ""
	}
	return mt
}

// parseMillis reads Zalo's timestamp: milliseconds since the epoch.
func parseMillis(ts string) (time.Time, error) {
	if ts == "" {
		return time.Time{}, malformed("missing timestamp")
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, malformed("timestamp %q is not milliseconds", ts)
	}
	return time.UnixMilli(n).UTC(), nil
}

// required reads a value the event cannot do without.
func required(o object, path ...string) (string, error) {
	s, err := o.text(path...)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", malformed("missing %s", strings.Join(path, "."))
	}
	return s, nil
}

// TestEvent builds the synthetic event testWebhook sends through a Zalo
// connection's own webhook: a user_send_text to the OA carrying the test
// marker, so every step up to the journal runs as for a real one. The
// returned timestamp is the one to sign it with.
func TestEvent(appID, oaID, nonce string) (body []byte, timestamp string) {
	timestamp = strconv.FormatInt(time.Now().UnixMilli(), 10)
	body, err := json.Marshal(map[string]any{
		"app_id":           appID,
		"event_name":       "user_send_text",
		"sender":           map[string]string{"id": testSenderID},
		"recipient":        map[string]string{"id": oaID},
		"message":          map[string]string{"msg_id": "test-" + nonce, "text": "Switchboard webhook test"},
		"timestamp":        timestamp,
		inbound.TestMarker: nonce,
	})
	if err != nil {
		// Only strings go in, which always marshal.
		panic("zalo: " + err.Error())
	}
	return body, timestamp
}

// testSenderID stands in for the user of a test event; it cannot collide with
// a real Zalo user id, which is all digits.
const testSenderID = "switchboard-test"

// object is a JSON object with its members left undecoded, so each is read
// only when needed: a shape Zalo changes in a field we do not use cannot
// break an event. Member names match exactly, as in Zalo's own encoding.
type object map[string]json.RawMessage

func parseObject(body []byte) (object, error) {
	var o object
	if err := json.Unmarshal(body, &o); err != nil {
		return nil, malformed("not a JSON object: %v", err)
	}
	if o == nil {
		return nil, malformed("not a JSON object")
	}
	return o, nil
}

// text reads the string or number at path as written; "" when any step is
// absent or null.
func (o object) text(path ...string) (string, error) {
	cur := o
	for i, key := range path {
		raw, ok := cur[key]
		if !ok {
			return "", nil
		}
		if i == len(path)-1 {
			var s flexString
			if err := json.Unmarshal(raw, &s); err != nil {
				return "", malformed("%s: want a string or number", strings.Join(path, "."))
			}
			return string(s), nil
		}
		cur = nil
		if err := json.Unmarshal(raw, &cur); err != nil {
			return "", malformed("%s: not an object", strings.Join(path[:i+1], "."))
		}
	}
	return "", nil
}

// into decodes the member key into v, reporting whether it was there.
func (o object) into(key string, v any) (bool, error) {
	raw, ok := o[key]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, malformed("%s: %v", key, err)
	}
	return true, nil
}
