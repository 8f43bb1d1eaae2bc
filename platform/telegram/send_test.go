package telegram_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-chat/switchboard/inbound"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/platform/telegram/telegramtest"
)

const (
	chat     = "424242"
	imageURL = "https://cdn.example.com/a/cat.jpg"
	// bigChat is a supergroup id beyond 2^53, where float64 rounds.
	bigChat = "-1009007199254740993"
)

var account = platform.Account{ExternalID: "7350172046", Credentials: &telegram.Credentials{BotToken: botToken, WebhookSecret: "s"}}

func newChannel(t *testing.T) (*telegramtest.Server, *telegram.Channel) {
	t.Helper()
	s, c := newFake(t)
	return s, telegram.NewChannel(c)
}

// call is one request the fake got: the method and its parameters.
type call struct {
	Method string
	Params map[string]any
}

// calls returns the requests to the send methods in the order the fake took
// them (Sent gives the order, Calls the parameters).
func calls(s *telegramtest.Server) []call {
	var out []call
	next := map[string]int{}
	for _, m := range s.Sent(botToken) {
		cs := s.Calls(m.Method)
		out = append(out, call{m.Method, cs[next[m.Method]]})
		next[m.Method]++
	}
	return out
}

func TestSend(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("ж", 1025) // over the caption limit in characters, not only in bytes
	tests := []struct {
		name      string
		m         platform.Outbound
		wantCalls []call
		wantIDs   []string
	}{
		{
			name:      "text",
			m:         platform.Outbound{To: chat, Text: "hello"},
			wantCalls: []call{{"sendMessage", map[string]any{"chat_id": float64(424242), "text": "hello"}}},
			wantIDs:   []string{chat + ":1"},
		},
		{
			name:      "image with a caption",
			m:         platform.Outbound{To: chat, Text: "look", Media: &platform.Media{URL: imageURL, Kind: platform.Image}},
			wantCalls: []call{{"sendPhoto", map[string]any{"chat_id": float64(424242), "photo": imageURL, "caption": "look"}}},
			wantIDs:   []string{chat + ":1"},
		},
		{
			name:      "image alone",
			m:         platform.Outbound{To: chat, Media: &platform.Media{URL: imageURL, Kind: platform.Image}},
			wantCalls: []call{{"sendPhoto", map[string]any{"chat_id": float64(424242), "photo": imageURL}}},
			wantIDs:   []string{chat + ":1"},
		},
		{
			name: "caption of exactly 1024 characters",
			m:    platform.Outbound{To: chat, Text: long[:1024*2], Media: &platform.Media{URL: imageURL, Kind: platform.Image}},
			wantCalls: []call{
				{"sendPhoto", map[string]any{"chat_id": float64(424242), "photo": imageURL, "caption": long[:1024*2]}},
			},
			wantIDs: []string{chat + ":1"},
		},
		{
			name: "text too long for a caption follows the image",
			m:    platform.Outbound{To: chat, Text: long, Media: &platform.Media{URL: imageURL, Kind: platform.Image}},
			wantCalls: []call{
				{"sendPhoto", map[string]any{"chat_id": float64(424242), "photo": imageURL}},
				{"sendMessage", map[string]any{"chat_id": float64(424242), "text": long}},
			},
			wantIDs: []string{chat + ":1", chat + ":2"},
		},
		{
			name:      "file",
			m:         platform.Outbound{To: chat, Text: "the invoice", Media: &platform.Media{URL: "https://cdn.example.com/invoice.pdf", Kind: platform.File}},
			wantCalls: []call{{"sendDocument", map[string]any{"chat_id": float64(424242), "document": "https://cdn.example.com/invoice.pdf", "caption": "the invoice"}}},
			wantIDs:   []string{chat + ":1"},
		},
		{
			name:      "audio",
			m:         platform.Outbound{To: chat, Media: &platform.Media{URL: "https://cdn.example.com/note.mp3", Kind: platform.Audio}},
			wantCalls: []call{{"sendAudio", map[string]any{"chat_id": float64(424242), "audio": "https://cdn.example.com/note.mp3"}}},
			wantIDs:   []string{chat + ":1"},
		},
		{
			name:      "video",
			m:         platform.Outbound{To: chat, Text: "clip", Media: &platform.Media{URL: "https://cdn.example.com/clip.mp4", Kind: platform.Video}},
			wantCalls: []call{{"sendVideo", map[string]any{"chat_id": float64(424242), "video": "https://cdn.example.com/clip.mp4", "caption": "clip"}}},
			wantIDs:   []string{chat + ":1"},
		},
		{
			name:      "chat id beyond 2^53 is sent digit for digit",
			m:         platform.Outbound{To: bigChat, Text: "hi group"},
			wantCalls: []call{{"sendMessage", map[string]any{"chat_id": json.Number(bigChat), "text": "hi group"}}},
			wantIDs:   []string{bigChat + ":1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, ch := newChannel(t)
			got, err := ch.Send(context.Background(), account, tt.m)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if diff := cmp.Diff(tt.wantCalls, calls(s)); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(platform.Sent{IDs: tt.wantIDs}, got); diff != "" {
				t.Errorf("Sent (-want +got):\n%s", diff)
			}
		})
	}
}

