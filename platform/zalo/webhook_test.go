package zalo_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/inbound"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/platformtest"
	"github.com/switchboard-chat/switchboard/platform/zalo"
)

// The parties of the testdata bodies other than the verbatim sample. The
// user and OA ids do not survive a float64 round trip.
const (
	hookApp    = "2847561930475829163"
	hookOA     = "4318291638716923456"
	hookUser   = "7204918273645501928"
	hookTS     = "1718254123456"
	hookSecret = "OaS3cretK3y-9f2b"
)

var hookAt = time.UnixMilli(1718254123456).UTC()

// The verbatim user_send_text sample of the platform notes.
const (
	sampleApp    = "360846524940903967"
	sampleOA     = "388613280878808645"
	sampleUser   = "246845883529197922"
	sampleMsgID  = "96d3cdf3af150460909"
	sampleTS     = "154390853474"
	sampleMillis = 154390853474
)

func fixtureBody(t testing.TB, name string) []byte { return testkit.Fixture(t, "zalo", name+".json") }

// malformedEnvelopes are bodies no webhook edge may accept, whatever the
// signature says.
var malformedEnvelopes = []struct {
	name, body string
}{
	{"empty", ``},
	{"not json", `app_id=1&timestamp=2`},
	{"array", `[{"app_id":"1","timestamp":"2","event_name":"follow","oa_id":"3"}]`},
	{"null", `null`},
	{"string", `"user_send_text"`},
	{"trailing garbage", `{"app_id":"1","timestamp":"2","event_name":"follow","oa_id":"3"} x`},
	{"missing app_id", `{"timestamp":"2","event_name":"follow","oa_id":"3"}`},
	{"empty app_id", `{"app_id":"","timestamp":"2","event_name":"follow","oa_id":"3"}`},
	{"missing timestamp", `{"app_id":"1","event_name":"follow","oa_id":"3"}`},
	{"null timestamp", `{"app_id":"1","timestamp":null,"event_name":"follow","oa_id":"3"}`},
	{"bool timestamp", `{"app_id":"1","timestamp":true,"event_name":"follow","oa_id":"3"}`},
	{"missing event_name", `{"app_id":"1","timestamp":"2","oa_id":"3"}`},
	{"object app_id", `{"app_id":{"id":"1"},"timestamp":"2","event_name":"follow","oa_id":"3"}`},
	{"user event without recipient", `{"app_id":"1","timestamp":"2","event_name":"user_send_text","sender":{"id":"4"}}`},
	{"oa event without sender", `{"app_id":"1","timestamp":"2","event_name":"oa_send_text","recipient":{"id":"4"}}`},
	{"receipt without sender", `{"app_id":"1","timestamp":"2","event_name":"user_seen_message","recipient":{"id":"4"}}`},
	{"widget without oa_id", `{"app_id":"1","timestamp":"2","event_name":"widget_interaction_accepted","data":{"user_id":"4"}}`},
	{"sender not an object", `{"app_id":"1","timestamp":"2","event_name":"oa_send_text","sender":"3"}`},
	{"recipient id an object", `{"app_id":"1","timestamp":"2","event_name":"user_send_text","recipient":{"id":{}}}`},
}

