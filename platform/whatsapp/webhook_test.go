package whatsapp_test

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
	"github.com/switchboard-chat/switchboard/platform/graphapi"
	"github.com/switchboard-chat/switchboard/platform/platformtest"
	"github.com/switchboard-chat/switchboard/platform/whatsapp"
)

const (
	fixtureNumber = "106540352242922"
	otherNumber   = "106540352249999"
	sheena        = "16505551234"
	an            = "84912345678"
	// fixtureSecret signed testdata/*.json into testdata/signatures.txt.
	fixtureSecret = "fixture-app-secret"
)

func fixture(t testing.TB, name string) []byte { return testkit.Fixture(t, "whatsapp", name) }

func unix(v int64) time.Time { return time.Unix(v, 0).UTC() }

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

// valueOf finds entry[e].changes[c].value in body, independently of Split.
func valueOf(t *testing.T, body []byte, e, c int) map[string]any {
	t.Helper()
	entries := generic(t, body).(map[string]any)["entry"].([]any)
	changes := entries[e].(map[string]any)["changes"].([]any)
	return changes[c].(map[string]any)["value"].(map[string]any)
}

type wantFragment struct {
	Type, DedupKey, Account string
	// Where the event sits: entry[entry].changes[change].value.<list>[item],
	// and for messages the index of the sender's contact (-1: none).
	entry, change int
	list          string
	item, contact int
}

func TestSplit(t *testing.T) {
	t.Parallel()
	msg := func(wamid string) wantFragment {
		return wantFragment{Type: "message", DedupKey: "wamid:" + wamid, Account: fixtureNumber, list: "messages"}
	}
	st := func(wamid, status string) wantFragment {
		return wantFragment{Type: "status", DedupKey: "status:" + wamid + ":" + status, Account: fixtureNumber, list: "statuses", contact: -1}
	}
	at := func(w wantFragment, item int) wantFragment { w.item = item; return w }
	tests := []struct {
		fixture string
		want    []wantFragment
	}{
		{"text.json", []wantFragment{msg("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUJFNTI4QzRDQjM5RjE2QzVFMwA=")}},
		{"image.json", []wantFragment{msg("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTI4MTE3RjA0QTRBNzI5MjFDNQA=")}},
		{"document.json", []wantFragment{msg("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTBFNDMwNjM2NDc2MTJBNkE2MgA=")}},
		{"location.json", []wantFragment{msg("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTQ1RjI0QTYzNUEzQjY4NTMzRAA=")}},
		{"interactive_button.json", []wantFragment{msg("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUI5OEZBOTQ2OTJDNUIzRjEyMAA=")}},
		{"interactive_list.json", []wantFragment{msg("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUM1MkM3RkQ3QzA0QTRBQzVBNQA=")}},
		{"button.json", []wantFragment{msg("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUU3QjlBQzQ1RjM2RDA5NzFEOQA=")}},
		{"reaction.json", []wantFragment{msg("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTNFQjA4M0U2QjE2N0Y0NjlDQgA=")}},
		{"media.json", []wantFragment{
			msg("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUY2RTA5QUE4NTM4OTk3RDA0RQA="),
			at(msg("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTdCNTJFNjAxNzE1RTYxNTRBRQA="), 1),
			at(msg("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTk5QjJGRkQwNTc3QjE1QjdEMgA="), 2),
		}},
		{"status_sent.json", []wantFragment{st("wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI2QjU1RjdGNTQ4QjlGMDVBODYA", "sent")}},
		{"status_delivered.json", []wantFragment{st("wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI2QjU1RjdGNTQ4QjlGMDVBODYA", "delivered")}},
		{"status_read.json", []wantFragment{st("wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI2QjU1RjdGNTQ4QjlGMDVBODYA", "read")}},
		{"status_failed.json", []wantFragment{st("wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI2QjU1RjdGNTQ4QjlGMDVBODkA", "failed")}},
		// The contacts come in the other order from the messages, so each
		// message must find its sender's profile by wa_id, not by position.
		{"two_messages.json", []wantFragment{
			{Type: "message", DedupKey: "wamid:wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTAwMDAwMDAwMDAwMDAwMDAxAA==", Account: fixtureNumber, list: "messages", item: 0, contact: 1},
			{Type: "message", DedupKey: "wamid:wamid.HBgLODQ5MTIzNDU2NzgVAgASGBQzQTAwMDAwMDAwMDAwMDAwMDAyAA==", Account: fixtureNumber, list: "messages", item: 1, contact: 0},
		}},
		{"batch.json", []wantFragment{
			{Type: "message", DedupKey: "wamid:wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTAwMDAwMDAwMDAwMDAwMDAzAA==", Account: fixtureNumber, list: "messages"},
			{Type: "status", DedupKey: "status:wamid.HBgLODQ5MTIzNDU2NzgVAgARGBIwMDAwMDAwMDAwMDAwMDAwMDQA:delivered", Account: otherNumber, entry: 1, change: 1, list: "statuses", item: 0, contact: -1},
			{Type: "status", DedupKey: "status:wamid.HBgLODQ5MTIzNDU2NzgVAgARGBIwMDAwMDAwMDAwMDAwMDAwMDQA:read", Account: otherNumber, entry: 1, change: 1, list: "statuses", item: 1, contact: -1},
		}},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.fixture, ".json"), func(t *testing.T) {
			t.Parallel()
			body := fixture(t, tt.fixture)
			frags, err := whatsapp.Split(body)
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
				value := valueOf(t, body, w.entry, w.change)
				checkRaw(t, body, f.Raw, value, w)
			}
		})
	}
}