// The id Send returns must be the one the webhook decoder gives the same
// message, or its edits and the agent's own copy would not match.
func TestSendIDMatchesWebhook(t *testing.T) {
	t.Parallel()
	for _, to := range []string{chat, bigChat} {
		s, ch := newChannel(t)
		ctx := context.Background()
		// A second message, so message_id is not 1 by luck.
		if _, err := ch.Send(ctx, account, platform.Outbound{To: to, Text: "first"}); err != nil {
			t.Fatal(err)
		}
		got, err := ch.Send(ctx, account, platform.Outbound{To: to, Text: "second"})
		if err != nil {
			t.Fatal(err)
		}
		sent := s.Sent(botToken)
		last := sent[len(sent)-1]
		update := fmt.Sprintf(`{"update_id":1,"edited_message":{"message_id":%d,"date":1700000000,"edit_date":1700000100,"chat":{"id":%d,"type":"supergroup","title":"G"},"text":"second!"}}`,
			last.MessageID, last.ChatID)
		ev, err := telegram.Decode([]byte(update))
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if ev.Kind != inbound.EditMessage || len(got.IDs) != 1 || ev.Message.ExternalID != got.IDs[0] {
			t.Errorf("to %s: Send id %v, webhook id %q", to, got.IDs, ev.Message.ExternalID)
		}
	}
}