func TestPeek(t *testing.T) {
	tests := []struct {
		name    string
		fixture string // or body
		body    string
		want    zalo.Envelope
	}{
		{name: "user event: OA is recipient", fixture: "user_send_text",
			want: zalo.Envelope{AppID: sampleApp, Timestamp: sampleTS, EventName: "user_send_text", OAID: sampleOA}},
		{name: "user_submit_info: OA is recipient", fixture: "user_submit_info",
			want: zalo.Envelope{AppID: hookApp, Timestamp: hookTS, EventName: "user_submit_info", OAID: hookOA}},
		{name: "anonymous event: OA is recipient", fixture: "anonymous_send_text",
			want: zalo.Envelope{AppID: hookApp, Timestamp: hookTS, EventName: "anonymous_send_text", OAID: hookOA}},
		{name: "oa echo: OA is sender", fixture: "oa_send_text",
			want: zalo.Envelope{AppID: hookApp, Timestamp: hookTS, EventName: "oa_send_text", OAID: hookOA}},
		{name: "delivery: OA is sender", fixture: "user_received_message",
			want: zalo.Envelope{AppID: hookApp, Timestamp: hookTS, EventName: "user_received_message", OAID: hookOA}},
		{name: "read: OA is sender", fixture: "user_seen_message",
			want: zalo.Envelope{AppID: hookApp, Timestamp: hookTS, EventName: "user_seen_message", OAID: hookOA}},
		{name: "follow: oa_id", fixture: "follow",
			want: zalo.Envelope{AppID: hookApp, Timestamp: hookTS, EventName: "follow", OAID: hookOA}},
		{name: "widget: oa_id", fixture: "widget_interaction_accepted",
			want: zalo.Envelope{AppID: hookApp, Timestamp: hookTS, EventName: "widget_interaction_accepted", OAID: hookOA}},
		{name: "widget sync failure: oa_id", fixture: "widget_failed_to_sync_user_external_id",
			want: zalo.Envelope{AppID: hookApp, Timestamp: hookTS, EventName: "widget_failed_to_sync_user_external_id", OAID: hookOA}},
		{name: "widget: recipient.id when there is no oa_id (the field name is unconfirmed)",
			body: `{"app_id":"1","timestamp":"2","event_name":"widget_interaction_accepted","recipient":{"id":"9"},"data":{"user_id":"4"}}`,
			want: zalo.Envelope{AppID: "1", Timestamp: "2", EventName: "widget_interaction_accepted", OAID: "9"}},
		{name: "bare numbers kept exactly", fixture: "numeric_ids",
			want: zalo.Envelope{AppID: hookApp, Timestamp: hookTS, EventName: "user_send_text", OAID: hookOA}},
		{name: "oa_id wins over recipient",
			body: `{"app_id":"1","timestamp":"2","event_name":"user_send_text","oa_id":"9","sender":{"id":"8"},"recipient":{"id":"7"}}`,
			want: zalo.Envelope{AppID: "1", Timestamp: "2", EventName: "user_send_text", OAID: "9"}},
		{name: "oa_reacted_message: OA is sender",
			body: `{"app_id":"1","timestamp":"2","event_name":"oa_reacted_message","sender":{"id":"9"},"recipient":{"id":"7"}}`,
			want: zalo.Envelope{AppID: "1", Timestamp: "2", EventName: "oa_reacted_message", OAID: "9"}},
		{name: "user_reacted_message: OA is recipient", fixture: "user_reacted_message",
			want: zalo.Envelope{AppID: hookApp, Timestamp: hookTS, EventName: "user_reacted_message", OAID: hookOA}},
		{name: "numeric timestamp keeps its text",
			body: `{"app_id":"1","timestamp":1718254123456,"event_name":"follow","oa_id":"9"}`,
			want: zalo.Envelope{AppID: "1", Timestamp: "1718254123456", EventName: "follow", OAID: "9"}},
		{name: "null oa_id falls back",
			body: `{"app_id":"1","timestamp":"2","event_name":"user_send_text","oa_id":null,"recipient":{"id":"7"}}`,
			want: zalo.Envelope{AppID: "1", Timestamp: "2", EventName: "user_send_text", OAID: "7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			if tt.fixture != "" {
				body = fixtureBody(t, tt.fixture)
			}
			got, err := zalo.Peek(body)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Errorf("Peek (-want +got):\n%s", diff)
			}
		})
	}
	for _, tt := range malformedEnvelopes {
		t.Run("error/"+tt.name, func(t *testing.T) {
			env, err := zalo.Peek([]byte(tt.body))
			if !errors.Is(err, zalo.ErrMalformed) {
				t.Fatalf("Peek = %+v, %v; want ErrMalformed", env, err)
			}
		})
	}
}

func TestSign(t *testing.T) {
	// independent recomputes the documented formula here rather than trusting Sign.
	independent := func(appID string, body []byte, ts, secret string) string {
		sum := sha256.Sum256([]byte(appID + string(body) + ts + secret))
		return "mac=" + hex.EncodeToString(sum[:])
	}
	tests := []struct {
		name              string
		appID, ts, secret string
		body              []byte
		// want, when set, was computed outside Go with sha256sum.
		want string
	}{
		{name: "verbatim sample", appID: sampleApp, ts: sampleTS, secret: hookSecret, body: fixtureBody(t, "user_send_text"),
			want: "mac=6ac47b3c186abff697865a5631884eae226988293358139e5ee8de809c08575b"},
		{name: "bare-number body", appID: hookApp, ts: hookTS, secret: hookSecret, body: fixtureBody(t, "numeric_ids"),
			want: "mac=75fcbfc377c89157a82c9acf0e9fe0721bfcf5f7ec3d1a980ad9ff139af9b577"},
		{name: "non-ascii body", appID: "1", ts: "2", secret: "khóa", body: []byte(`{"text":"Xin chào"}`)},
		{name: "empty body", appID: "1", ts: "2", secret: "s", body: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := zalo.Sign(tt.appID, tt.body, tt.ts, tt.secret)
			if want := independent(tt.appID, tt.body, tt.ts, tt.secret); got != want {
				t.Errorf("Sign = %s, want %s", got, want)
			}
			if tt.want != "" && got != tt.want {
				t.Errorf("Sign = %s, want %s", got, tt.want)
			}
			// Zalo's scheme is not an HMAC; guard against "fixing" it into one.
			m := hmac.New(sha256.New, []byte(tt.secret))
			m.Write([]byte(tt.appID + string(tt.body) + tt.ts))
			if got == "mac="+hex.EncodeToString(m.Sum(nil)) {
				t.Error("Sign computed an HMAC")
			}
		})
	}
}

