package facebook_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/inbound"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/facebook"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
	"github.com/switchboard-chat/switchboard/platform/platformtest"
)

const (
	fixturePage = "682498302938465"
	fixturePSID = "1254459154682919"
	// 2^53+1 and a value past 2^63: a float64 or int64 on the way would change them.
	bigPage = "9007199254740993"
	bigPSID = "12544591546829193456"
	// fixtureSecret signed testdata/*.json into testdata/signatures.txt.
	fixtureSecret = "fixture-app-secret"
)

func fixture(t testing.TB, name string) []byte { return testkit.Fixture(t, "facebook", name) }

func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

func ptr(f float64) *float64 { return &f }

// generic decodes JSON the way the test compares it: numbers as written.
func generic(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

// itemOf finds entry[e].<list>[i] in body, independently of Split.
func itemOf(t *testing.T, body []byte, e int, list string, i int) any {
	t.Helper()
	entries := generic(t, body).(map[string]any)["entry"].([]any)
	return entries[e].(map[string]any)[list].([]any)[i]
}

type wantFragment struct {
	Type, DedupKey, Account string
	// Where the item sits in the body.
	entry int
	list  string
	item  int
}

func TestSplit(t *testing.T) {
	t.Parallel()
	msg := func(typ, key string) wantFragment {
		return wantFragment{Type: typ, DedupKey: key, Account: fixturePage, list: "messaging"}
	}
	tests := []struct {
		fixture string
		want    []wantFragment
	}{
		{"text.json", []wantFragment{msg("message", "mid:mid.1457764197618:41d102a3e1ae206a38")}},
		{"quick_reply.json", []wantFragment{msg("message", "mid:mid.1457764197618:52e213b4f2bf317b49")}},
		{"image.json", []wantFragment{msg("message", "mid:mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c")}},
		{"sticker.json", []wantFragment{msg("message", "mid:mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_d")}},
		{"location.json", []wantFragment{msg("message", "mid:mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_e")}},
		{"files.json", []wantFragment{msg("message", "mid:mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_f")}},
		{"echo.json", []wantFragment{msg("message_echo", "mid:mid.1457764197618:41d102a3e1ae206a39")}},
		{"postback.json", []wantFragment{msg("postback", "postback:m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P")}},
		{"postback_payload_only.json", []wantFragment{msg("postback", "postback:m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0Q")}},
		{"message_edit.json", []wantFragment{msg("message_edit", "message_edit:"+fixturePSID+":1458692760100")}},
		{"fallback.json", []wantFragment{msg("message", "mid:mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_g")}},
		{"delivery.json", []wantFragment{msg("delivery", "delivery:"+fixturePSID+":1458668856253")}},
		{"read.json", []wantFragment{msg("read", "read:"+fixturePSID+":1458668856253")}},
		{"reaction.json", []wantFragment{msg("reaction", "reaction:"+fixturePSID+":1458668856900")}},
		{"bigids.json", []wantFragment{{Type: "message", DedupKey: "mid:m_9007199254740993_12544591546829193456", Account: bigPage, list: "messaging"}}},
		{"batch.json", []wantFragment{
			{Type: "message", DedupKey: "mid:mid.1458692759001:aa01", Account: fixturePage, entry: 0, list: "messaging", item: 0},
			{Type: "delivery", DedupKey: "delivery:" + fixturePSID + ":1458692758500", Account: fixturePage, entry: 0, list: "messaging", item: 1},
			{Type: "read", DedupKey: "read:" + bigPSID + ":1458692759400", Account: bigPage, entry: 1, list: "messaging", item: 0},
			{Type: "message", DedupKey: "mid:mid.1458692759600:cc03", Account: bigPage, entry: 1, list: "standby", item: 0},
		}},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.fixture, ".json"), func(t *testing.T) {
			t.Parallel()
			body := fixture(t, tt.fixture)
			frags, err := facebook.Split(body)
			if err != nil {
				t.Fatal(err)
			}
			if len(frags) != len(tt.want) {
				t.Fatalf("got %d fragments, want %d: %+v", len(frags), len(tt.want), frags)
			}
			for i, w := range tt.want {
				f := frags[i]
				if f.Type != w.Type || f.DedupKey != w.DedupKey || f.Account != w.Account {
					t.Errorf("fragment %d = {%q %q %q}, want {%q %q %q}", i, f.Type, f.DedupKey, f.Account, w.Type, w.DedupKey, w.Account)
				}
				// Raw must be the item's bytes as sent (whitespace and all),
				// not a re-encoding: the journal keeps what Meta signed.
				if !bytes.Contains(body, f.Raw) || !json.Valid(f.Raw) || f.Raw[0] != '{' {
					t.Errorf("fragment %d Raw is not a verbatim item of the body: %s", i, f.Raw)
				}
				if diff := cmp.Diff(itemOf(t, body, w.entry, w.list, w.item), generic(t, f.Raw)); diff != "" {
					t.Errorf("fragment %d Raw is not entry[%d].%s[%d] (-want +got):\n%s", i, w.entry, w.list, w.item, diff)
				}
			}
		})
	}
}

