package facebook_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/facebook"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
	"github.com/switchboard-chat/switchboard/platform/graphapi/graphtest"
)

const (
	psid     = "6543210987654321"
	imageURL = "https://cdn.example.com/a/cat.jpg"
	sendPath = "/v21.0/1111/messages"
)

var pageAccount = platform.Account{ExternalID: pageA.ID, Credentials: &facebook.Credentials{PageAccessToken: pageTokA, UserAccessToken: longTok}}

func newChannel(t *testing.T) (*graphtest.Server, *facebook.Channel) {
	t.Helper()
	s, _ := setup(t)
	return s, facebook.NewChannel(facebook.New(graphapi.New(s.URL, "v21.0", nil), appID, appSecret), "verify-token")
}

// textBody and attachmentBody are the documented Send API bodies, as
// graphtest decodes them.
func textBody(text string) map[string]any {
	return map[string]any{"recipient": map[string]any{"id": psid}, "messaging_type": "RESPONSE", "message": map[string]any{"text": text}}
}

func attachmentBody(typ, url string) map[string]any {
	return map[string]any{"recipient": map[string]any{"id": psid}, "messaging_type": "RESPONSE", "message": map[string]any{
		"attachment": map[string]any{"type": typ, "payload": map[string]any{"url": url, "is_reusable": true}},
	}}
}

func sent(body map[string]any) graphtest.Send {
	return graphtest.Send{Path: sendPath, Authorization: "Bearer " + pageTokA, Body: body, Status: 200}
}

