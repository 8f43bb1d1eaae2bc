package whatsapp_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/graphapi/graphtest"
	"github.com/switchboard-chat/switchboard/platform/whatsapp"
)

const (
	waID     = "16505551234"
	imageURL = "https://cdn.example.com/a/cat.jpg"
	sendPath = "/v21.0/" + phoneID + "/messages"
)

var numberAccount = platform.Account{ExternalID: phoneID, Credentials: &whatsapp.Credentials{AccessToken: phoneTok}}

func newChannel(t *testing.T) (*graphtest.Server, *whatsapp.Channel) {
	t.Helper()
	s, c := setup(t)
	return s, whatsapp.NewChannel(c, appSecret, "verify-token")
}

// body is the documented message body, as graphtest decodes it.
func body(typ string, content map[string]any) map[string]any {
	return map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": waID, "type": typ, typ: content}
}

func text(s string) map[string]any {
	return body("text", map[string]any{"preview_url": false, "body": s})
}

func sent(body map[string]any) graphtest.Send {
	return graphtest.Send{Path: sendPath, Authorization: "Bearer " + phoneTok, Body: body, Status: 200}
}

func sendIDs(sends []graphtest.Send) []string {
	var ids []string
	for _, s := range sends {
		ids = append(ids, s.ID)
	}
	return ids
}

var ignoreID = cmpopts.IgnoreFields(graphtest.Send{}, "ID")