func TestSplitKeepsWhitespaceOfItems(t *testing.T) {
	t.Parallel()
	body := fixture(t, "batch.json")
	frags, err := facebook.Split(body)
	if err != nil {
		t.Fatal(err)
	}
	// The pretty-printed fixture's items span lines; a re-encoding would not.
	want := `{
          "sender": {"id": "12544591546829193456"},
          "recipient": {"id": "9007199254740993"},
          "timestamp": 1458692759500,
          "read": {"watermark": 1458692759400}
        }`
	if got := string(frags[2].Raw); got != want {
		t.Errorf("Raw = %s\nwant %s", got, want)
	}
}

func TestSplitEdgeCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want []inbound.Fragment
	}{
		{"empty batch", `{"object":"page","entry":[]}`, nil},
		{"entry without messaging", `{"object":"page","entry":[{"id":"1","time":1,"changes":[{"field":"feed","value":{}}]}]}`, nil},
		{"numeric ids keep their digits",
			`{"object":"page","entry":[{"id":9007199254740993,"messaging":[{"sender":{"id":12544591546829193456},"recipient":{"id":9007199254740993},"timestamp":5,"optin":{"ref":"x"}}]}]}`,
			[]inbound.Fragment{{Type: "optin", DedupKey: "optin:12544591546829193456:5", Account: bigPage,
				Raw: []byte(`{"sender":{"id":12544591546829193456},"recipient":{"id":9007199254740993},"timestamp":5,"optin":{"ref":"x"}}`)}}},
		{"postback without mid",
			`{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"7"},"recipient":{"id":"1"},"timestamp":1458692752587,"postback":{"title":"Start","payload":"GET_STARTED"}}]}]}`,
			[]inbound.Fragment{{Type: "postback", DedupKey: "postback:7:1458692752587", Account: "1",
				Raw: []byte(`{"sender":{"id":"7"},"recipient":{"id":"1"},"timestamp":1458692752587,"postback":{"title":"Start","payload":"GET_STARTED"}}`)}}},
		{"unknown event named by its first object key",
			`{"object":"page","entry":[{"id":"1","messaging":[{"recipient":{"id":"1"},"sender":{"id":"7"},"timestamp":9,"pass_thread_control":{"new_owner_app_id":"123"},"referral":{"ref":"r"}}]}]}`,
			[]inbound.Fragment{{Type: "pass_thread_control", DedupKey: "pass_thread_control:7:9", Account: "1",
				Raw: []byte(`{"recipient":{"id":"1"},"sender":{"id":"7"},"timestamp":9,"pass_thread_control":{"new_owner_app_id":"123"},"referral":{"ref":"r"}}`)}}},
		{"no event at all",
			`{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"7"},"timestamp":9}]}]}`,
			[]inbound.Fragment{{Type: "unknown", DedupKey: "unknown:7:9", Account: "1", Raw: []byte(`{"sender":{"id":"7"},"timestamp":9}`)}}},
		{"message wins over a referral before it",
			`{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"7"},"referral":{"ref":"ad"},"message":{"mid":"m_1","text":"hi"}}]}]}`,
			[]inbound.Fragment{{Type: "message", DedupKey: "mid:m_1", Account: "1",
				Raw: []byte(`{"sender":{"id":"7"},"referral":{"ref":"ad"},"message":{"mid":"m_1","text":"hi"}}`)}}},
		{"trailing whitespace", "{\"object\":\"page\",\"entry\":[]}\r\n\t ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := facebook.Split([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, platformtest.AnyThread); diff != "" {
				t.Errorf("Split (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSplitMalformed(t *testing.T) {
	t.Parallel()
	item := func(s string) string { return `{"object":"page","entry":[{"id":"1","messaging":[` + s + `]}]}` }
	tests := []struct{ name, body string }{
		{"empty body", ``},
		{"not JSON", `object=page`},
		{"truncated", `{"object":"page","entry":[{"id":"1"`},
		{"trailing garbage", `{"object":"page","entry":[]}x`},
		{"two bodies", `{"object":"page","entry":[]}{"object":"page","entry":[]}`},
		{"array", `[{"object":"page","entry":[]}]`},
		{"null", `null`},
		{"no object", `{"entry":[]}`},
		{"instagram", `{"object":"instagram","entry":[]}`},
		{"whatsapp", `{"object":"whatsapp_business_account","entry":[]}`},
		{"object not a string", `{"object":1,"entry":[]}`},
		{"no entry", `{"object":"page"}`},
		{"null entry", `{"object":"page","entry":null}`},
		{"entry not an array", `{"object":"page","entry":{"id":"1"}}`},
		{"null entry item", `{"object":"page","entry":[null]}`},
		{"entry without id", `{"object":"page","entry":[{"messaging":[]}]}`},
		{"entry id an object", `{"object":"page","entry":[{"id":{"v":1},"messaging":[]}]}`},
		{"entry id negative", `{"object":"page","entry":[{"id":-1,"messaging":[]}]}`},
		{"messaging not an array", `{"object":"page","entry":[{"id":"1","messaging":{}}]}`},
		{"null item", item(`null`)},
		{"string item", item(`"message"`)},
		{"message without mid", item(`{"sender":{"id":"7"},"message":{"text":"hi"}}`)},
		{"mid a number", item(`{"sender":{"id":"7"},"message":{"mid":5}}`)},
		{"delivery without watermark", item(`{"sender":{"id":"7"},"delivery":{"mids":["m_1"]}}`)},
		{"read watermark not a number", item(`{"sender":{"id":"7"},"read":{"watermark":"soon"}}`)},
		{"sender id an array", item(`{"sender":{"id":["7"]},"message":{"mid":"m_1"}}`)},
		{"empty test nonce", item(`{"switchboard_test":""}`)},
		{"test nonce not a string", item(`{"switchboard_test":42}`)},
		{"bad standby item", `{"object":"page","entry":[{"id":"1","standby":[{"message":{}}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, err := facebook.Split([]byte(tt.body)); !errors.Is(err, facebook.ErrMalformed) {
				t.Errorf("Split(%s) = %+v, %v; want ErrMalformed", tt.body, got, err)
			}
		})
	}
}

func TestDecodeFixtures(t *testing.T) {
	t.Parallel()
	customer := inbound.Contact{ExternalID: fixturePSID}
	tests := []struct {
		fixture string
		item    int
		want    *inbound.Event
	}{
		{"text.json", 0, &inbound.Event{
			Kind: inbound.NewMessage, Contact: customer, At: ms(1458692752478),
			Message: &inbound.Message{ExternalID: "mid.1457764197618:41d102a3e1ae206a38", Direction: inbound.Inbound,
				Kind: "TEXT", Text: "hello, world!", SentAt: ms(1458692752478)},
		}},
		{"quick_reply.json", 0, &inbound.Event{
			Kind: inbound.NewMessage, Contact: customer, At: ms(1458692752990),
			Message: &inbound.Message{ExternalID: "mid.1457764197618:52e213b4f2bf317b49", Direction: inbound.Inbound,
				Kind: "TEXT", Text: "Red", SentAt: ms(1458692752990)},
		}},
		{"image.json", 0, &inbound.Event{
			Kind: inbound.NewMessage, Contact: customer, At: ms(1518479195308),
			Message: &inbound.Message{ExternalID: "mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c", Direction: inbound.Inbound,
				Kind: "IMAGE", SentAt: ms(1518479195308),
				Attachments: []schematype.Attachment{{Type: "image", URL: "https://scontent.xx.fbcdn.net/v/t1.15752-9/photo_n.jpg?_nc_cat=1&oh=abc"}}},
		}},
		{"sticker.json", 0, &inbound.Event{
			Kind: inbound.NewMessage, Contact: customer, At: ms(1518479196308),
			Message: &inbound.Message{ExternalID: "mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_d", Direction: inbound.Inbound,
				Kind: "STICKER", SentAt: ms(1518479196308),
				Attachments: []schematype.Attachment{{Type: "sticker", URL: "https://scontent.xx.fbcdn.net/v/t39.1997-6/851557_369239266556155_759568595_n.png"}}},
		}},
		{"location.json", 0, &inbound.Event{
			Kind: inbound.NewMessage, Contact: customer, At: ms(1518479197308),
			Message: &inbound.Message{ExternalID: "mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_e", Direction: inbound.Inbound,
				Kind: "LOCATION", SentAt: ms(1518479197308),
				Attachments: []schematype.Attachment{{Type: "location", Name: "Pinned Location",
					URL:      "https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.bing.com%2Fmaps%2Fdefault.aspx%3Fv%3D2%26pc%3DFACEBK%26mid%3D8100%26where1%3D21.028511%252C%2B105.804817",
					Latitude: ptr(21.028511), Longitude: ptr(105.804817)}}},
		}},
		{"files.json", 0, &inbound.Event{
			Kind: inbound.NewMessage, Contact: customer, At: ms(1518479198308),
			Message: &inbound.Message{ExternalID: "mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_f", Direction: inbound.Inbound,
				Kind: "FILE", Text: "the contract and the recordings", SentAt: ms(1518479198308),
				Attachments: []schematype.Attachment{
					{Type: "file", URL: "https://cdn.fbsbx.com/v/t59.2708-21/contract.pdf"},
					{Type: "audio", URL: "https://cdn.fbsbx.com/v/t59.3654-21/voice.mp4"},
					{Type: "video", URL: "https://video.xx.fbcdn.net/v/t42.3356-2/clip.mp4"},
				}},
		}},
		{"echo.json", 0, &inbound.Event{
			Kind: inbound.NewMessage, Contact: customer, At: ms(1457764197627),
			Message: &inbound.Message{ExternalID: "mid.1457764197618:41d102a3e1ae206a39", Direction: inbound.Outbound,
				Kind: "TEXT", Text: "hello, world!", SentAt: ms(1457764197627)},
		}},
		{"postback.json", 0, &inbound.Event{
			Kind: inbound.NewMessage, Contact: customer, At: ms(1458692752587),
			Message: &inbound.Message{ExternalID: "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P",
				Direction: inbound.Inbound, Kind: "TEXT", Text: "Talk to an agent", SentAt: ms(1458692752587)},
		}},
		{"postback_payload_only.json", 0, &inbound.Event{
			Kind: inbound.NewMessage, Contact: customer, At: ms(1458692761587),
			Message: &inbound.Message{ExternalID: "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0Q",
				Direction: inbound.Inbound, Kind: "TEXT", Text: "ORDER_STATUS", SentAt: ms(1458692761587)},
		}},
		{"message_edit.json", 0, &inbound.Event{
			Kind: inbound.EditMessage, Contact: customer, At: ms(1458692760100),
			Message: &inbound.Message{ExternalID: "mid.1457764197618:41d102a3e1ae206a38", Direction: inbound.Inbound,
				Kind: "TEXT", Text: "hello, world! (edited)", EditedAt: ms(1458692760100)},
		}},
		{"fallback.json", 0, &inbound.Event{
			Kind: inbound.NewMessage, Contact: customer, At: ms(1518479199308),
			Message: &inbound.Message{ExternalID: "mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_g", Direction: inbound.Inbound,
				Kind: "OTHER", Text: "https://www.example.com/spring-sale", SentAt: ms(1518479199308),
				Attachments: []schematype.Attachment{{Type: "fallback", Name: "Spring sale: 30% off everything",
					URL: "https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.example.com%2Fspring-sale&h=AT0"}}},
		}},
		{"delivery.json", 0, &inbound.Event{
			Kind: inbound.Receipt, Contact: customer, At: ms(1458668856253),
			Receipt: &inbound.ReceiptInfo{Status: "DELIVERED", MessageIDs: []string{"mid.1458668856218:ed81099e15d3f4f233"}, Watermark: ms(1458668856253)},
		}},
		{"read.json", 0, &inbound.Event{
			Kind: inbound.Receipt, Contact: customer, At: ms(1458668856463),
			Receipt: &inbound.ReceiptInfo{Status: "READ", Watermark: ms(1458668856253)},
		}},
		{"reaction.json", 0, &inbound.Event{Kind: inbound.Ignore, Contact: customer, At: ms(1458668856900)}},
		{"bigids.json", 0, &inbound.Event{
			Kind: inbound.NewMessage, Contact: inbound.Contact{ExternalID: bigPSID}, At: ms(1700000000100),
			Message: &inbound.Message{ExternalID: "m_9007199254740993_12544591546829193456", Direction: inbound.Inbound,
				Kind: "TEXT", Text: "big ids", SentAt: ms(1700000000100)},
		}},
		{"batch.json", 1, &inbound.Event{
			Kind: inbound.Receipt, Contact: customer, At: ms(1458692758500),
			Receipt: &inbound.ReceiptInfo{Status: "DELIVERED", MessageIDs: []string{"mid.1458692758000:bb02"}, Watermark: ms(1458692758500)},
		}},
		{"batch.json", 2, &inbound.Event{
			Kind: inbound.Receipt, Contact: inbound.Contact{ExternalID: bigPSID}, At: ms(1458692759500),
			Receipt: &inbound.ReceiptInfo{Status: "READ", Watermark: ms(1458692759400)},
		}},
		{"batch.json", 3, &inbound.Event{
			Kind: inbound.NewMessage, Contact: inbound.Contact{ExternalID: bigPSID}, At: ms(1458692759600),
			Message: &inbound.Message{ExternalID: "mid.1458692759600:cc03", Direction: inbound.Inbound,
				Kind: "TEXT", Text: "to the primary app", SentAt: ms(1458692759600)},
		}},
	}
	for _, tt := range tests {
		name := strings.TrimSuffix(tt.fixture, ".json")
		if tt.item > 0 {
			name += "/" + string(rune('0'+tt.item))
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			frags, err := facebook.Split(fixture(t, tt.fixture))
			if err != nil {
				t.Fatal(err)
			}
			got, err := facebook.Decode(frags[tt.item].Raw)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, platformtest.AnyThread); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeItems(t *testing.T) {
	t.Parallel()
	const envelope = `"sender":{"id":"7"},"recipient":{"id":"1"},"timestamp":1700000000000`
	at := ms(1700000000000)
	message := func(kind, text string, atts ...schematype.Attachment) *inbound.Event {
		return &inbound.Event{Kind: inbound.NewMessage, Contact: inbound.Contact{ExternalID: "7"}, At: at,
			Message: &inbound.Message{ExternalID: "m_1", Direction: inbound.Inbound, Kind: kind, Text: text, Attachments: atts, SentAt: at}}
	}
	tests := []struct {
		name, item string
		want       *inbound.Event
	}{
		{"video", `{` + envelope + `,"message":{"mid":"m_1","attachments":[{"type":"video","payload":{"url":"https://v/1.mp4"}}]}}`,
			message("VIDEO", "", schematype.Attachment{Type: "video", URL: "https://v/1.mp4"})},
		{"audio", `{` + envelope + `,"message":{"mid":"m_1","attachments":[{"type":"audio","payload":{"url":"https://a/1.mp4"}}]}}`,
			message("AUDIO", "", schematype.Attachment{Type: "audio", URL: "https://a/1.mp4"})},
		{"reel", `{` + envelope + `,"message":{"mid":"m_1","attachments":[{"type":"reel","payload":{"url":"https://r/1","reel_video_id":123}}]}}`,
			message("OTHER", "", schematype.Attachment{Type: "reel", URL: "https://r/1"})},
		{"fallback shared link", `{` + envelope + `,"message":{"mid":"m_1","text":"look","attachments":[{"type":"fallback","title":"A page","url":"https://l.facebook.com/l.php?u=x","payload":null}]}}`,
			message("OTHER", "look", schematype.Attachment{Type: "fallback", Name: "A page", URL: "https://l.facebook.com/l.php?u=x"})},
		{"fallback with its title and url in the payload", `{` + envelope + `,"message":{"mid":"m_1","attachments":[{"type":"fallback","payload":{"title":"A page","url":"https://l.facebook.com/l.php?u=y"}}]}}`,
			message("OTHER", "", schematype.Attachment{Type: "fallback", Name: "A page", URL: "https://l.facebook.com/l.php?u=y"})},
		{"location without coordinates", `{` + envelope + `,"message":{"mid":"m_1","attachments":[{"type":"location","title":"Somewhere","payload":{}}]}}`,
			message("LOCATION", "", schematype.Attachment{Type: "location", Name: "Somewhere"})},
		{"sticker id null is a picture", `{` + envelope + `,"message":{"mid":"m_1","attachments":[{"type":"image","payload":{"url":"https://i/1","sticker_id":null}}]}}`,
			message("IMAGE", "", schematype.Attachment{Type: "image", URL: "https://i/1"})},
		{"nothing readable", `{` + envelope + `,"message":{"mid":"m_1"}}`, message("OTHER", "")},
		{"reply keeps its text", `{` + envelope + `,"message":{"mid":"m_1","text":"yes","reply_to":{"mid":"m_0","is_self_reply":false}}}`,
			message("TEXT", "yes")},
		{"numeric ids",
			`{"sender":{"id":12544591546829193456},"recipient":{"id":9007199254740993},"timestamp":1700000000000,"message":{"mid":"m_1","text":"n"}}`,
			&inbound.Event{Kind: inbound.NewMessage, Contact: inbound.Contact{ExternalID: bigPSID}, At: at,
				Message: &inbound.Message{ExternalID: "m_1", Direction: inbound.Inbound, Kind: "TEXT", Text: "n", SentAt: at}}},
		// Older echo payloads put the customer elsewhere than the newer
		// ones; is_echo, not the sender, makes it outbound.
		{"echo follows recipient whatever the sender",
			`{"sender":{"id":"7"},"recipient":{"id":"8"},"timestamp":1700000000000,"message":{"is_echo":true,"mid":"m_1","text":"from the page"}}`,
			&inbound.Event{Kind: inbound.NewMessage, Contact: inbound.Contact{ExternalID: "8"}, At: at,
				Message: &inbound.Message{ExternalID: "m_1", Direction: inbound.Outbound, Kind: "TEXT", Text: "from the page", SentAt: at}}},
		{"postback without mid", `{` + envelope + `,"postback":{"title":"Get Started","payload":"GET_STARTED"}}`,
			&inbound.Event{Kind: inbound.NewMessage, Contact: inbound.Contact{ExternalID: "7"}, At: at,
				Message: &inbound.Message{ExternalID: "postback:7:1700000000000", Direction: inbound.Inbound, Kind: "TEXT", Text: "Get Started", SentAt: at}}},
		{"postback without title reads as its payload", `{` + envelope + `,"postback":{"title":"","payload":"GET_STARTED"}}`,
			&inbound.Event{Kind: inbound.NewMessage, Contact: inbound.Contact{ExternalID: "7"}, At: at,
				Message: &inbound.Message{ExternalID: "postback:7:1700000000000", Direction: inbound.Inbound, Kind: "TEXT", Text: "GET_STARTED", SentAt: at}}},
		{"delivery without mids", `{"sender":{"id":"7"},"recipient":{"id":"1"},"delivery":{"watermark":1700000000500}}`,
			&inbound.Event{Kind: inbound.Receipt, Contact: inbound.Contact{ExternalID: "7"}, At: ms(1700000000500),
				Receipt: &inbound.ReceiptInfo{Status: "DELIVERED", Watermark: ms(1700000000500)}}},
		{"optin", `{` + envelope + `,"optin":{"ref":"PASS_THROUGH_PARAM"}}`,
			&inbound.Event{Kind: inbound.Ignore, Contact: inbound.Contact{ExternalID: "7"}, At: at}},
		{"message_edit", `{` + envelope + `,"message_edit":{"mid":"m_1","text":"fixed","num_edit":1}}`,
			&inbound.Event{Kind: inbound.EditMessage, Contact: inbound.Contact{ExternalID: "7"}, At: at,
				Message: &inbound.Message{ExternalID: "m_1", Direction: inbound.Inbound, Kind: "TEXT", Text: "fixed", EditedAt: at}}},
		{"test marker", `{"recipient":{"id":"1"},"timestamp":1700000000000,"switchboard_test":"n-1"}`,
			&inbound.Event{Kind: inbound.Ignore, Test: true, At: at}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := facebook.Decode([]byte(tt.item))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, platformtest.AnyThread); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, item string }{
		{"empty", ``},
		{"not JSON", `message`},
		{"array", `[{"message":{"mid":"m_1"}}]`},
		{"null", `null`},
		{"trailing data", `{"message":{"mid":"m_1"}}{}`},
		{"message without mid", `{"sender":{"id":"7"},"message":{"text":"hi"}}`},
		{"timestamp not a number", `{"sender":{"id":"7"},"timestamp":"yesterday","message":{"mid":"m_1"}}`},
		{"timestamp fractional", `{"sender":{"id":"7"},"timestamp":1.5,"message":{"mid":"m_1"}}`},
		{"latitude not a number", `{"sender":{"id":"7"},"message":{"mid":"m_1","attachments":[{"type":"location","payload":{"coordinates":{"lat":"north","long":1}}}]}}`},
		{"attachments not a list", `{"sender":{"id":"7"},"message":{"mid":"m_1","attachments":{"type":"image"}}}`},
		{"read without watermark", `{"sender":{"id":"7"},"read":{}}`},
		{"message_edit without mid", `{"sender":{"id":"7"},"message_edit":{"text":"fixed"}}`},
		{"message_edit text not a string", `{"sender":{"id":"7"},"message_edit":{"mid":"m_1","text":5}}`},
		{"sender id a float", `{"sender":{"id":1.5},"message":{"mid":"m_1"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, err := facebook.Decode([]byte(tt.item)); !errors.Is(err, facebook.ErrMalformed) {
				t.Errorf("Decode(%s) = %+v, %v; want ErrMalformed", tt.item, got, err)
			}
		})
	}
}

func TestTestEvent(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, page, nonce string }{
		{"plain", fixturePage, "3f9c2a"},
		{"big page id", bigPage, "n"},
		{"nonce needing escapes", "1", `a"b\c</script>` + "\u2028"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := time.Now().Add(-time.Second)
			body := facebook.TestEvent(tt.page, tt.nonce)
			frags, err := facebook.Split(body)
			if err != nil {
				t.Fatalf("Split(%s): %v", body, err)
			}
			if len(frags) != 1 {
				t.Fatalf("got %d fragments, want 1", len(frags))
			}
			f := frags[0]
			if f.DedupKey != "test:"+tt.nonce || f.Account != tt.page || f.Type != "test" {
				t.Errorf("fragment = {%q %q %q}, want {test %q %q}", f.Type, f.DedupKey, f.Account, "test:"+tt.nonce, tt.page)
			}
			ev, err := facebook.Decode(f.Raw)
			if err != nil {
				t.Fatal(err)
			}
			if !ev.Test || ev.Kind != inbound.Ignore || ev.Message != nil || ev.Receipt != nil {
				t.Errorf("Decode = %+v, want a test event to ignore", ev)
			}
			if ev.At.Before(before) || ev.At.After(time.Now().Add(time.Second)) {
				t.Errorf("At = %v, want about now", ev.At)
			}
			// A real delivery is signed; the synthetic one must pass the same check.
			if graphapi.Verify(http.Header{graphapi.SignatureHeader: {graphapi.Sign(fixtureSecret, body)}}, body, fixtureSecret) != nil {
				t.Error("signed test event does not verify")
			}
		})
	}
}

// TestFixturesAreSigned checks every fixture against the signature openssl
// made for it, the way the webhook handler will check Meta's. After editing
// a fixture, re-sign it:
//
//	cd testdata && for f in *.json; do printf '%s sha256=%s\n' "$f" \
//	  "$(openssl dgst -sha256 -hmac fixture-app-secret -r < $f | cut -d' ' -f1)"; done > signatures.txt
func TestFixturesAreSigned(t *testing.T) {
	t.Parallel()
	sigs := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(fixture(t, "signatures.txt")))
	for sc.Scan() {
		name, sig, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("bad line %q", sc.Text())
		}
		sigs[name] = sig
	}
	names, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, path := range names {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body := fixture(t, name)
			sig, ok := sigs[name]
			if !ok {
				t.Fatal("no signature in testdata/signatures.txt")
			}
			if graphapi.Verify(http.Header{graphapi.SignatureHeader: {sig}}, body, fixtureSecret) != nil {
				t.Fatal("signature does not verify; re-sign the fixture")
			}
			tampered := bytes.Replace(body, []byte(fixturePSID), []byte("1254459154682918"), 1)
			if bytes.Equal(tampered, body) {
				tampered = append(body[:len(body):len(body)], ' ')
			}
			if graphapi.Verify(http.Header{graphapi.SignatureHeader: {sig}}, tampered, fixtureSecret) == nil {
				t.Error("tampered fixture verifies")
			}
			if _, err := facebook.Split(body); err != nil {
				t.Errorf("signed fixture does not split: %v", err)
			}
		})
	}
}