// sendIDs are the ids the fake answered, in order.
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
	tests := []struct {
		name string
		m    platform.Outbound
		want []graphtest.Send
	}{
		{
			name: "text",
			m:    platform.Outbound{To: psid, Text: "hello"},
			want: []graphtest.Send{sent(textBody("hello"))},
		},
		{
			name: "image",
			m:    platform.Outbound{To: psid, Media: &platform.Media{URL: imageURL, Kind: platform.Image}},
			want: []graphtest.Send{sent(attachmentBody("image", imageURL))},
		},
		{
			name: "text with an image is two messages, text first",
			m:    platform.Outbound{To: psid, Text: "look", Media: &platform.Media{URL: imageURL, Kind: platform.Image}},
			want: []graphtest.Send{sent(textBody("look")), sent(attachmentBody("image", imageURL))},
		},
		{
			name: "long text with an image",
			m:    platform.Outbound{To: psid, Text: strings.Repeat("x", 2000), Media: &platform.Media{URL: imageURL, Kind: platform.Image}},
			want: []graphtest.Send{sent(textBody(strings.Repeat("x", 2000))), sent(attachmentBody("image", imageURL))},
		},
		{
			name: "file",
			m:    platform.Outbound{To: psid, Media: &platform.Media{URL: "https://cdn.example.com/invoice.pdf", Kind: platform.File}},
			want: []graphtest.Send{sent(attachmentBody("file", "https://cdn.example.com/invoice.pdf"))},
		},
		{
			name: "audio",
			m:    platform.Outbound{To: psid, Media: &platform.Media{URL: "https://cdn.example.com/note.mp3", Kind: platform.Audio}},
			want: []graphtest.Send{sent(attachmentBody("audio", "https://cdn.example.com/note.mp3"))},
		},
		{
			name: "video",
			m:    platform.Outbound{To: psid, Media: &platform.Media{URL: "https://cdn.example.com/clip.mp4", Kind: platform.Video}},
			want: []graphtest.Send{sent(attachmentBody("video", "https://cdn.example.com/clip.mp4"))},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, ch := newChannel(t)
			got, err := ch.Send(context.Background(), pageAccount, tt.m)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			sends := s.Sends()
			if diff := cmp.Diff(tt.want, sends, ignoreID); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			ids := sendIDs(sends)
			if diff := cmp.Diff(platform.Sent{IDs: ids}, got); diff != "" {
				t.Errorf("Sent, against the fake's message_ids (-want +got):\n%s", diff)
			}
			for _, id := range got.IDs {
				if !strings.HasPrefix(id, "m_") {
					t.Errorf("id %q is not a message_id", id)
				}
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	t.Parallel()
	failNext := func(status, code, subcode int, message string) func(*graphtest.Server) {
		return func(s *graphtest.Server) { s.FailNext("POST /messages", status, code, subcode, message) }
	}
	tests := []struct {
		name     string
		prepare  func(*graphtest.Server)
		acct     platform.Account
		wantKind platform.Kind
		wantCode int
		wantSub  int
	}{
		{name: "invalid token", prepare: failNext(400, 190, 0, "Invalid OAuth access token."), wantKind: platform.Auth, wantCode: 190},
		{name: "expired token", prepare: func(s *graphtest.Server) { s.ExpireToken(pageTokA) }, wantKind: platform.Auth, wantCode: 190, wantSub: 463},
		{name: "session invalid", prepare: failNext(400, 102, 0, "Session key invalid"), wantKind: platform.Auth, wantCode: 102},
		{name: "person not available", prepare: failNext(400, 551, 1545041, "This person isn't available right now."), wantKind: platform.Permanent, wantCode: 551, wantSub: 1545041},
		{
			name:     "outside the messaging window",
			prepare:  failNext(400, 10, 2018278, "(#10) This message is sent outside of allowed window."),
			wantKind: platform.Permanent, wantCode: 10, wantSub: 2018278,
		},
		{name: "permissions disallow message to user", prepare: failNext(403, 230, 0, "(#230) Permissions disallow message to user"), wantKind: platform.Permanent, wantCode: 230},
		{name: "invalid parameter", prepare: failNext(400, 100, 2018001, "(#100) No matching user found"), wantKind: platform.Permanent, wantCode: 100, wantSub: 2018001},
		{name: "rate limited", prepare: failNext(400, 613, 0, "(#613) Calls to this api have exceeded the rate limit."), wantKind: platform.RateLimited, wantCode: 613},
		{name: "app rate limited", prepare: failNext(400, 4, 0, "(#4) Application request limit reached"), wantKind: platform.RateLimited, wantCode: 4},
		{name: "service unavailable", prepare: failNext(503, 2, 0, "An unexpected error has occurred. Please retry your request later."), wantKind: platform.Transient, wantCode: 2},
		{name: "plain server error", prepare: failNext(502, 0, 0, "bad gateway"), wantKind: platform.Transient},
		{name: "down", prepare: func(s *graphtest.Server) { s.Close() }, wantKind: platform.Transient},
		{
			name:     "user token instead of the page's",
			acct:     platform.Account{ExternalID: pageA.ID, Credentials: &facebook.Credentials{PageAccessToken: longTok}},
			wantKind: platform.Permanent, wantCode: 210,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, ch := newChannel(t)
			if tt.prepare != nil {
				tt.prepare(s)
			}
			acct := pageAccount
			if tt.acct.Credentials != nil {
				acct = tt.acct
			}
			got, err := ch.Send(context.Background(), acct, platform.Outbound{To: psid, Text: "hello"})
			if err == nil {
				t.Fatal("no error")
			}
			assertKind(t, err, tt.wantKind, tt.wantCode, tt.wantSub)
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
	// Graph refuses the attachment's URL, after the text went out.
	bad := platform.Outbound{To: psid, Text: "look", Media: &platform.Media{URL: "ftp://cdn.example.com/cat.jpg", Kind: platform.Image}}
	got, err := ch.Send(ctx, pageAccount, bad)
	assertKind(t, err, platform.Permanent, 100, 0)
	sends := s.Sends()
	if len(sends) != 2 || sends[1].Status != 400 {
		t.Fatalf("sends = %+v, want the text taken and the attachment refused", sends)
	}
	if diff := cmp.Diff([]string{sends[0].ID}, got.IDs); diff != "" {
		t.Errorf("ids of the failed send (-want +got):\n%s", diff)
	}

	m := platform.Outbound{To: psid, Text: "look", Media: &platform.Media{URL: imageURL, Kind: platform.Image}, Done: 1}
	got, err = ch.Send(ctx, pageAccount, m)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	sends = s.Sends()[2:]
	if diff := cmp.Diff([]graphtest.Send{sent(attachmentBody("image", imageURL))}, sends, ignoreID); diff != "" {
		t.Errorf("requests of the retry (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(sendIDs(sends), got.IDs); diff != "" {
		t.Errorf("ids of the retry (-want +got):\n%s", diff)
	}

	m.Done = 2
	if got, err := ch.Send(ctx, pageAccount, m); err != nil || len(got.IDs) != 0 {
		t.Errorf("Send with every piece done = %v, %v; want nothing sent", got, err)
	}
	if n := len(s.Sends()); n != 3 {
		t.Errorf("%d sends, want 3", n)
	}
}

func TestMarkSeen(t *testing.T) {
	t.Parallel()
	s, ch := newChannel(t)
	if err := ch.MarkSeen(context.Background(), pageAccount, psid); err != nil {
		t.Fatalf("MarkSeen: %v", err)
	}
	want := []graphtest.Send{{Path: sendPath, Authorization: "Bearer " + pageTokA, Status: 200,
		Body: map[string]any{"recipient": map[string]any{"id": psid}, "sender_action": "mark_seen"}}}
	if diff := cmp.Diff(want, s.Sends()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	s.ExpireToken(pageTokA)
	err := ch.MarkSeen(context.Background(), pageAccount, psid)
	assertKind(t, err, platform.Auth, 190, 463)
}

func TestLimits(t *testing.T) {
	t.Parallel()
	_, ch := newChannel(t)
	got := ch.Limits()
	want := platform.Limits{Text: 2000, Kinds: []platform.MediaKind{platform.Image, platform.File, platform.Audio, platform.Video}, Window: 24 * time.Hour}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(platform.Limits{}, "WindowRule")); diff != "" {
		t.Errorf("Limits (-want +got):\n%s", diff)
	}
	if !strings.Contains(got.WindowRule, "24 hours") || !strings.Contains(got.WindowRule, "tag") {
		t.Errorf("WindowRule %q does not explain the 24-hour window and tags", got.WindowRule)
	}
}