func TestSendErrors(t *testing.T) {
	t.Parallel()
	text := platform.Outbound{To: chat, Text: "hello"}
	tests := []struct {
		name  string
		setup func(*telegramtest.Server)
		m     platform.Outbound
		want  platform.Error
	}{
		{
			name: "flood control",
			setup: func(s *telegramtest.Server) {
				s.FailNext("sendMessage", 429, 429, "Too Many Requests: retry after 7", 7)
			},
			m:    text,
			want: platform.Error{Op: "sendMessage", Kind: platform.RateLimited, Status: 429, Code: 429, Message: "Too Many Requests: retry after 7", RetryAfter: 7 * time.Second},
		},
		{
			name:  "blocked by the user",
			setup: func(s *telegramtest.Server) { s.Block(botToken, 424242) },
			m:     text,
			want:  platform.Error{Op: "sendMessage", Kind: platform.Permanent, Status: 403, Code: 403, Message: "Forbidden: bot was blocked by the user"},
		},
		{
			name: "blocked, on a photo",
			setup: func(s *telegramtest.Server) {
				s.FailNext("sendPhoto", 403, 403, "Forbidden: bot was blocked by the user", 0)
			},
			m:    platform.Outbound{To: chat, Media: &platform.Media{URL: imageURL, Kind: platform.Image}},
			want: platform.Error{Op: "sendPhoto", Kind: platform.Permanent, Status: 403, Code: 403, Message: "Forbidden: bot was blocked by the user"},
		},
		{
			name:  "revoked token",
			setup: func(s *telegramtest.Server) { s.RevokeBot(botToken) },
			m:     text,
			want:  platform.Error{Op: "sendMessage", Kind: platform.Auth, Status: 401, Code: 401, Message: "Unauthorized"},
		},
		{
			name:  "server error",
			setup: func(s *telegramtest.Server) { s.FailNext("sendMessage", 500, 500, "Internal Server Error", 0) },
			m:     text,
			want:  platform.Error{Op: "sendMessage", Kind: platform.Transient, Status: 500, Code: 500, Message: "Internal Server Error"},
		},
		{
			name: "unknown chat",
			m:    platform.Outbound{To: "@nobody", Text: "hello"},
			want: platform.Error{Op: "sendMessage", Kind: platform.Permanent, Status: 400, Code: 400, Message: "Bad Request: chat not found"},
		},
		{
			name: "text over the limit",
			m:    platform.Outbound{To: chat, Text: strings.Repeat("a", 4097)},
			want: platform.Error{Op: "sendMessage", Kind: platform.Permanent, Status: 400, Code: 400, Message: "Bad Request: message is too long"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, ch := newChannel(t)
			if tt.setup != nil {
				tt.setup(s)
			}
			got, err := ch.Send(context.Background(), account, tt.m)
			var pe *platform.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Send error = %v, want a *platform.Error", err)
			}
			tt.want.Platform = "telegram"
			if diff := cmp.Diff(&tt.want, pe); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if len(got.IDs) != 0 {
				t.Errorf("Sent = %v, want no ids", got.IDs)
			}
			assertNoToken(t, err)
		})
	}
}

// A send that fails halfway reports what went out, and its retry with Done
// sends only the rest.
func TestSendResumes(t *testing.T) {
	t.Parallel()
	s, ch := newChannel(t)
	ctx := context.Background()
	m := platform.Outbound{To: chat, Text: strings.Repeat("x", 2000), Media: &platform.Media{URL: imageURL, Kind: platform.Image}}

	s.FailNext("sendMessage", 502, 502, "Bad Gateway", 0)
	got, err := ch.Send(ctx, account, m)
	if platform.KindOf(err) != platform.Transient {
		t.Fatalf("Send error = %v, want a transient error", err)
	}
	if diff := cmp.Diff([]string{chat + ":1"}, got.IDs); diff != "" {
		t.Errorf("ids of the failed send (-want +got):\n%s", diff)
	}

	m.Done = len(got.IDs)
	got, err = ch.Send(ctx, account, m)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if diff := cmp.Diff([]string{chat + ":2"}, got.IDs); diff != "" {
		t.Errorf("ids of the retry (-want +got):\n%s", diff)
	}
	if n := len(s.Calls("sendPhoto")); n != 1 {
		t.Errorf("sendPhoto called %d times, want 1", n)
	}
	if n := len(s.Calls("sendMessage")); n != 2 {
		t.Errorf("sendMessage called %d times, want 2 (the failure and the retry)", n)
	}

	m.Done = 2
	got, err = ch.Send(ctx, account, m)
	if err != nil || len(got.IDs) != 0 {
		t.Errorf("Send with every piece done = %v, %v; want nothing sent", got, err)
	}
	if n := len(s.Sent(botToken)); n != 2 {
		t.Errorf("the fake took %d messages, want 2", n)
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	want := platform.Limits{Text: 4096, Kinds: []platform.MediaKind{platform.Image, platform.File, platform.Audio, platform.Video}}
	if diff := cmp.Diff(want, telegram.NewChannel(nil).Limits()); diff != "" {
		t.Errorf("Limits (-want +got):\n%s", diff)
	}
}