// checkRaw checks that raw is {"contact":…,"message":…} or {"status":…}
// spliced from the body's own bytes, holding the right parts.
func checkRaw(t *testing.T, body, raw []byte, value map[string]any, w wantFragment) {
	t.Helper()
	var parts map[string]json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil {
		t.Fatalf("Raw %s: %v", raw, err)
	}
	verbatim := func(part string) {
		t.Helper()
		if p := parts[part]; !bytes.Contains(body, p) {
			t.Errorf("Raw %s is not verbatim from the body: %s", part, p)
		}
	}
	item := value[w.list].([]any)[w.item]
	if w.list == "statuses" {
		if want := `{"status":` + string(parts["status"]) + `}`; string(raw) != want || len(parts) != 1 {
			t.Errorf("Raw = %s, want the status alone", raw)
		}
		verbatim("status")
		if diff := cmp.Diff(item, generic(t, parts["status"])); diff != "" {
			t.Errorf("Raw status is not %s[%d] (-want +got):\n%s", w.list, w.item, diff)
		}
		return
	}
	if want := `{"contact":` + string(parts["contact"]) + `,"message":` + string(parts["message"]) + `}`; string(raw) != want || len(parts) != 2 {
		t.Errorf("Raw = %s, want contact and message spliced together", raw)
	}
	verbatim("message")
	if diff := cmp.Diff(item, generic(t, parts["message"])); diff != "" {
		t.Errorf("Raw message is not %s[%d] (-want +got):\n%s", w.list, w.item, diff)
	}
	if w.contact < 0 {
		if string(parts["contact"]) != "null" {
			t.Errorf("Raw contact = %s, want null", parts["contact"])
		}
		return
	}
	verbatim("contact")
	if diff := cmp.Diff(value["contacts"].([]any)[w.contact], generic(t, parts["contact"])); diff != "" {
		t.Errorf("Raw contact is not contacts[%d] (-want +got):\n%s", w.contact, diff)
	}
}