func TestSend(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("ж", 1025) // over the caption limit in characters, not only in bytes
	tests := []struct {
		name string
		m    platform.Outbound
		want []graphtest.Send
	}{
		{
			name: "text",
			m:    platform.Outbound{To: waID, Text: "hello"},
			want: []graphtest.Send{sent(text("hello"))},
		},
		{
			name: "image with a caption",
			m:    platform.Outbound{To: waID, Text: "look", Media: &platform.Media{URL: imageURL, Kind: platform.Image}},
			want: []graphtest.Send{sent(body("image", map[string]any{"link": imageURL, "caption": "look"}))},
		},
		{
			name: "image alone",
			m:    platform.Outbound{To: waID, Media: &platform.Media{URL: imageURL, Kind: platform.Image}},
			want: []graphtest.Send{sent(body("image", map[string]any{"link": imageURL}))},
		},
		{
			name: "text too long for a caption follows the image",
			m:    platform.Outbound{To: waID, Text: long, Media: &platform.Media{URL: imageURL, Kind: platform.Image}},
			want: []graphtest.Send{sent(body("image", map[string]any{"link": imageURL})), sent(text(long))},
		},
		{
			name: "document with a caption",
			m:    platform.Outbound{To: waID, Text: "the invoice", Media: &platform.Media{URL: "https://cdn.example.com/invoice.pdf", Kind: platform.File}},
			want: []graphtest.Send{sent(body("document", map[string]any{"link": "https://cdn.example.com/invoice.pdf", "caption": "the invoice"}))},
		},
		{
			name: "video with a caption",
			m:    platform.Outbound{To: waID, Text: "clip", Media: &platform.Media{URL: "https://cdn.example.com/clip.mp4", Kind: platform.Video}},
			want: []graphtest.Send{sent(body("video", map[string]any{"link": "https://cdn.example.com/clip.mp4", "caption": "clip"}))},
		},
		{
			name: "audio takes no caption, so the text goes first",
			m:    platform.Outbound{To: waID, Text: "listen", Media: &platform.Media{URL: "https://cdn.example.com/note.ogg", Kind: platform.Audio}},
			want: []graphtest.Send{sent(text("listen")), sent(body("audio", map[string]any{"link": "https://cdn.example.com/note.ogg"}))},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, ch := newChannel(t)
			got, err := ch.Send(context.Background(), numberAccount, tt.m)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			sends := s.Sends()
			if diff := cmp.Diff(tt.want, sends, ignoreID); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(platform.Sent{IDs: sendIDs(sends)}, got); diff != "" {
				t.Errorf("Sent, against the fake's wamids (-want +got):\n%s", diff)
			}
			for _, id := range got.IDs {
				if !strings.HasPrefix(id, "wamid.") {
					t.Errorf("id %q is not a wamid", id)
				}
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	t.Parallel()
	failNext := func(status, code int, message string) func(*graphtest.Server) {
		return func(s *graphtest.Server) { s.FailNext("POST /messages", status, code, 0, message) }
	}
	tests := []struct {
		name     string
		prepare  func(*graphtest.Server)
		acct     *platform.Account
		wantKind platform.Kind
		wantCode int
		wantSub  int
	}{
		{name: "invalid token", prepare: failNext(401, 190, "Invalid OAuth access token."), wantKind: platform.Auth, wantCode: 190},
		{name: "expired token", prepare: func(s *graphtest.Server) { s.ExpireToken(phoneTok) }, wantKind: platform.Auth, wantCode: 190, wantSub: 463},
		{name: "24 hours passed", prepare: failNext(400, 131047, "Re-engagement message"), wantKind: platform.Permanent, wantCode: 131047},
		{name: "invalid parameter", prepare: failNext(400, 100, "(#100) Invalid parameter"), wantKind: platform.Permanent, wantCode: 100},
		{name: "permission denied", prepare: failNext(403, 10, "(#10) Application does not have permission for this action"), wantKind: platform.Permanent, wantCode: 10},
		{name: "throughput", prepare: failNext(400, 130429, "(#130429) Rate limit hit"), wantKind: platform.RateLimited, wantCode: 130429},
		{name: "pair rate", prepare: failNext(400, 131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit"), wantKind: platform.RateLimited, wantCode: 131056},
		{name: "graph rate limit", prepare: failNext(400, 613, "(#613) Calls to this api have exceeded the rate limit."), wantKind: platform.RateLimited, wantCode: 613},
		{name: "service unavailable", prepare: failNext(503, 2, "Service temporarily unavailable"), wantKind: platform.Transient, wantCode: 2},
		{name: "down", prepare: func(s *graphtest.Server) { s.Close() }, wantKind: platform.Transient},
		{
			name:     "another number's token",
			acct:     &platform.Account{ExternalID: phoneID, Credentials: &whatsapp.Credentials{AccessToken: otherTok}},
			wantKind: platform.Permanent, wantCode: 100, wantSub: 33,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, ch := newChannel(t)
			if tt.prepare != nil {
				tt.prepare(s)
			}
			acct := numberAccount
			if tt.acct != nil {
				acct = *tt.acct
			}
			got, err := ch.Send(context.Background(), acct, platform.Outbound{To: waID, Text: "hello"})
			var pe *platform.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *platform.Error", err)
			}
			if pe.Platform != "whatsapp" || pe.Kind != tt.wantKind || pe.Code != tt.wantCode || pe.Subcode != tt.wantSub {
				t.Errorf("got %s kind %v code %d subcode %d, want whatsapp %v %d %d", pe.Platform, pe.Kind, pe.Code, pe.Subcode, tt.wantKind, tt.wantCode, tt.wantSub)
			}
			for _, secret := range []string{phoneTok, otherTok, appSecret} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows a secret", err)
				}
			}
			if len(got.IDs) != 0 {
				t.Errorf("Sent = %v, want no ids", got.IDs)
			}
		})
	}
}

// A send that fails halfway reports the message that went out, and its
// retry with Done sends only the rest.
func TestSendPartialAndResume(t *testing.T) {
	t.Parallel()
	s, ch := newChannel(t)
	ctx := context.Background()
	// The image goes out; the Cloud API refuses the text after it, which
	// is over its 4096 characters.
	tooLong := strings.Repeat("x", 4097)
	m := platform.Outbound{To: waID, Text: tooLong, Media: &platform.Media{URL: imageURL, Kind: platform.Image}}
	got, err := ch.Send(ctx, numberAccount, m)
	if platform.KindOf(err) != platform.Permanent {
		t.Fatalf("err = %v, want permanent", err)
	}
	sends := s.Sends()
	if len(sends) != 2 || sends[0].Status != 200 || sends[1].Status != 400 {
		t.Fatalf("sends = %+v, want the image taken and the text refused", sends)
	}
	if diff := cmp.Diff([]string{sends[0].ID}, got.IDs); diff != "" {
		t.Errorf("ids of the failed send (-want +got):\n%s", diff)
	}

	// The retry's text is valid but still too long for a caption, so the
	// send cuts into the same two pieces, the first one done.
	m.Text, m.Done = strings.Repeat("y", 2000), 1
	got, err = ch.Send(ctx, numberAccount, m)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	sends = s.Sends()[2:]
	if diff := cmp.Diff([]graphtest.Send{sent(text(m.Text))}, sends, ignoreID); diff != "" {
		t.Errorf("requests of the retry (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(sendIDs(sends), got.IDs); diff != "" {
		t.Errorf("ids of the retry (-want +got):\n%s", diff)
	}

	m.Done = 2
	if got, err := ch.Send(ctx, numberAccount, m); err != nil || len(got.IDs) != 0 {
		t.Errorf("Send with every piece done = %v, %v; want nothing sent", got, err)
	}
	if n := len(s.Sends()); n != 3 {
		t.Errorf("%d sends, want 3", n)
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	_, ch := newChannel(t)
	got := ch.Limits()
	want := platform.Limits{Text: 4096, Kinds: []platform.MediaKind{platform.Image, platform.File, platform.Audio, platform.Video}, Window: 24 * time.Hour}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(platform.Limits{}, "WindowRule")); diff != "" {
		t.Errorf("Limits (-want +got):\n%s", diff)
	}
	if !strings.Contains(got.WindowRule, "24 hours") || !strings.Contains(got.WindowRule, "template") {
		t.Errorf("WindowRule %q does not explain the 24-hour window and templates", got.WindowRule)
	}
}
