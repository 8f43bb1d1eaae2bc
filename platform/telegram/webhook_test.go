package telegram_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/inbound"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/platformtest"
	"github.com/switchboard-chat/switchboard/platform/telegram"
)

func fixture(t testing.TB, name string) []byte { return testkit.Fixture(t, "telegram", name) }

func unix(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

func ptr[T any](v T) *T { return &v }

func TestSplit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, wantType, wantKey string
	}{
		{"text", "text.json", "message", "update:10000"},
		{"edited message", "edited_message.json", "edited_message", "update:10000"},
		{"photo", "photo.json", "message", "update:10001"},
		{"document", "document.json", "message", "update:10002"},
		{"sticker", "sticker.json", "message", "update:10003"},
		{"location", "location.json", "message", "update:10004"},
		{"voice", "voice.json", "message", "update:10005"},
		{"audio", "audio.json", "message", "update:10006"},
		{"video", "video.json", "message", "update:10007"},
		{"contact", "contact.json", "message", "update:10008"},
		{"group message", "group_message.json", "message", "update:10009"},
		{"chat id above 2^53", "big_chat_id.json", "message", "update:10010"},
		{"callback query", "callback_query.json", "callback_query", "update:10011"},
		{"paid media", "paid_media.json", "message", "update:10012"},
		{"callback query in a private chat", "callback_query_message.json", "callback_query", "update:10013"},
		{"callback query in a group", "callback_query_group.json", "callback_query", "update:10014"},
		{"callback query on an inaccessible message", "callback_query_inaccessible.json", "callback_query", "update:10015"},
		{"supergroup message of a channel", "supergroup_channel_sender.json", "message", "update:10016"},
		{"supergroup message of an anonymous admin", "supergroup_anonymous_admin.json", "message", "update:10017"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := fixture(t, tt.file)
			got, err := telegram.Split(body)
			if err != nil {
				t.Fatalf("Split: %v", err)
			}
			want := []inbound.Fragment{{Type: tt.wantType, DedupKey: tt.wantKey, Account: "", Raw: body}}
			if diff := cmp.Diff(want, got, platformtest.AnyThread); diff != "" {
				t.Errorf("Split (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSplitType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want string
	}{
		{"no payload", `{"update_id":5}`, "unknown"},
		{"update type newer than this code", `{"update_id":5,"managed_bot":{"user":{"id":1}}}`, "managed_bot"},
		{"scalar field is not a payload", `{"update_id":5,"note":"x"}`, "unknown"},
		{"negative update_id", `{"update_id":-7,"poll":{"id":"1"}}`, "poll"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := telegram.Split([]byte(tt.body))
			if err != nil {
				t.Fatalf("Split: %v", err)
			}
			if len(got) != 1 || got[0].Type != tt.want {
				t.Errorf("Split = %+v, want one fragment of type %q", got, tt.want)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string // a fixture under testdata, or
		body string // an inline body for variations no fixture covers
		want *inbound.Event
	}{
		{
			name: "private text",
			file: "text.json",
			want: &inbound.Event{
				Kind:    inbound.NewMessage,
				Contact: inbound.Contact{ExternalID: "1111111", Name: "Test Firstname Test Lastname"},
				Message: &inbound.Message{
					ExternalID: "1111111:1365", Direction: inbound.Inbound, Kind: "TEXT",
					Text: "/start", SentAt: unix(1441645532),
				},
				At: unix(1441645532),
			},
		},
		{
			name: "edited message keeps its date and is edited at edit_date",
			file: "edited_message.json",
			want: &inbound.Event{
				Kind:    inbound.EditMessage,
				Contact: inbound.Contact{ExternalID: "1111111", Name: "Test Firstname Test Lastname"},
				Message: &inbound.Message{
					ExternalID: "1111111:1365", Direction: inbound.Inbound, Kind: "TEXT",
					Text: "Edited text", SentAt: unix(1441645532), EditedAt: unix(1441646600),
				},
				At: unix(1441646600),
			},
		},
		{
			name: "edited message without edit_date leaves its edit time to arrival",
			body: `{"update_id":3,"edited_message":{"message_id":9,"date":1700000000,
				"chat":{"id":42,"type":"private","first_name":"Ann"},"text":"fixed"}}`,
			want: &inbound.Event{
				Kind:    inbound.EditMessage,
				Contact: inbound.Contact{ExternalID: "42", Name: "Ann"},
				Message: &inbound.Message{
					ExternalID: "42:9", Direction: inbound.Inbound, Kind: "TEXT",
					Text: "fixed", SentAt: unix(1700000000),
				},
				At: unix(1700000000),
			},
		},
		{
			name: "photo takes the largest size and the caption",
			file: "photo.json",
			want: &inbound.Event{
				Kind:    inbound.NewMessage,
				Contact: inbound.Contact{ExternalID: "1111111", Name: "Test"},
				Message: &inbound.Message{
					ExternalID: "1111111:1366", Direction: inbound.Inbound, Kind: "IMAGE",
					Text: "optional caption",
					Attachments: []schematype.Attachment{
						{Type: "image", PlatformFileID: "AgACAgIAAxkBAAIBZ2big", Size: 98000},
					},
					SentAt: unix(1441645600),
				},
				At: unix(1441645600),
			},
		},
		{
			name: "photo sizes out of order",
			body: `{"update_id":4,"message":{"message_id":2,"date":1700000000,
				"chat":{"id":42,"type":"private","first_name":"Ann"},
				"photo":[{"file_id":"big","file_unique_id":"b","width":800,"height":600,"file_size":50000},
				         {"file_id":"small","file_unique_id":"s","width":90,"height":67,"file_size":1000}]}}`,
			want: &inbound.Event{
				Kind:    inbound.NewMessage,
				Contact: inbound.Contact{ExternalID: "42", Name: "Ann"},
				Message: &inbound.Message{
					ExternalID: "42:2", Direction: inbound.Inbound, Kind: "IMAGE",
					Attachments: []schematype.Attachment{{Type: "image", PlatformFileID: "big", Size: 50000}},
					SentAt:      unix(1700000000),
				},
				At: unix(1700000000),
			},
		},
		{
			name: "document",
			file: "document.json",
			want: &inbound.Event{
				Kind:    inbound.NewMessage,
				Contact: inbound.Contact{ExternalID: "1111111", Name: "Test Lastname"},
				Message: &inbound.Message{
					ExternalID: "1111111:1367", Direction: inbound.Inbound, Kind: "FILE",
					Attachments: []schematype.Attachment{{
						Type: "file", Name: "invoice-2024-06.pdf", MimeType: "application/pdf",
						Size: 204800, PlatformFileID: "BQACAgIAAxkBAAIBaGdocument",
					}},
					SentAt: unix(1441645700),
				},
				At: unix(1441645700),
			},
		},
		{
			name: "sticker",
			file: "sticker.json",
			want: &inbound.Event{
				Kind:    inbound.NewMessage,
				Contact: inbound.Contact{ExternalID: "1111111", Name: "Test"},
				Message: &inbound.Message{
					ExternalID: "1111111:1368", Direction: inbound.Inbound, Kind: "STICKER",
					Attachments: []schematype.Attachment{{
						Type: "sticker", Name: "👍", Size: 23456, PlatformFileID: "CAACAgIAAxkBAAIBaWsticker",
					}},
					SentAt: unix(1441645800),
				},
				At: unix(1441645800),
			},
		},
		{
			name: "location",
			file: "location.json",
			want: &inbound.Event{
				Kind:    inbound.NewMessage,
				Contact: inbound.Contact{ExternalID: "1111111", Name: "Test"},
				Message: &inbound.Message{
					ExternalID: "1111111:1369", Direction: inbound.Inbound, Kind: "LOCATION",
					Attachments: []schematype.Attachment{{
						Type: "location", Latitude: ptr(10.776889), Longitude: ptr(106.700806),
					}},
					SentAt: unix(1441645900),
				},
				At: unix(1441645900),
			},
		},
		{
			name: "voice",
			file: "voice.json",
			want: &inbound.Event{
				Kind:    inbound.NewMessage,
				Contact: inbound.Contact{ExternalID: "1111111", Name: "Test"},
				Message: &inbound.Message{
					ExternalID: "1111111:1370", Direction: inbound.Inbound, Kind: "AUDIO",
					Attachments: []schematype.Attachment{{
						Type: "audio", MimeType: "audio/ogg", Size: 23000, PlatformFileID: "AwACAgIAAxkBAAIBavoice",
					}},
					SentAt: unix(1441646000),
				},
				At: unix(1441646000),
			},
		},
		{
			name: "audio",
			file: "audio.json",
			want: &inbound.Event{
				Kind:    inbound.NewMessage,
				Contact: inbound.Contact{ExternalID: "1111111", Name: "Test"},
				Message: &inbound.Message{
					ExternalID: "1111111:1371", Direction: inbound.Inbound, Kind: "AUDIO",
					Attachments: []schematype.Attachment{{
						Type: "audio", Name: "test.mp3", MimeType: "audio/mpeg", Size: 3897500,
						PlatformFileID: "CQACAgIAAxkBAAIBa2audio",
					}},
					SentAt: unix(1441646100),
				},
				At: unix(1441646100),
			},
		},
		{
			name: "video with caption",
			file: "video.json",
			want: &inbound.Event{
				Kind:    inbound.NewMessage,
				Contact: inbound.Contact{ExternalID: "1111111", Name: "Test"},
				Message: &inbound.Message{
					ExternalID: "1111111:1372", Direction: inbound.Inbound, Kind: "VIDEO",
					Text: "look at this",
					Attachments: []schematype.Attachment{{
						Type: "video", Name: "clip.mp4", MimeType: "video/mp4", Size: 1572864,
						PlatformFileID: "BAACAgIAAxkBAAIBbGvideo",
					}},
					SentAt: unix(1441646200),
				},
				At: unix(1441646200),
			},
		},
		{
			name: "shared contact is OTHER without text",
			file: "contact.json",
			want: &inbound.Event{
				Kind:    inbound.NewMessage,
				Contact: inbound.Contact{ExternalID: "1111111", Name: "Test"},
				Message: &inbound.Message{
					ExternalID: "1111111:1373", Direction: inbound.Inbound, Kind: "OTHER",
					SentAt: unix(1441646300),
				},
				At: unix(1441646300),
			},
		},
		{
			name: "paid media is OTHER with its caption",
			file: "paid_media.json",
			want: &inbound.Event{
				Kind:    inbound.NewMessage,
				Contact: inbound.Contact{ExternalID: "1111111", Name: "Test"},
				Message: &inbound.Message{
					ExternalID: "1111111:1374", Direction: inbound.Inbound, Kind: "OTHER",
					Text: "exclusive photo set", SentAt: unix(1441646600),
				},
				At: unix(1441646600),
			},
		},
		{
			name: "group message is the group's, named by title, written by its sender",
			file: "group_message.json",
			want: &inbound.Event{
				Kind:    inbound.NewMessage,
				Contact: inbound.Contact{ExternalID: "-4012345678", Name: "Support Team"},
				Message: &inbound.Message{
					ExternalID: "-4012345678:57", Direction: inbound.Inbound, Kind: "TEXT",
					Text:   "hello from the group",
					Author: &schematype.MessageAuthor{Name: "Test Lastname", ExternalID: "1111111"},
					SentAt: unix(1441646400),
				},
				At: unix(1441646400),
			},
		},
		{
			name: "chat id above 2^53 survives exactly",
			file: "big_chat_id.json",
			want: &inbound.Event{
				Kind:    inbound.NewMessage,
				Contact: inbound.Contact{ExternalID: "-1001234567890123456", Name: "Big Supergroup"},
				Message: &inbound.Message{
					ExternalID: "-1001234567890123456:48213", Direction: inbound.Inbound, Kind: "TEXT",
					Text:   "ids above 2^53",
					Author: &schematype.MessageAuthor{Name: "Test", ExternalID: "1111111"},
					SentAt: unix(1441646500),
				},
				At: unix(1441646500),
			},
		},
		{
			name: "a channel writing in a supergroup is the author, not the placeholder user",
			file: "supergroup_channel_sender.json",
			want: &inbound.Event{
				Kind:    inbound.NewMessage,
				Contact: inbound.Contact{ExternalID: "-1001234567890", Name: "Shop Community"},
				Message: &inbound.Message{
					ExternalID: "-1001234567890:48230", Direction: inbound.Inbound, Kind: "TEXT",
					Text:   "New arrivals every Friday",
					Author: &schematype.MessageAuthor{Name: "Shop News", ExternalID: "-1009876543210"},
					SentAt: unix(1441647200),
				},
				At: unix(1441647200),
			},
		},
		{
			name: "an anonymous admin writes as the group itself: no author",
			file: "supergroup_anonymous_admin.json",
			want: &inbound.Event{
				Kind:    inbound.NewMessage,
				Contact: inbound.Contact{ExternalID: "-1001234567890", Name: "Shop Community"},
				Message: &inbound.Message{
					ExternalID: "-1001234567890:48231", Direction: inbound.Inbound, Kind: "TEXT",
					Text: "Pinned: opening hours", SentAt: unix(1441647300),
				},
				At: unix(1441647300),
			},
		},
		{
			name: "sender whose id cannot be read leaves the message without author",
			body: `{"update_id":7,"message":{"message_id":3,"date":1700000000,"from":{"first_name":"Ghost"},
				"chat":{"id":-42,"type":"group","title":"G"},"text":"boo"}}`,
			want: &inbound.Event{
				Kind:    inbound.NewMessage,
				Contact: inbound.Contact{ExternalID: "-42", Name: "G"},
				Message: &inbound.Message{
					ExternalID: "-42:3", Direction: inbound.Inbound, Kind: "TEXT", Text: "boo", SentAt: unix(1700000000),
				},
				At: unix(1700000000),
			},
		},
		{
			name: "callback query becomes the customer's message on the keyboard's message, to answer",
			file: "callback_query_message.json",
			want: &inbound.Event{
				Kind:    inbound.NewMessage,
				Contact: inbound.Contact{ExternalID: "1111111", Name: "Test Firstname Test Lastname"},
				Message: &inbound.Message{
					ExternalID: "1111111:1380:callback:4382763498734567890", Direction: inbound.Inbound, Kind: "TEXT",
					Text: "plan:pro",
				},
				AnswerID: "4382763498734567890",
			},
		},
		{
			name: "callback query in a group is the group's, by the member who tapped",
			file: "callback_query_group.json",
			want: &inbound.Event{
				Kind:    inbound.NewMessage,
				Contact: inbound.Contact{ExternalID: "-4012345678", Name: "Support Team"},
				Message: &inbound.Message{
					ExternalID: "-4012345678:58:callback:4382763498734567891", Direction: inbound.Inbound, Kind: "TEXT",
					Text:   "helpful:no",
					Author: &schematype.MessageAuthor{Name: "Mai Tran", ExternalID: "2222222"},
				},
				AnswerID: "4382763498734567891",
			},
		},
		{
			name: "callback query on a message the bot can no longer see",
			file: "callback_query_inaccessible.json",
			want: &inbound.Event{
				Kind:    inbound.NewMessage,
				Contact: inbound.Contact{ExternalID: "1111111", Name: "Test Firstname Test Lastname"},
				Message: &inbound.Message{
					ExternalID: "1111111:1201:callback:4382763498734567892", Direction: inbound.Inbound, Kind: "TEXT",
					Text: "plan:basic",
				},
				AnswerID: "4382763498734567892",
			},
		},
		{
			name: "callback query of a game button reads as the game",
			body: `{"update_id":8,"callback_query":{"id":"77","from":{"id":5,"is_bot":false,"first_name":"Ann"},
				"message":{"message_id":4,"date":1700000000,"chat":{"id":5,"type":"private","first_name":"Ann"}},
				"chat_instance":"1","game_short_name":"tetris"}}`,
			want: &inbound.Event{
				Kind:     inbound.NewMessage,
				Contact:  inbound.Contact{ExternalID: "5", Name: "Ann"},
				Message:  &inbound.Message{ExternalID: "5:4:callback:77", Direction: inbound.Inbound, Kind: "TEXT", Text: "tetris"},
				AnswerID: "77",
			},
		},
		{
			name: "callback query on an inline-mode message has no conversation",
			file: "callback_query.json",
			want: &inbound.Event{Kind: inbound.Ignore},
		},
		{
			name: "update without payload is ignored",
			body: `{"update_id":6}`,
			want: &inbound.Event{Kind: inbound.Ignore},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw := []byte(tt.body)
			if tt.file != "" {
				raw = fixture(t, tt.file)
			}
			got, err := telegram.Decode(raw)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBigChatIDFixture keeps the fixture honest: its chat id must be one
// that float64 would round, or the test above proves nothing.
func TestBigChatIDFixture(t *testing.T) {
	t.Parallel()
	var u struct {
		Message struct {
			Chat struct {
				ID json.Number `json:"id"`
			} `json:"chat"`
		} `json:"message"`
	}
	if err := json.Unmarshal(fixture(t, "big_chat_id.json"), &u); err != nil {
		t.Fatal(err)
	}
	id := u.Message.Chat.ID.String()
	f, err := strconv.ParseFloat(id, 64)
	if err != nil {
		t.Fatal(err)
	}
	if strconv.FormatFloat(f, 'f', 0, 64) == id {
		t.Fatalf("chat id %s is exact in float64; pick one above 2^53 that is not", id)
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	chatless := `{"update_id":1,"message":{"message_id":1,"date":1700000000,"text":"hi"}}`
	tests := []struct {
		name      string
		body      string
		splitErr  bool // Split must refuse it (HTTP 400)
		decodeErr bool // Decode must refuse it
	}{
		{"empty", ``, true, true},
		{"not JSON", `update_id=1`, true, true},
		{"truncated", `{"update_id":1,"message":{`, true, true},
		{"trailing garbage", `{"update_id":1} x`, true, true},
		{"array", `[{"update_id":1}]`, true, true},
		{"null", `null`, true, true},
		{"string", `"update_id"`, true, true},
		{"no update_id", `{"message":{"message_id":1,"date":1,"chat":{"id":1}}}`, true, false},
		{"update_id null", `{"update_id":null}`, true, false},
		{"update_id quoted", `{"update_id":"10000"}`, true, false},
		{"update_id fractional", `{"update_id":1.5}`, true, false},
		{"update_id exponent", `{"update_id":1e4}`, true, false},
		{"test marker not a string", `{"update_id":1,"` + inbound.TestMarker + `":7}`, true, false},
		{"message without chat", chatless, false, true},
		{"message null", `{"update_id":1,"message":null}`, false, true},
		{"message not an object", `{"update_id":1,"message":"hi"}`, false, true},
		{"message without message_id", `{"update_id":1,"message":{"date":1700000000,"chat":{"id":5},"text":"hi"}}`, false, true},
		{"message without chat id", `{"update_id":1,"message":{"message_id":1,"date":1700000000,"chat":{"type":"private"},"text":"hi"}}`, false, true},
		{"chat id quoted", `{"update_id":1,"message":{"message_id":1,"date":1700000000,"chat":{"id":"5"},"text":"hi"}}`, false, true},
		{"message without date", `{"update_id":1,"message":{"message_id":1,"chat":{"id":5},"text":"hi"}}`, false, true},
		{"edited message without chat", `{"update_id":1,"edited_message":{"message_id":1,"date":1700000000,"text":"hi"}}`, false, true},
		{"callback query without id", `{"update_id":1,"callback_query":{"from":{"id":5},"message":{"message_id":1,"date":0,"chat":{"id":5}},"data":"x"}}`, false, true},
		{"callback query id not a string", `{"update_id":1,"callback_query":{"id":77,"message":{"message_id":1,"date":0,"chat":{"id":5}},"data":"x"}}`, false, true},
		{"callback query message without chat", `{"update_id":1,"callback_query":{"id":"77","message":{"message_id":1,"date":0},"data":"x"}}`, false, true},
		{"callback query not an object", `{"update_id":1,"callback_query":"x"}`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			frags, err := telegram.Split([]byte(tt.body))
			switch {
			case tt.splitErr && !errors.Is(err, telegram.ErrMalformed):
				t.Errorf("Split = %+v, %v; want ErrMalformed", frags, err)
			case !tt.splitErr && err != nil:
				t.Errorf("Split: %v; want it journaled", err)
			}
			ev, err := telegram.Decode([]byte(tt.body))
			switch {
			case tt.decodeErr && !errors.Is(err, telegram.ErrMalformed):
				t.Errorf("Decode = %+v, %v; want ErrMalformed", ev, err)
			case !tt.decodeErr && err != nil:
				t.Errorf("Decode: %v", err)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t_Token-0123456789abcdefABCDEF"
	tests := []struct {
		name, got, want string
		ok              bool
	}{
		{"equal", secret, secret, true},
		{"different", secret[:len(secret)-1] + "X", secret, false},
		{"prefix", secret[:10], secret, false},
		{"longer", secret + "x", secret, false},
		{"missing header", "", secret, false},
		{"empty want", "", "", false},
		{"empty want with a header", secret, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tt.got != "" {
				h.Set(telegram.SecretHeader, tt.got)
			}
			if got := telegram.Verify(h, nil, tt.want) == nil; got != tt.ok {
				t.Errorf("Verify(%q, %q) = %v, want %v", tt.got, tt.want, got, tt.ok)
			}
		})
	}
}

func TestTestEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, nonce string
	}{
		{"plain", "3f9c2a7e-1b44-4d0e-9a51-0c6b2f8e7d10"},
		{"needs escaping", `he said "hi" </script>`},
		{"unicode", "xin chào"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := telegram.TestEvent(tt.nonce)

			var u map[string]json.RawMessage
			if err := json.Unmarshal(body, &u); err != nil {
				t.Fatalf("TestEvent is not JSON: %v\n%s", err, body)
			}
			id, err := strconv.ParseInt(string(u["update_id"]), 10, 64)
			if err != nil || id >= 0 || id <= -(1<<53) {
				t.Errorf("update_id = %s; want a negative integer exact in float64", u["update_id"])
			}
			var nonce string
			if err := json.Unmarshal(u[inbound.TestMarker], &nonce); err != nil || nonce != tt.nonce {
				t.Errorf("%s = %s; want %q", inbound.TestMarker, u[inbound.TestMarker], tt.nonce)
			}

			frags, err := telegram.Split(body)
			if err != nil {
				t.Fatalf("Split: %v", err)
			}
			want := []inbound.Fragment{{Type: "unknown", DedupKey: "test:" + tt.nonce, Raw: body}}
			if diff := cmp.Diff(want, frags); diff != "" {
				t.Errorf("Split (-want +got):\n%s", diff)
			}

			ev, err := telegram.Decode(frags[0].Raw)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(&inbound.Event{Test: true, Kind: inbound.Ignore}, ev); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}

			if again := telegram.TestEvent(tt.nonce); string(again) != string(body) {
				t.Errorf("TestUpdate is not deterministic:\n%s\n%s", body, again)
			}
		})
	}
}

// TestTestUpdateIDsDiffer: distinct tests get distinct update_ids, so that
// anything keyed on update_id alone still tells them apart.
func TestTestUpdateIDsDiffer(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for i := range 1000 {
		nonce := "nonce-" + strconv.Itoa(i)
		var u struct {
			UpdateID json.Number `json:"update_id"`
		}
		if err := json.Unmarshal(telegram.TestEvent(nonce), &u); err != nil {
			t.Fatal(err)
		}
		if prev, ok := seen[u.UpdateID.String()]; ok {
			t.Fatalf("nonces %q and %q share update_id %s", prev, nonce, u.UpdateID)
		}
		seen[u.UpdateID.String()] = nonce
	}
}

// A marked body is a test even when it looks like a real message, so a test
// can never open a conversation.
func TestDecodeMarkerWins(t *testing.T) {
	t.Parallel()
	body := `{"update_id":-5,"` + inbound.TestMarker + `":"n1","message":{"message_id":1,"date":1700000000,"chat":{"id":5},"text":"hi"}}`
	ev, err := telegram.Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&inbound.Event{Test: true, Kind: inbound.Ignore}, ev); diff != "" {
		t.Errorf("Decode (-want +got):\n%s", diff)
	}
}