func TestSplitKeepsWhitespaceOfParts(t *testing.T) {
	t.Parallel()
	frags, err := whatsapp.Split(fixture(t, "two_messages.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"contact":{"profile": {"name": "Nguy\u1ec5n V\u0103n An"}, "wa_id": "84912345678"},` +
		`"message":{"from": "84912345678", "id": "wamid.HBgLODQ5MTIzNDU2NzgVAgASGBQzQTAwMDAwMDAwMDAwMDAwMDAyAA==", "timestamp": "1739323001", "type": "text", "text": {"body": "Xin ch\u00e0o"}}}`
	if got := string(frags[1].Raw); got != want {
		t.Errorf("Raw = %s\nwant %s", got, want)
	}
}

func TestSplitEdgeCases(t *testing.T) {
	t.Parallel()
	const meta = `"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}`
	body := func(changes string) string {
		return `{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[` + changes + `]}]}`
	}
	tests := []struct {
		name, body string
		want       []inbound.Fragment
	}{
		{"empty batch", `{"object":"whatsapp_business_account","entry":[]}`, nil},
		{"other fields give nothing", body(`{"field":"message_template_status_update","value":{"event":"APPROVED","message_template_id":123}},{"field":"account_update","value":"anything"}`), nil},
		{"messages field without events", body(`{"field":"messages","value":{` + meta + `,"errors":[{"code":131000,"title":"Something went wrong"}]}}`), nil},
		{"sender without a profile", body(`{"field":"messages","value":{` + meta + `,"contacts":[{"profile":{"name":"Someone"},"wa_id":"1"}],"messages":[{"from":"2","id":"wamid.X","timestamp":"1","type":"text","text":{"body":"hi"}}]}}`),
			[]inbound.Fragment{{Type: "message", DedupKey: "wamid:wamid.X", Account: fixtureNumber,
				Raw: []byte(`{"contact":null,"message":{"from":"2","id":"wamid.X","timestamp":"1","type":"text","text":{"body":"hi"}}}`)}}},
		{"message and status in one value", body(`{"field":"messages","value":{` + meta + `,"messages":[{"from":"2","id":"wamid.A","type":"text"}],"statuses":[{"id":"wamid.B","status":"read","recipient_id":"2"}]}}`),
			[]inbound.Fragment{
				{Type: "message", DedupKey: "wamid:wamid.A", Account: fixtureNumber, Raw: []byte(`{"contact":null,"message":{"from":"2","id":"wamid.A","type":"text"}}`)},
				{Type: "status", DedupKey: "status:wamid.B:read", Account: fixtureNumber, Raw: []byte(`{"status":{"id":"wamid.B","status":"read","recipient_id":"2"}}`)},
			}},
		{"an oversized contact travels as its id and a bounded name", body(`{"field":"messages","value":{` + meta + `,"contacts":[{"profile":{"name":"` + strings.Repeat("á", 300) + `"},"wa_id":"2","padding":"` + strings.Repeat("x", 2000) + `"}],"messages":[{"from":"2","id":"wamid.C","type":"text"}]}}`),
			[]inbound.Fragment{{Type: "message", DedupKey: "wamid:wamid.C", Account: fixtureNumber,
				Raw: []byte(`{"contact":{"profile":{"name":"` + strings.Repeat("á", 128) + `"},"wa_id":"2"},"message":{"from":"2","id":"wamid.C","type":"text"}}`)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := whatsapp.Split([]byte(tt.body))
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
	const meta = `"metadata":{"phone_number_id":"106540352242922"}`
	value := func(v string) string {
		return `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":` + v + `}]}]}`
	}
	tests := []struct{ name, body string }{
		{"empty body", ``},
		{"not JSON", `object=whatsapp_business_account`},
		{"truncated", `{"object":"whatsapp_business_account","entry":[`},
		{"trailing garbage", `{"object":"whatsapp_business_account","entry":[]}]`},
		{"array", `[]`},
		{"null", `null`},
		{"no object", `{"entry":[]}`},
		{"page", `{"object":"page","entry":[]}`},
		{"no entry", `{"object":"whatsapp_business_account"}`},
		{"entry not an array", `{"object":"whatsapp_business_account","entry":{}}`},
		{"changes not an array", `{"object":"whatsapp_business_account","entry":[{"changes":{}}]}`},
		{"messages change without value", `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages"}]}]}`},
		{"value not an object", value(`[]`)},
		{"no phone number id", value(`{"messages":[{"from":"1","id":"wamid.A"}]}`)},
		{"phone number id a number", value(`{"metadata":{"phone_number_id":106540352242922},"messages":[{"from":"1","id":"wamid.A"}]}`)},
		{"messages not an array", value(`{` + meta + `,"messages":{"id":"wamid.A"}}`)},
		{"message without id", value(`{` + meta + `,"messages":[{"from":"1","type":"text"}]}`)},
		{"null message", value(`{` + meta + `,"messages":[null]}`)},
		{"message id a number", value(`{` + meta + `,"messages":[{"from":"1","id":7}]}`)},
		{"contact not an object", value(`{` + meta + `,"contacts":["1"],"messages":[{"from":"1","id":"wamid.A"}]}`)},
		{"status without status", value(`{` + meta + `,"statuses":[{"id":"wamid.A"}]}`)},
		{"status without id", value(`{` + meta + `,"statuses":[{"status":"read"}]}`)},
		{"empty test nonce", value(`{` + meta + `,"messages":[{"switchboard_test":""}]}`)},
		{"test nonce not a string", value(`{` + meta + `,"messages":[{"switchboard_test":1}]}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, err := whatsapp.Split([]byte(tt.body)); !errors.Is(err, whatsapp.ErrMalformed) {
				t.Errorf("Split(%s) = %+v, %v; want ErrMalformed", tt.body, got, err)
			}
		})
	}
}

func TestDecodeFixtures(t *testing.T) {
	t.Parallel()
	customer := inbound.Contact{ExternalID: sheena, Name: "Sheena Nelson", Phone: "+" + sheena}
	message := func(at int64, wamid, kind, text string, atts ...schematype.Attachment) *inbound.Event {
		return &inbound.Event{Kind: inbound.NewMessage, Contact: customer, At: unix(at),
			Message: &inbound.Message{ExternalID: wamid, Direction: inbound.Inbound, Kind: kind, Text: text, Attachments: atts, SentAt: unix(at)}}
	}
	receipt := func(at int64, status, wamid, errText string) *inbound.Event {
		return &inbound.Event{Kind: inbound.Receipt, Contact: inbound.Contact{ExternalID: sheena}, At: unix(at),
			Receipt: &inbound.ReceiptInfo{Status: status, MessageIDs: []string{wamid}, Error: errText}}
	}
	const outbound = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI2QjU1RjdGNTQ4QjlGMDVBODYA"
	tests := []struct {
		fixture string
		item    int
		want    *inbound.Event
	}{
		{"text.json", 0, message(1739321024, "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUJFNTI4QzRDQjM5RjE2QzVFMwA=", "TEXT", "Hello")},
		{"image.json", 0, message(1739321100, "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTI4MTE3RjA0QTRBNzI5MjFDNQA=", "IMAGE", "Our storefront",
			schematype.Attachment{Type: "image", PlatformFileID: "1003383421387256", MimeType: "image/jpeg"})},
		{"document.json", 0, message(1739321200, "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTBFNDMwNjM2NDc2MTJBNkE2MgA=", "FILE", "February invoice",
			schematype.Attachment{Type: "file", PlatformFileID: "2391811157864531", MimeType: "application/pdf", Name: "invoice-2025-02.pdf"})},
		{"location.json", 0, message(1739321300, "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTQ1RjI0QTYzNUEzQjY4NTMzRAA=", "LOCATION", "Hồ Gươm\nHoàn Kiếm, Hà Nội",
			schematype.Attachment{Type: "location", Name: "Hồ Gươm", URL: "https://maps.example/hoan-kiem", Latitude: ptr(21.028767), Longitude: ptr(105.852409)})},
		{"interactive_button.json", 0, message(1739321400, "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUI5OEZBOTQ2OTJDNUIzRjEyMAA=", "TEXT", "Confirm order")},
		{"interactive_list.json", 0, message(1739321500, "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUM1MkM3RkQ3QzA0QTRBQzVBNQA=", "TEXT", "Tuesday 10:00")},
		{"button.json", 0, message(1739321600, "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUU3QjlBQzQ1RjM2RDA5NzFEOQA=", "TEXT", "Stop promotions")},
		{"media.json", 0, message(1739321700, "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUY2RTA5QUE4NTM4OTk3RDA0RQA=", "AUDIO", "",
			schematype.Attachment{Type: "audio", PlatformFileID: "1436522837078245", MimeType: "audio/ogg; codecs=opus"})},
		{"media.json", 1, message(1739321701, "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTdCNTJFNjAxNzE1RTYxNTRBRQA=", "VIDEO", "unboxing",
			schematype.Attachment{Type: "video", PlatformFileID: "1121432079183216", MimeType: "video/mp4"})},
		{"media.json", 2, message(1739321702, "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTk5QjJGRkQwNTc3QjE1QjdEMgA=", "STICKER", "",
			schematype.Attachment{Type: "sticker", PlatformFileID: "1180745136461296", MimeType: "image/webp"})},
		{"reaction.json", 0, message(1739321800, "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTNFQjA4M0U2QjE2N0Y0NjlDQgA=", "OTHER", "")},
		{"status_sent.json", 0, receipt(1739322000, "SENT", outbound, "")},
		{"status_delivered.json", 0, receipt(1739322003, "DELIVERED", outbound, "")},
		{"status_read.json", 0, receipt(1739322060, "READ", outbound, "")},
		// The message only repeats the title, so the details stand in for it.
		{"status_failed.json", 0, receipt(1739322100, "FAILED", "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI2QjU1RjdGNTQ4QjlGMDVBODkA",
			"Re-engagement message: Message failed to send because more than 24 hours have passed since the customer last replied to this number.")},
		{"two_messages.json", 0, message(1739323000, "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTAwMDAwMDAwMDAwMDAwMDAxAA==", "TEXT", "Is the blue one in stock?")},
		{"two_messages.json", 1, &inbound.Event{Kind: inbound.NewMessage, At: unix(1739323001),
			Contact: inbound.Contact{ExternalID: an, Name: "Nguyễn Văn An", Phone: "+" + an},
			Message: &inbound.Message{ExternalID: "wamid.HBgLODQ5MTIzNDU2NzgVAgASGBQzQTAwMDAwMDAwMDAwMDAwMDAyAA==", Direction: inbound.Inbound,
				Kind: "TEXT", Text: "Xin chào", SentAt: unix(1739323001)}}},
		{"batch.json", 2, &inbound.Event{Kind: inbound.Receipt, Contact: inbound.Contact{ExternalID: an}, At: unix(1739324009),
			Receipt: &inbound.ReceiptInfo{Status: "READ", MessageIDs: []string{"wamid.HBgLODQ5MTIzNDU2NzgVAgARGBIwMDAwMDAwMDAwMDAwMDAwMDQA"}}}},
	}
	for _, tt := range tests {
		name := strings.TrimSuffix(tt.fixture, ".json")
		if tt.item > 0 {
			name += "/" + string(rune('0'+tt.item))
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			frags, err := whatsapp.Split(fixture(t, tt.fixture))
			if err != nil {
				t.Fatal(err)
			}
			got, err := whatsapp.Decode(frags[tt.item].Raw)
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
	at := unix(1739321024)
	message := func(contact inbound.Contact, kind, text string, atts ...schematype.Attachment) *inbound.Event {
		return &inbound.Event{Kind: inbound.NewMessage, Contact: contact, At: at,
			Message: &inbound.Message{ExternalID: "wamid.A", Direction: inbound.Inbound, Kind: kind, Text: text, Attachments: atts, SentAt: at}}
	}
	known := inbound.Contact{ExternalID: "1", Name: "N", Phone: "+1"}
	const contact = `{"profile":{"name":"N"},"wa_id":"1"}`
	m := func(body string) string {
		return `{"contact":` + contact + `,"message":{"from":"1","id":"wamid.A","timestamp":"1739321024",` + body + `}}`
	}
	failed := func(errs string) string {
		return `{"status":{"id":"wamid.B","status":"failed","timestamp":"1739321024","recipient_id":"1","errors":` + errs + `}}`
	}
	receipt := func(status, errText string) *inbound.Event {
		return &inbound.Event{Kind: inbound.Receipt, Contact: inbound.Contact{ExternalID: "1"}, At: at,
			Receipt: &inbound.ReceiptInfo{Status: status, MessageIDs: []string{"wamid.B"}, Error: errText}}
	}
	tests := []struct {
		name, raw string
		want      *inbound.Event
	}{
		{"no profile: id and phone from the sender",
			`{"contact":null,"message":{"from":"16505551234","id":"wamid.A","timestamp":"1739321024","type":"text","text":{"body":"hi"}}}`,
			message(inbound.Contact{ExternalID: sheena, Phone: "+" + sheena}, "TEXT", "hi")},
		{"non-numeric id is no phone",
			`{"contact":{"profile":{"name":"U"},"wa_id":"US.abc123"},"message":{"from":"US.abc123","id":"wamid.A","timestamp":"1739321024","type":"text","text":{"body":"hi"}}}`,
			message(inbound.Contact{ExternalID: "US.abc123", Name: "U"}, "TEXT", "hi")},
		{"timestamp as a number", `{"contact":null,"message":{"from":"1","id":"wamid.A","timestamp":1739321024,"type":"text","text":{"body":"x"}}}`,
			message(inbound.Contact{ExternalID: "1", Phone: "+1"}, "TEXT", "x")},
		{"image without caption", m(`"type":"image","image":{"id":"9","mime_type":"image/png"}`),
			message(known, "IMAGE", "", schematype.Attachment{Type: "image", PlatformFileID: "9", MimeType: "image/png"})},
		{"image without its object", m(`"type":"image"`), message(known, "IMAGE", "")},
		{"location with only coordinates", m(`"type":"location","location":{"latitude":-33.8688,"longitude":151.2093}`),
			message(known, "LOCATION", "", schematype.Attachment{Type: "location", Latitude: ptr(-33.8688), Longitude: ptr(151.2093)})},
		{"location with only an address", m(`"type":"location","location":{"latitude":1,"longitude":2,"address":"1 Main St"}`),
			message(known, "LOCATION", "1 Main St", schematype.Attachment{Type: "location", Latitude: ptr(1), Longitude: ptr(2)})},
		{"interactive flow reply", m(`"type":"interactive","interactive":{"type":"nfm_reply","nfm_reply":{"response_json":"{}","body":"Sent"}}`),
			message(known, "OTHER", "")},
		{"unsupported", m(`"type":"unsupported","errors":[{"code":131051,"title":"Message type unknown"}]`), message(known, "OTHER", "")},
		{"contacts card", m(`"type":"contacts","contacts":[{"name":{"formatted_name":"Bob"}}]`), message(known, "OTHER", "")},
		{"unknown type", m(`"type":"hologram"`), message(known, "OTHER", "")},
		{"failed with a distinct message", failed(`[{"code":131026,"title":"Message undeliverable","message":"Receiver is incapable of receiving this message","error_data":{"details":"more"}}]`),
			receipt("FAILED", "Message undeliverable: Receiver is incapable of receiving this message")},
		{"failed with a title only", failed(`[{"code":131026,"title":"Message undeliverable","message":"message undeliverable"}]`),
			receipt("FAILED", "Message undeliverable")},
		{"failed without a title", failed(`[{"code":1,"message":"Something"}]`), receipt("FAILED", "Something")},
		{"failed without errors", failed(`[]`), receipt("FAILED", "")},
		{"status not moving a message", `{"status":{"id":"wamid.B","status":"deleted","timestamp":"1739321024","recipient_id":"1"}}`,
			&inbound.Event{Kind: inbound.Ignore, Contact: inbound.Contact{ExternalID: "1"}, At: at}},
		{"test marker", `{"contact":null,"message":{"timestamp":"1739321024","type":"switchboard_test","switchboard_test":"n"}}`,
			&inbound.Event{Kind: inbound.Ignore, Test: true, At: at}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := whatsapp.Decode([]byte(tt.raw))
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
	tests := []struct{ name, raw string }{
		{"empty", ``},
		{"not JSON", `wamid`},
		{"array", `[]`},
		{"neither message nor status", `{"contact":{"wa_id":"1"}}`},
		{"both null", `{"contact":null,"message":null}`},
		{"trailing data", `{"status":{"id":"wamid.B","status":"read"}} {}`},
		{"message without id", `{"contact":null,"message":{"from":"1","type":"text"}}`},
		{"message not an object", `{"contact":null,"message":"hi"}`},
		{"contact not an object", `{"contact":"1","message":{"from":"1","id":"wamid.A","type":"text"}}`},
		{"timestamp not a number", `{"contact":null,"message":{"from":"1","id":"wamid.A","timestamp":"today","type":"text"}}`},
		{"timestamp fractional", `{"contact":null,"message":{"from":"1","id":"wamid.A","timestamp":"1.5","type":"text"}}`},
		{"latitude not a number", `{"contact":null,"message":{"from":"1","id":"wamid.A","type":"location","location":{"latitude":"north","longitude":1}}}`},
		{"status without id", `{"status":{"status":"read","timestamp":"1"}}`},
		{"status timestamp not a number", `{"status":{"id":"wamid.B","status":"read","timestamp":"x"}}`},
		{"errors not a list", `{"status":{"id":"wamid.B","status":"failed","errors":{"title":"x"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, err := whatsapp.Decode([]byte(tt.raw)); !errors.Is(err, whatsapp.ErrMalformed) {
				t.Errorf("Decode(%s) = %+v, %v; want ErrMalformed", tt.raw, got, err)
			}
		})
	}
}

func TestTestEvent(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, number, nonce string }{
		{"plain", fixtureNumber, "3f9c2a"},
		{"nonce needing escapes", otherNumber, `a"b\c</script>` + "\u2028"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := time.Now().Add(-time.Second)
			body := whatsapp.TestEvent(tt.number, tt.nonce)
			frags, err := whatsapp.Split(body)
			if err != nil {
				t.Fatalf("Split(%s): %v", body, err)
			}
			if len(frags) != 1 {
				t.Fatalf("got %d fragments, want 1", len(frags))
			}
			f := frags[0]
			if f.DedupKey != "test:"+tt.nonce || f.Account != tt.number || f.Type != "test" {
				t.Errorf("fragment = {%q %q %q}, want {test %q %q}", f.Type, f.DedupKey, f.Account, "test:"+tt.nonce, tt.number)
			}
			ev, err := whatsapp.Decode(f.Raw)
			if err != nil {
				t.Fatal(err)
			}
			if !ev.Test || ev.Kind != inbound.Ignore || ev.Message != nil || ev.Receipt != nil {
				t.Errorf("Decode = %+v, want a test event to ignore", ev)
			}
			if ev.At.Before(before.Truncate(time.Second)) || ev.At.After(time.Now().Add(time.Second)) {
				t.Errorf("At = %v, want about now", ev.At)
			}
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
			tampered := bytes.Replace(body, []byte(fixtureNumber), []byte(otherNumber), 1)
			if graphapi.Verify(http.Header{graphapi.SignatureHeader: {sig}}, tampered, fixtureSecret) == nil {
				t.Error("tampered fixture verifies")
			}
			if _, err := whatsapp.Split(body); err != nil {
				t.Errorf("signed fixture does not split: %v", err)
			}
		})
	}
}