func TestVerify(t *testing.T) {
	body := fixtureBody(t, "user_send_image")
	good := zalo.Sign(hookApp, body, hookTS, hookSecret)
	hexPart := strings.TrimPrefix(good, "mac=")
	tampered := []byte(strings.Replace(string(body), "size M", "size L", 1))
	// The signature covers the app id and timestamp as the body writes them.
	otherTS := []byte(strings.Replace(string(body), hookTS, "1718254123457", 1))
	otherApp := []byte(strings.Replace(string(body), hookApp, "2847561930475829164", 1))

	tests := []struct {
		name   string
		body   []byte
		secret string
		header string
		want   bool
	}{
		{"valid", body, hookSecret, good, true},
		{"upper-case hex", body, hookSecret, "mac=" + strings.ToUpper(hexPart), true},
		{"wrong secret", body, hookSecret + "x", good, false},
		{"app secret is not the OA secret", body, "Zs3cr3tAppKeyQwErTy", good, false},
		{"tampered body", tampered, hookSecret, good, false},
		{"tampered timestamp", otherTS, hookSecret, good, false},
		{"tampered app_id", otherApp, hookSecret, good, false},
		{"missing header", body, hookSecret, "", false},
		{"empty secret, even when it signs", body, "", zalo.Sign(hookApp, body, hookTS, ""), false},
		{"no envelope", []byte(`{}`), hookSecret, good, false},
		{"no prefix", body, hookSecret, hexPart, false},
		{"spaced prefix", body, hookSecret, "mac = " + hexPart, false},
		{"upper-case prefix", body, hookSecret, "MAC=" + hexPart, false},
		{"trailing space", body, hookSecret, good + " ", false},
		{"truncated", body, hookSecret, good[:len(good)-2], false},
		{"prefix only", body, hookSecret, "mac=", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set(zalo.SignatureHeader, tt.header)
			}
			if got := zalo.Verify(h, tt.body, tt.secret) == nil; got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func hashKey(event, ts string, body []byte) string {
	sum := sha256.Sum256(body)
	return event + ":" + ts + ":" + hex.EncodeToString(sum[:])[:16]
}

func TestSplit(t *testing.T) {
	tests := []struct {
		fixture string
		account string
		key     string // "" means the body-hash fallback
	}{
		{"user_send_text", sampleOA, "msg:" + sampleMsgID},
		{"user_send_image", hookOA, "msg:c2a1d0e9f8b7a6951"},
		{"user_send_file", hookOA, "msg:3d4e5f6a7b8c9d0e1f2"},
		{"oa_send_text", hookOA, "msg:5f6a7b8c9d0e1f2a3b4"},
		{"oa_send_template", hookOA, "msg:7b8c9d0e1f2a3b4c5d6"},
		{"anonymous_send_text", hookOA, "msg:8c9d0e1f2a3b4c5d6e7"},
		{"numeric_ids", hookOA, "msg:9d0e1f2a3b4c5d6e7f8"},
		{"user_received_message", hookOA, "received:5f6a7b8c9d0e1f2a3b4"},
		{"user_seen_message", hookOA, "seen:5f6a7b8c9d0e1f2a3b4,7b8c9d0e1f2a3b4c5d6"},
		{"follow", hookOA, "follow:" + hookUser + ":" + hookTS},
		{"unfollow", hookOA, "unfollow:" + hookUser + ":" + hookTS},
		{"user_submit_info", hookOA, "info:" + hookUser + ":" + hookTS},
		{"widget_interaction_accepted", hookOA, "widget_interaction_accepted:" + hookUser + ":" + hookTS},
		{"widget_failed_to_sync_user_external_id", hookOA, "widget_failed_to_sync_user_external_id:" + hookUser + ":" + hookTS},
		{"user_reacted_message", hookOA, ""},
		{"user_click_chatnow", hookOA, ""},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			body := fixtureBody(t, tt.fixture)
			env, err := zalo.Peek(body)
			if err != nil {
				t.Fatal(err)
			}
			frags, err := zalo.Split(body)
			if err != nil {
				t.Fatal(err)
			}
			key := tt.key
			if key == "" {
				key = hashKey(env.EventName, env.Timestamp, body)
			}
			want := []inbound.Fragment{{Type: env.EventName, DedupKey: key, Account: tt.account, Raw: body}}
			if diff := cmp.Diff(want, frags, platformtest.AnyThread); diff != "" {
				t.Errorf("Split (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSplitFallbackKeys(t *testing.T) {
	tests := []struct {
		name, body string
	}{
		{"message without msg_id", `{"app_id":"1","timestamp":"2","event_name":"user_send_text","sender":{"id":"8"},"recipient":{"id":"7"},"message":{"text":"hi"}}`},
		{"message not an object", `{"app_id":"1","timestamp":"2","event_name":"oa_send_consent","sender":{"id":"7"},"message":"call"}`},
		{"seen without ids", `{"app_id":"1","timestamp":"2","event_name":"user_seen_message","sender":{"id":"7"},"message":{"msg_ids":[]}}`},
		{"follow without follower", `{"app_id":"1","timestamp":"2","event_name":"follow","oa_id":"7"}`},
		{"widget without user", `{"app_id":"1","timestamp":"2","event_name":"widget_interaction_accepted","oa_id":"7","data":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frags, err := zalo.Split([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			env, _ := zalo.Peek([]byte(tt.body))
			if want := hashKey(env.EventName, "2", []byte(tt.body)); frags[0].DedupKey != want {
				t.Errorf("DedupKey = %q, want %q", frags[0].DedupKey, want)
			}
		})
	}
	// A seen receipt's key must not depend on the order of its ids.
	a, _ := zalo.Split([]byte(`{"app_id":"1","timestamp":"2","event_name":"user_seen_message","sender":{"id":"7"},"message":{"msg_ids":["b","a"]}}`))
	b, _ := zalo.Split([]byte(`{"app_id":"1","timestamp":"3","event_name":"user_seen_message","sender":{"id":"7"},"message":{"msg_ids":["a","b"]}}`))
	if a[0].DedupKey != "seen:a,b" || b[0].DedupKey != "seen:a,b" {
		t.Errorf("seen keys = %q, %q; want seen:a,b for both", a[0].DedupKey, b[0].DedupKey)
	}
}

func TestSplitMalformed(t *testing.T) {
	for _, tt := range malformedEnvelopes {
		t.Run(tt.name, func(t *testing.T) {
			frags, err := zalo.Split([]byte(tt.body))
			if !errors.Is(err, zalo.ErrMalformed) {
				t.Fatalf("Split = %+v, %v; want ErrMalformed", frags, err)
			}
		})
	}
}

func ptr(f float64) *float64 { return &f }

func TestDecode(t *testing.T) {
	sampleAt := time.UnixMilli(sampleMillis).UTC()
	in := func(id, kind, text string, atts ...schematype.Attachment) *inbound.Message {
		return &inbound.Message{ExternalID: id, Direction: inbound.Inbound, Kind: kind, Text: text, Attachments: atts, SentAt: hookAt}
	}
	out := func(id, kind, text string, atts ...schematype.Attachment) *inbound.Message {
		m := in(id, kind, text, atts...)
		m.Direction = inbound.Outbound
		return m
	}
	newMessage := func(contact string, m *inbound.Message) *inbound.Event {
		return &inbound.Event{Kind: inbound.NewMessage, Contact: inbound.Contact{ExternalID: contact}, Message: m, At: hookAt}
	}
	ignore := &inbound.Event{Kind: inbound.Ignore, At: hookAt}

	tests := []struct {
		name    string
		fixture string // or body
		body    string
		want    *inbound.Event
	}{
		{name: "text, verbatim sample", fixture: "user_send_text", want: &inbound.Event{
			Kind:    inbound.NewMessage,
			Contact: inbound.Contact{ExternalID: sampleUser},
			Message: &inbound.Message{ExternalID: sampleMsgID, Direction: inbound.Inbound, Kind: "TEXT", Text: "message", SentAt: sampleAt},
			At:      sampleAt,
		}},
		{name: "image", fixture: "user_send_image", want: newMessage(hookUser, in("c2a1d0e9f8b7a6951", "IMAGE", "Mẫu này còn size M không shop?",
			schematype.Attachment{Type: "image", URL: "https://dl.zadn.vn/photo/2024/06/13/8f3c.jpg"}))},
		{name: "gif", fixture: "user_send_gif", want: newMessage(hookUser, in("d7e6f5a4b3c2d1e0f91", "IMAGE", "",
			schematype.Attachment{Type: "image", URL: "https://dl.zadn.vn/gif/41aa.gif", MimeType: "image/gif"}))},
		{name: "link", fixture: "user_send_link", want: newMessage(hookUser, in("e1d2c3b4a5968778695", "TEXT", "https://shop.example.vn/ao-thun-basic",
			schematype.Attachment{Type: "link", URL: "https://shop.example.vn/ao-thun-basic", Name: "Áo thun basic cotton"}))},
		{name: "audio", fixture: "user_send_audio", want: newMessage(hookUser, in("f0e1d2c3b4a59687786", "AUDIO", "",
			schematype.Attachment{Type: "audio", URL: "https://voice-aac-dl.zdn.vn/2024/06/13/9b2e.amr"}))},
		{name: "video", fixture: "user_send_video", want: newMessage(hookUser, in("0a1b2c3d4e5f6a7b8c9", "VIDEO", "",
			schematype.Attachment{Type: "video", URL: "https://video-dl.zadn.vn/2024/06/13/5c7d.mp4"}))},
		{name: "sticker", fixture: "user_send_sticker", want: newMessage(hookUser, in("1b2c3d4e5f6a7b8c9d0", "STICKER", "",
			schematype.Attachment{Type: "sticker", URL: "https://zalo-api.zadn.vn/api/emoticon/sticker/webpc?eid=21983&size=130", PlatformFileID: "bfe458bf64fa8da4d4eb"}))},
		{name: "location with string coordinates", fixture: "user_send_location", want: newMessage(hookUser, in("2c3d4e5f6a7b8c9d0e1", "LOCATION", "",
			schematype.Attachment{Type: "location", Latitude: ptr(10.7769), Longitude: ptr(106.7009)}))},
		{name: "location of a named place, as captured", fixture: "user_send_location_place", want: newMessage(hookUser, in("b8de7d84fa1b3043690c", "LOCATION", "Cơm Coffee New Sky",
			schematype.Attachment{Type: "location", Latitude: ptr(10.7923119), Longitude: ptr(106.7820651)}))},
		{name: "location in message.location", fixture: "user_send_location_message_location", want: newMessage(hookUser, in("5e6f7a8b9c0d1e2f3a4", "LOCATION", "",
			schematype.Attachment{Type: "location", Latitude: ptr(21.0285), Longitude: ptr(105.8542)}))},
		{name: "file with string size and an extension for type", fixture: "user_send_file", want: newMessage(hookUser, in("3d4e5f6a7b8c9d0e1f2", "FILE", "",
			schematype.Attachment{Type: "file", URL: "https://f21-zpc.zdn.vn/2024/06/13/bao-gia-thang-6.pdf", Name: "bao-gia-thang-6.pdf", Size: 248133}))},
		{name: "business card", fixture: "user_send_business_card", want: newMessage(hookUser, in("4e5f6a7b8c9d0e1f2a3", "TEXT", "Nguyễn Văn An"))},
		{name: "bare-number ids survive", fixture: "numeric_ids", want: newMessage(hookUser, in("9d0e1f2a3b4c5d6e7f8", "TEXT", "số to"))},
		{name: "oa text echo from the chat tool", fixture: "oa_send_text", want: newMessage(hookUser, out("5f6a7b8c9d0e1f2a3b4", "TEXT", "Dạ shop chào anh, size M vẫn còn ạ."))},
		{name: "oa image echo", fixture: "oa_send_image", want: newMessage(hookUser, out("6a7b8c9d0e1f2a3b4c5", "IMAGE", "",
			schematype.Attachment{Type: "image", URL: "https://dl.zadn.vn/photo/oa/77e1.jpg"}))},
		{name: "oa template echo", fixture: "oa_send_template", want: newMessage(hookUser, out("7b8c9d0e1f2a3b4c5d6", "OTHER", "Xác nhận đơn hàng #10293"))},
		{name: "delivered", fixture: "user_received_message", want: &inbound.Event{
			Kind: inbound.Receipt, Contact: inbound.Contact{ExternalID: hookUser}, At: hookAt,
			Receipt: &inbound.ReceiptInfo{Status: "DELIVERED", MessageIDs: []string{"5f6a7b8c9d0e1f2a3b4"}},
		}},
		{name: "seen", fixture: "user_seen_message", want: &inbound.Event{
			Kind: inbound.Receipt, Contact: inbound.Contact{ExternalID: hookUser}, At: hookAt,
			Receipt: &inbound.ReceiptInfo{Status: "READ", MessageIDs: []string{"7b8c9d0e1f2a3b4c5d6", "5f6a7b8c9d0e1f2a3b4"}},
		}},
		{name: "follow", fixture: "follow", want: &inbound.Event{Kind: inbound.Follow, Contact: inbound.Contact{ExternalID: hookUser}, At: hookAt}},
		{name: "unfollow", fixture: "unfollow", want: &inbound.Event{Kind: inbound.Unfollow, Contact: inbound.Contact{ExternalID: hookUser}, At: hookAt}},
		{name: "submit info", fixture: "user_submit_info", want: &inbound.Event{Kind: inbound.ContactInfo, At: hookAt,
			Contact: inbound.Contact{ExternalID: hookUser, Name: "Nguyễn Văn An", Phone: "84912345678"}}},
		{name: "widget accepted", fixture: "widget_interaction_accepted", want: &inbound.Event{Kind: inbound.Consent, At: hookAt,
			Contact: inbound.Contact{ExternalID: hookUser, CustomerID: "KH-000123"}}},
		{name: "widget sync failed: the refused id is not the customer's", fixture: "widget_failed_to_sync_user_external_id", want: &inbound.Event{
			Kind: inbound.CustomerIDRefused, At: hookAt, Contact: inbound.Contact{ExternalID: hookUser}, Reason: "user already has user_external_id"}},
		{name: "reaction", fixture: "user_reacted_message", want: ignore},
		{name: "chat now", fixture: "user_click_chatnow", want: ignore},
		{name: "anonymous message", fixture: "anonymous_send_text", want: ignore},

		{name: "file with numeric size and a media type",
			body: `{"event_name":"user_send_file","timestamp":"1718254123456","sender":{"id":"7"},"message":{"msg_id":"m1","attachments":[{"type":"file","payload":{"size":1024,"name":"a.pdf","type":"Application/PDF; charset=binary","url":"https://f/a.pdf"}}]}}`,
			want: newMessage("7", in("m1", "FILE", "", schematype.Attachment{Type: "file", URL: "https://f/a.pdf", Name: "a.pdf", Size: 1024, MimeType: "application/pdf"}))},
		{name: "file with unreadable size",
			body: `{"event_name":"user_send_file","timestamp":"1718254123456","sender":{"id":"7"},"message":{"msg_id":"m1","attachments":[{"type":"file","payload":{"size":"2 MB","name":"a.pdf","url":"https://f/a.pdf"}}]}}`,
			want: newMessage("7", in("m1", "FILE", "", schematype.Attachment{Type: "file", URL: "https://f/a.pdf", Name: "a.pdf"}))},
		{name: "location with numeric coordinates",
			body: `{"event_name":"user_send_location","timestamp":"1718254123456","sender":{"id":"7"},"message":{"msg_id":"m1","attachments":[{"type":"location","payload":{"coordinates":{"latitude":-33.5,"longitude":151.25}}}]}}`,
			want: newMessage("7", in("m1", "LOCATION", "", schematype.Attachment{Type: "location", Latitude: ptr(-33.5), Longitude: ptr(151.25)}))},
		{name: "location that JSON cannot store is dropped",
			body: `{"event_name":"user_send_location","timestamp":"1718254123456","sender":{"id":"7"},"message":{"msg_id":"m1","attachments":[{"type":"location","payload":{"coordinates":{"latitude":"NaN","longitude":"Inf"}}},{"type":"location","payload":{"coordinates":{"latitude":"91","longitude":"0"}}}]}}`,
			want: newMessage("7", in("m1", "LOCATION", ""))},
		{name: "message.location spelled lat and long, with its name",
			body: `{"event_name":"user_send_location","timestamp":"1718254123456","sender":{"id":"7"},"message":{"msg_id":"m1","location":{"lat":-33.5,"long":151.25,"name":"Opera House"}}}`,
			want: newMessage("7", in("m1", "LOCATION", "", schematype.Attachment{Type: "location", Name: "Opera House", Latitude: ptr(-33.5), Longitude: ptr(151.25)}))},
		{name: "message.location beside a location attachment adds nothing",
			body: `{"event_name":"user_send_location","timestamp":"1718254123456","sender":{"id":"7"},"message":{"msg_id":"m1","location":{"latitude":1,"longitude":2},"attachments":[{"type":"location","payload":{"coordinates":{"latitude":1,"longitude":2}}}]}}`,
			want: newMessage("7", in("m1", "LOCATION", "", schematype.Attachment{Type: "location", Latitude: ptr(1), Longitude: ptr(2)}))},
		{name: "message.location of a shape we do not know costs only the location",
			body: `{"event_name":"user_send_location","timestamp":"1718254123456","sender":{"id":"7"},"message":{"msg_id":"m1","text":"here","location":"21.0285,105.8542"}}`,
			want: newMessage("7", in("m1", "LOCATION", "here"))},
		{name: "attachment without a type takes the event's",
			body: `{"event_name":"user_send_image","timestamp":"1718254123456","sender":{"id":"7"},"message":{"msg_id":"m1","attachments":[{"payload":{"url":"https://i/1.jpg"}}]}}`,
			want: newMessage("7", in("m1", "IMAGE", "", schematype.Attachment{Type: "image", URL: "https://i/1.jpg"}))},
		{name: "attachment pointing nowhere is dropped",
			body: `{"event_name":"user_send_image","timestamp":"1718254123456","sender":{"id":"7"},"message":{"msg_id":"m1","attachments":[{"type":"image","payload":{"thumbnail":"https://i/t.jpg"}}]}}`,
			want: newMessage("7", in("m1", "IMAGE", ""))},
		{name: "contact is sender.id, not user_id_by_app",
			body: `{"event_name":"user_send_text","timestamp":"1718254123456","user_id_by_app":"5","sender":{"id":"7"},"message":{"msg_id":"m1","text":"a"}}`,
			want: newMessage("7", in("m1", "TEXT", "a"))},
		{name: "seen with a lone msg_id",
			body: `{"event_name":"user_seen_message","timestamp":"1718254123456","recipient":{"id":"7"},"message":{"msg_id":"m1"}}`,
			want: &inbound.Event{Kind: inbound.Receipt, Contact: inbound.Contact{ExternalID: "7"}, At: hookAt,
				Receipt: &inbound.ReceiptInfo{Status: "READ", MessageIDs: []string{"m1"}}}},
		{name: "widget with top-level user_id",
			body: `{"event_name":"widget_interaction_accepted","timestamp":"1718254123456","user_id":"7","data":{"user_external_id":"K1"}}`,
			want: &inbound.Event{Kind: inbound.Consent, At: hookAt, Contact: inbound.Contact{ExternalID: "7", CustomerID: "K1"}}},
		{name: "widget accepted without user_external_id",
			body: `{"event_name":"widget_interaction_accepted","timestamp":"1718254123456","oa_id":"9","data":{"user_id":"7"}}`,
			want: &inbound.Event{Kind: inbound.Consent, At: hookAt, Contact: inbound.Contact{ExternalID: "7"}}},
		{name: "widget sync failed without a message",
			body: `{"event_name":"widget_failed_to_sync_user_external_id","timestamp":"1718254123456","recipient":{"id":"9"},"data":{"user_id":"7","user_external_id":"K1"}}`,
			want: &inbound.Event{Kind: inbound.CustomerIDRefused, At: hookAt, Contact: inbound.Contact{ExternalID: "7"},
				Reason: "Zalo did not sync user_external_id and gave no reason"}},
		{name: "submit info with numeric phone",
			body: `{"event_name":"user_submit_info","timestamp":"1718254123456","sender":{"id":"7"},"info":{"name":" An ","phone":84912345678}}`,
			want: &inbound.Event{Kind: inbound.ContactInfo, At: hookAt, Contact: inbound.Contact{ExternalID: "7", Name: "An", Phone: "84912345678"}}},
		{name: "group message is not a conversation message",
			body: `{"event_name":"user_send_group_text","timestamp":"1718254123456","sender":{"id":"7"},"message":{"msg_id":"m1","text":"a"}}`,
			want: ignore},
		{name: "call consent is not a message",
			body: `{"event_name":"oa_send_consent","timestamp":"1718254123456","sender":{"id":"7"}}`,
			want: ignore},
		{name: "unknown event with odd shapes",
			body: `{"event_name":"shop_has_order","timestamp":"1718254123456","message":"x","data":[1,2],"sender":7}`,
			want: ignore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			if tt.fixture != "" {
				body = fixtureBody(t, tt.fixture)
			}
			got, err := zalo.Decode(body)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	const ts = `"timestamp":"1718254123456"`
	tests := []struct {
		name, body string
	}{
		{"empty", ``},
		{"not json", `{"event_name":`},
		{"array", `[]`},
		{"null", `null`},
		{"missing event_name", `{` + ts + `}`},
		{"missing timestamp", `{"event_name":"follow","follower":{"id":"7"}}`},
		{"timestamp not milliseconds", `{"event_name":"follow","timestamp":"2024-06-13T05:00:00Z","follower":{"id":"7"}}`},
		{"text without sender", `{"event_name":"user_send_text",` + ts + `,"recipient":{"id":"9"},"message":{"msg_id":"m1"}}`},
		{"text with object sender id", `{"event_name":"user_send_text",` + ts + `,"sender":{"id":{"v":"7"}},"message":{"msg_id":"m1"}}`},
		{"text without message", `{"event_name":"user_send_text",` + ts + `,"sender":{"id":"7"}}`},
		{"text without msg_id", `{"event_name":"user_send_text",` + ts + `,"sender":{"id":"7"},"message":{"text":"a"}}`},
		{"text with null message", `{"event_name":"user_send_text",` + ts + `,"sender":{"id":"7"},"message":null}`},
		{"text with message a string", `{"event_name":"user_send_text",` + ts + `,"sender":{"id":"7"},"message":"a"}`},
		{"attachments not a list", `{"event_name":"user_send_image",` + ts + `,"sender":{"id":"7"},"message":{"msg_id":"m1","attachments":{}}}`},
		{"echo without recipient", `{"event_name":"oa_send_text",` + ts + `,"sender":{"id":"9"},"message":{"msg_id":"m1"}}`},
		{"delivered without msg_id", `{"event_name":"user_received_message",` + ts + `,"recipient":{"id":"7"},"message":{}}`},
		{"delivered without recipient", `{"event_name":"user_received_message",` + ts + `,"sender":{"id":"9"},"message":{"msg_id":"m1"}}`},
		{"seen without ids", `{"event_name":"user_seen_message",` + ts + `,"recipient":{"id":"7"},"message":{"msg_ids":[]}}`},
		{"follow without follower", `{"event_name":"follow",` + ts + `,"oa_id":"9"}`},
		{"unfollow with empty follower id", `{"event_name":"unfollow",` + ts + `,"follower":{"id":""}}`},
		{"submit info without sender", `{"event_name":"user_submit_info",` + ts + `,"info":{"name":"An"}}`},
		{"widget accepted without user", `{"event_name":"widget_interaction_accepted",` + ts + `,"data":{"user_external_id":"K1"}}`},
		{"widget accepted with data a string", `{"event_name":"widget_interaction_accepted",` + ts + `,"data":"x"}`},
		{"widget sync failed without user", `{"event_name":"widget_failed_to_sync_user_external_id",` + ts + `,"data":{"message":"m"}}`},
		{"widget sync failed with an object message", `{"event_name":"widget_failed_to_sync_user_external_id",` + ts + `,"data":{"user_id":"7","message":{"m":1}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := zalo.Decode([]byte(tt.body))
			if !errors.Is(err, zalo.ErrMalformed) {
				t.Fatalf("Decode = %+v, %v; want ErrMalformed", ev, err)
			}
		})
	}
}

func TestTestEvent(t *testing.T) {
	const nonce = "n-5f2c9a"
	before := time.Now().UnixMilli()
	body, ts := zalo.TestEvent(hookApp, hookOA, nonce)
	after := time.Now().UnixMilli()

	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ms < before || ms > after {
		t.Fatalf("timestamp %q is not now in milliseconds", ts)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatal(err)
	}
	if got := string(top[inbound.TestMarker]); got != `"`+nonce+`"` {
		t.Errorf("top-level %s = %s, want %q", inbound.TestMarker, got, nonce)
	}

	// The edge's path: peek, verify, split; later, decode.
	env, err := zalo.Peek(body)
	if err != nil {
		t.Fatal(err)
	}
	want := zalo.Envelope{AppID: hookApp, Timestamp: ts, EventName: "user_send_text", OAID: hookOA}
	if diff := cmp.Diff(want, *env); diff != "" {
		t.Errorf("Peek (-want +got):\n%s", diff)
	}
	sig := zalo.Sign(hookApp, body, ts, hookSecret)
	h := http.Header{}
	h.Set(zalo.SignatureHeader, sig)
	if err := zalo.Verify(h, body, hookSecret); err != nil {
		t.Errorf("Verify refused the test event's own signature: %v", err)
	}
	frags, err := zalo.Split(body)
	if err != nil {
		t.Fatal(err)
	}
	wantFrags := []inbound.Fragment{{Type: "user_send_text", DedupKey: "test:" + nonce, Account: hookOA, Raw: body}}
	if diff := cmp.Diff(wantFrags, frags, platformtest.AnyThread); diff != "" {
		t.Errorf("Split (-want +got):\n%s", diff)
	}
	ev, err := zalo.Decode(frags[0].Raw)
	if err != nil {
		t.Fatal(err)
	}
	wantEv := &inbound.Event{Kind: inbound.Ignore, Test: true, At: time.UnixMilli(ms).UTC()}
	if diff := cmp.Diff(wantEv, ev); diff != "" {
		t.Errorf("Decode (-want +got):\n%s", diff)
	}

	// Two tests through one connection must not be deduplicated together.
	other, _ := zalo.TestEvent(hookApp, hookOA, nonce+"x")
	otherFrags, err := zalo.Split(other)
	if err != nil {
		t.Fatal(err)
	}
	if otherFrags[0].DedupKey == frags[0].DedupKey {
		t.Errorf("two nonces share the key %q", frags[0].DedupKey)
	}
}

// replayBody is a user_send_text of hookOA for app, stamped at.
func replayBody(app string, at time.Time) []byte {
	return []byte(`{"app_id":"` + app + `","event_name":"user_send_text","sender":{"id":"` + hookUser + `"},"recipient":{"id":"` + hookOA +
		`"},"message":{"msg_id":"m1","text":"hi"},"timestamp":"` + strconv.FormatInt(at.UnixMilli(), 10) + `"}`)
}

// An OA's key signs the events of every app the OA has used: only the
// OA's own app (the one stored with it, or ZALO_APP_ID) is accepted.
func TestVerifyApp(t *testing.T) {
	ch := zalo.NewChannel(nil, "default-app", "secret", 0, nil)
	now := time.Now()
	for _, tc := range []struct {
		name, stored, sent string
		ok                 bool
	}{
		{"the stored app", "stored-app", "stored-app", true},
		{"ZALO_APP_ID, when the OA was connected with another app", "stored-app", "default-app", false},
		{"ZALO_APP_ID, when none is stored", "", "default-app", true},
		{"another app, when none is stored", "", "stored-app", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ch.VerifyApp(replayBody(tc.sent, now), &zalo.Credentials{AppID: tc.stored, OASecretKey: hookSecret})
			if tc.ok != (err == nil) || err != nil && !errors.Is(err, zalo.ErrOtherApp) {
				t.Fatalf("VerifyApp = %v, want ok %t", err, tc.ok)
			}
		})
	}
}

// Zalo retries with the original timestamp for hours: older events are replays.
func TestCheckAge(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name   string
		maxAge time.Duration
		at     time.Time
		ok     bool
	}{
		{"a retry 11 hours on, by default", 0, now.Add(-11 * time.Hour), true},
		{"25 hours old, by default (24 h)", 0, now.Add(-25 * time.Hour), false},
		{"within ZALO_MAX_EVENT_AGE", time.Hour, now.Add(-59 * time.Minute), true},
		{"past ZALO_MAX_EVENT_AGE", time.Hour, now.Add(-61 * time.Minute), false},
		{"ahead of our clock", time.Hour, now.Add(time.Minute), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := zalo.NewChannel(nil, hookApp, "secret", tc.maxAge, nil).CheckAge(replayBody(hookApp, tc.at))
			if tc.ok != (err == nil) {
				t.Fatalf("CheckAge = %v, want ok %t", err, tc.ok)
			}
		})
	}
	if err := zalo.NewChannel(nil, hookApp, "secret", 0, nil).CheckAge([]byte(`{"app_id":"a","event_name":"follow","oa_id":"1","timestamp":"yesterday"}`)); !errors.Is(err, zalo.ErrMalformed) {
		t.Fatalf("a timestamp that is not milliseconds: %v", err)
	}
}
