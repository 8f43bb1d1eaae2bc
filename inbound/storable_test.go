package inbound_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/inbound"
)

func TestText(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "xin chào", "xin chào"},
		{"NUL", "a\x00b\x00", "ab"},
		{"invalid UTF-8", "a\xffb", "a\uFFFDb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := inbound.Text(tc.in); got != tc.want {
				t.Fatalf("Text(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestKey(t *testing.T) {
	short := "msg:96d3cdf3af150460909"
	if got := inbound.Key(short); got != short {
		t.Fatalf("a short key changed: %q", got)
	}
	long := strings.Repeat("ộ", 200) // 600 bytes, 3 per character
	k := inbound.Key(long)
	if len(k) > inbound.MaxKey || !utf8.ValidString(k) || !strings.HasPrefix(long, k[:strings.IndexByte(k, '~')]) {
		t.Fatalf("Key(long) = %q (%d bytes)", k, len(k))
	}
	if inbound.Key(long) != k {
		t.Fatal("the same key gave two results")
	}
	if inbound.Key(long+"x") == k {
		t.Fatal("two keys with the same beginning collide")
	}
	if got := inbound.Key("a\x00b"); got != "ab" {
		t.Fatalf("Key with NUL = %q", got)
	}
}

func TestMakeStorable(t *testing.T) {
	long := strings.Repeat("9", 5000)
	e := &inbound.Event{
		Contact: inbound.Contact{ExternalID: "12\x0034", Name: "L\x00an"},
		Message: &inbound.Message{ExternalID: long, Text: "hi\x00", Attachments: []schematype.Attachment{{Name: "in\x00voice.pdf"}}},
		Receipt: &inbound.ReceiptInfo{MessageIDs: []string{long}, Error: "bad\x00"},
	}
	e.MakeStorable()
	if e.Contact.ExternalID != "1234" || e.Contact.Name != "Lan" || e.Message.Text != "hi" || e.Message.Attachments[0].Name != "invoice.pdf" ||
		e.Receipt.Error != "bad" || e.Message.ExternalID != inbound.Key(long) || e.Receipt.MessageIDs[0] != inbound.Key(long) {
		t.Fatalf("event = %+v %+v %+v", e.Contact, e.Message, e.Receipt)
	}
}
