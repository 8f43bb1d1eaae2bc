package telegramtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/platform/telegram/telegramtest"
)

const token = "123456789:AAE-fakeServerToken_0123456789abcdef"

type answer struct {
	status int
	body   map[string]any
}

// post sends a raw request so the fake's wire format is checked without
// the client's help.
func post(t *testing.T, s *telegramtest.Server, path, contentType, body string) answer {
	t.Helper()
	resp, err := http.Post(s.URL+path, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading answer: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("answer %q is not a JSON object: %v", raw, err)
	}
	return answer{resp.StatusCode, m}
}

func fail(code int, description string) answer {
	return answer{code, map[string]any{"ok": false, "error_code": float64(code), "description": description}}
}

func TestServer(t *testing.T) {
	t.Parallel()
	setBody := `{"url":"https://example.com/hook","secret_token":"s3cr3t_-","max_connections":500}`
	tests := []struct {
		name        string
		setup       func(*testing.T, *telegramtest.Server)
		path        string
		contentType string
		body        string
		want        answer
	}{
		{
			name: "getMe with any case",
			path: "/bot" + token + "/GETME",
			want: answer{200, map[string]any{"ok": true, "result": map[string]any{
				"id": float64(123456789), "is_bot": true, "first_name": "Fake", "username": "fake_bot",
				"can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false,
				"can_connect_to_business": false, "has_main_web_app": false,
			}}},
		},
		{
			name: "unknown method",
			path: "/bot" + token + "/sendTelepathy",
			want: fail(404, "Not Found: method not found"),
		},
		{
			name: "no method",
			path: "/bot" + token,
			want: fail(404, "Not Found"),
		},
		{
			name: "not a bot path",
			path: "/getMe",
			want: fail(404, "Not Found"),
		},
		{
			name: "unknown token",
			path: "/bot987654321:" + strings.Repeat("z", 35) + "/getMe",
			want: fail(401, "Unauthorized"),
		},
		{
			name:  "revoked token",
			setup: func(_ *testing.T, s *telegramtest.Server) { s.RevokeBot(token) },
			path:  "/bot" + token + "/getMe",
			want:  fail(401, "Unauthorized"),
		},
		{
			name: "token with escaped slash",
			path: "/bot123456789:AAE%2Fabc/getMe",
			want: fail(401, "Unauthorized: invalid token specified"),
		},
		{
			name: "bot id of 2^54",
			path: "/bot18014398509481984:" + strings.Repeat("z", 35) + "/getMe",
			want: fail(401, "Unauthorized: invalid token specified"),
		},
		{
			name:        "setWebhook by JSON clamps max_connections",
			path:        "/bot" + token + "/setWebhook",
			contentType: "application/json",
			body:        setBody,
			want:        answer{200, map[string]any{"ok": true, "result": true, "description": "Webhook was set"}},
		},
		{
			name: "setWebhook again with the same settings",
			setup: func(t *testing.T, s *telegramtest.Server) {
				p := telegram.WebhookParams{URL: "https://example.com/hook", SecretToken: "s3cr3t_-", MaxConnections: 100}
				if err := telegram.New(s.URL, nil).SetWebhook(t.Context(), token, p); err != nil {
					t.Fatalf("SetWebhook: %v", err)
				}
			},
			path:        "/bot" + token + "/setwebhook",
			contentType: "application/json",
			body:        setBody,
			want:        answer{200, map[string]any{"ok": true, "result": true, "description": "Webhook is already set"}},
		},
		{
			name:        "setWebhook by form",
			path:        "/bot" + token + "/setWebhook",
			contentType: "application/x-www-form-urlencoded",
			body:        url.Values{"url": {"https://example.com/hook"}, "allowed_updates": {`["message"]`}}.Encode(),
			want:        answer{200, map[string]any{"ok": true, "result": true, "description": "Webhook was set"}},
		},
		{
			name:        "setWebhook with a body that is not an object",
			path:        "/bot" + token + "/setWebhook",
			contentType: "application/json",
			body:        `[1,2]`,
			want:        fail(400, "Bad Request: JSON object expected"),
		},
		{
			name: "deleteWebhook without webhook",
			path: "/bot" + token + "/deleteWebhook",
			want: answer{200, map[string]any{"ok": true, "result": true, "description": "Webhook is already deleted"}},
		},
		{
			name: "FailNext with retry_after",
			setup: func(_ *testing.T, s *telegramtest.Server) {
				s.FailNext("getme", 429, 429, "Too Many Requests: retry after 5", 5)
			},
			path: "/bot" + token + "/getMe",
			want: answer{429, map[string]any{"ok": false, "error_code": float64(429), "description": "Too Many Requests: retry after 5",
				"parameters": map[string]any{"retry_after": float64(5)}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := telegramtest.NewServer(t)
			s.AddBot(token, telegram.User{IsBot: true, FirstName: "Fake", Username: "fake_bot"})
			if tt.setup != nil {
				tt.setup(t, s)
			}
			got := post(t, s, tt.path, tt.contentType, tt.body)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(answer{})); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServerWebhookState(t *testing.T) {
	t.Parallel()
	s := telegramtest.NewServer(t)
	s.AddBot(token, telegram.User{IsBot: true, FirstName: "Fake"})
	post(t, s, "/bot"+token+"/setWebhook", "application/x-www-form-urlencoded",
		url.Values{"url": {"https://example.com/hook"}, "allowed_updates": {`["Message","callback_query"]`}, "max_connections": {"0"}}.Encode())
	want := telegramtest.WebhookState{
		URL: "https://example.com/hook", AllowedUpdates: []string{"message", "callback_query"}, MaxConnections: 1, Set: true,
	}
	if diff := cmp.Diff(want, s.Webhook(token)); diff != "" {
		t.Errorf("after setWebhook (-want +got):\n%s", diff)
	}

	// allowed_updates belongs to the bot, not the webhook, so it survives.
	post(t, s, "/bot"+token+"/deleteWebhook", "", "")
	want = telegramtest.WebhookState{AllowedUpdates: []string{"message", "callback_query"}}
	if diff := cmp.Diff(want, s.Webhook(token)); diff != "" {
		t.Errorf("after deleteWebhook (-want +got):\n%s", diff)
	}
	info := post(t, s, "/bot"+token+"/getWebhookInfo", "", "")
	wantInfo := map[string]any{"ok": true, "result": map[string]any{
		"url": "", "has_custom_certificate": false, "pending_update_count": float64(0),
		"allowed_updates": []any{"message", "callback_query"},
	}}
	if diff := cmp.Diff(wantInfo, info.body); diff != "" {
		t.Errorf("getWebhookInfo (-want +got):\n%s", diff)
	}

	if calls := s.Calls("SETWEBHOOK"); len(calls) != 1 || calls[0]["max_connections"] != "0" {
		t.Errorf("Calls(setWebhook) = %v, want the one form call", calls)
	}
}

func TestServerSendRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, body string
		want               answer
	}{
		{"no chat_id", "sendMessage", `{"text":"hi"}`, fail(400, "Bad Request: chat_id is empty")},
		{"no text", "sendMessage", `{"chat_id":5}`, fail(400, "Bad Request: message text is empty")},
		{"blank text", "sendMessage", `{"chat_id":5,"text":" \n"}`, fail(400, "Bad Request: message text is empty")},
		{"text of 4097 characters", "sendMessage", `{"chat_id":5,"text":"` + strings.Repeat("é", 4097) + `"}`, fail(400, "Bad Request: message is too long")},
		{"unknown username", "sendMessage", `{"chat_id":"@nobody","text":"hi"}`, fail(400, "Bad Request: chat not found")},
		{"no photo", "sendPhoto", `{"chat_id":5,"caption":"hi"}`, fail(400, "Bad Request: there is no photo in the request")},
		{"no document", "sendDocument", `{"chat_id":5}`, fail(400, "Bad Request: there is no document in the request")},
		{"no audio", "sendAudio", `{"chat_id":5}`, fail(400, "Bad Request: there is no audio in the request")},
		{"no video", "sendVideo", `{"chat_id":5}`, fail(400, "Bad Request: there is no video in the request")},
		{"photo neither URL nor file_id", "sendPhoto", `{"chat_id":5,"photo":"cat.jpg"}`, fail(400, "Bad Request: wrong file identifier/HTTP URL specified")},
		{"caption of 1025 characters", "sendPhoto", `{"chat_id":5,"photo":"https://x.example/c.jpg","caption":"` + strings.Repeat("é", 1025) + `"}`,
			fail(400, "Bad Request: message caption is too long")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := telegramtest.NewServer(t)
			s.AddBot(token, telegram.User{IsBot: true, FirstName: "Fake"})
			got := post(t, s, "/bot"+token+"/"+tt.method, "application/json", tt.body)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(answer{})); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			if sent := s.Sent(token); len(sent) != 0 {
				t.Errorf("Sent = %v, want nothing", sent)
			}
		})
	}
}

func TestServerSends(t *testing.T) {
	t.Parallel()
	s := telegramtest.NewServer(t)
	s.AddBot(token, telegram.User{IsBot: true, FirstName: "Fake", Username: "fake_bot"})
	send := func(method, body string) map[string]any {
		t.Helper()
		a := post(t, s, "/bot"+token+"/"+method, "application/json", body)
		result, _ := a.body["result"].(map[string]any)
		if a.status != 200 || result == nil {
			t.Fatalf("%s %s = %v", method, body, a)
		}
		if date, _ := result["date"].(float64); date <= 0 {
			t.Errorf("%s: date %v", method, result["date"])
		}
		delete(result, "date")
		return result
	}
	bot := map[string]any{"id": float64(123456789), "is_bot": true, "first_name": "Fake", "username": "fake_bot"}
	private := map[string]any{"id": float64(5), "type": "private", "first_name": "User 5"}

	got := send("sendMessage", `{"chat_id":5,"text":"one"}`)
	if diff := cmp.Diff(map[string]any{"message_id": float64(1), "from": bot, "chat": private, "text": "one"}, got); diff != "" {
		t.Errorf("sendMessage result (-want +got):\n%s", diff)
	}
	// Another chat numbers its messages on its own; the same chat goes on.
	if got := send("sendMessage", `{"chat_id":"-1001234567890","text":"group"}`); got["message_id"] != float64(1) || testkit.Pick(got, "chat", "type") != "supergroup" {
		t.Errorf("first message to a supergroup = %v", got)
	}
	got = send("sendPhoto", `{"chat_id":5,"photo":"https://cdn.example/p/cat.jpg","caption":"cat"}`)
	photos, _ := got["photo"].([]any)
	if got["message_id"] != float64(2) || got["caption"] != "cat" || len(photos) == 0 {
		t.Fatalf("sendPhoto result = %v", got)
	}
	// The file_id Telegram answered can be sent again instead of the URL.
	fileID := testkit.Pick(photos[len(photos)-1], "file_id").(string)
	got = send("sendPhoto", `{"chat_id":5,"photo":"`+fileID+`"}`)
	if _, hasCaption := got["caption"]; got["message_id"] != float64(3) || hasCaption {
		t.Errorf("sendPhoto by file_id = %v", got)
	}
	got = send("sendDocument", `{"chat_id":5,"document":"https://cdn.example/files/invoice.pdf"}`)
	if testkit.Pick(got, "document", "file_name") != "invoice.pdf" || testkit.Pick(got, "document", "mime_type") != "application/pdf" {
		t.Errorf("sendDocument result = %v", got)
	}
	for _, m := range []string{"audio", "video"} {
		got = send("send"+strings.ToUpper(m[:1])+m[1:], `{"chat_id":5,"`+m+`":"https://cdn.example/m/`+m+`.mp4"}`)
		if testkit.Pick(got, m, "file_id") == nil {
			t.Errorf("send %s result = %v", m, got)
		}
	}

	want := []telegramtest.SentMessage{
		{Method: "sendMessage", ChatID: 5, MessageID: 1, Text: "one"},
		{Method: "sendMessage", ChatID: -1001234567890, MessageID: 1, Text: "group"},
		{Method: "sendPhoto", ChatID: 5, MessageID: 2, Text: "cat", Media: "https://cdn.example/p/cat.jpg"},
		{Method: "sendPhoto", ChatID: 5, MessageID: 3, Media: fileID},
		{Method: "sendDocument", ChatID: 5, MessageID: 4, Media: "https://cdn.example/files/invoice.pdf"},
		{Method: "sendAudio", ChatID: 5, MessageID: 5, Media: "https://cdn.example/m/audio.mp4"},
		{Method: "sendVideo", ChatID: 5, MessageID: 6, Media: "https://cdn.example/m/video.mp4"},
	}
	if diff := cmp.Diff(want, s.Sent(token)); diff != "" {
		t.Errorf("Sent (-want +got):\n%s", diff)
	}

	s.Block(token, 5)
	if got := post(t, s, "/bot"+token+"/sendMessage", "application/json", `{"chat_id":5,"text":"still there?"}`); !cmp.Equal(got, fail(403, "Forbidden: bot was blocked by the user"), cmp.AllowUnexported(answer{})) {
		t.Errorf("send to a chat that blocked the bot = %v", got)
	}
	if calls := s.Calls("sendMessage"); len(calls) != 3 || calls[2]["text"] != "still there?" {
		t.Errorf("Calls(sendMessage) = %v, want the refused call recorded too", calls)
	}
}

func TestCallsKeepBigIntegers(t *testing.T) {
	t.Parallel()
	s := telegramtest.NewServer(t)
	s.AddBot(token, telegram.User{IsBot: true, FirstName: "Fake"})
	post(t, s, "/bot"+token+"/sendMessage", "application/json", `{"chat_id":-1009007199254740993,"text":"hi","n":7}`)
	calls := s.Calls("sendMessage")
	if len(calls) != 1 || calls[0]["chat_id"] != json.Number("-1009007199254740993") || calls[0]["n"] != float64(7) {
		t.Errorf("Calls = %#v, want the chat id exact and small numbers float64", calls)
	}
	if sent := s.Sent(token); len(sent) != 1 || sent[0].ChatID != -1009007199254740993 {
		t.Errorf("Sent = %v", sent)
	}
}

// What a health check reads: the privacy mode in getMe, the commands, the
// backlog, and a webhook that went away behind the bot's back.
func TestServerHealth(t *testing.T) {
	t.Parallel()
	s := telegramtest.NewServer(t)
	s.AddBot(token, telegram.User{IsBot: true, FirstName: "Fake", CanReadAllGroupMessages: true})
	if got := post(t, s, "/bot"+token+"/getMe", "", ""); testkit.Pick(got.body, "result", "can_read_all_group_messages") != true {
		t.Errorf("getMe = %v, want privacy mode off", got.body)
	}
	if got := post(t, s, "/bot"+token+"/getMyCommands", "", ""); !cmp.Equal(got.body, map[string]any{"ok": true, "result": []any{}}) {
		t.Errorf("getMyCommands without commands = %v", got.body)
	}
	s.SetCommands(token, telegram.BotCommand{Command: "start", Description: "Start"})
	want := map[string]any{"ok": true, "result": []any{map[string]any{"command": "start", "description": "Start"}}}
	if got := post(t, s, "/bot"+token+"/getMyCommands", "", ""); !cmp.Equal(got.body, want) {
		t.Errorf("getMyCommands = %v, want %v", got.body, want)
	}

	post(t, s, "/bot"+token+"/setWebhook", "application/json", `{"url":"https://example.com/hook","allowed_updates":["message"]}`)
	s.SetPendingUpdates(token, 4)
	s.DropWebhook(token)
	wantInfo := map[string]any{"ok": true, "result": map[string]any{
		"url": "", "has_custom_certificate": false, "pending_update_count": float64(4), "allowed_updates": []any{"message"},
	}}
	if got := post(t, s, "/bot"+token+"/getWebhookInfo", "", ""); !cmp.Equal(got.body, wantInfo) {
		t.Errorf("getWebhookInfo after DropWebhook (-want +got):\n%s", cmp.Diff(wantInfo, got.body))
	}
	// Setting the webhook again with drop_pending_updates empties the backlog.
	post(t, s, "/bot"+token+"/setWebhook", "application/json", `{"url":"https://example.com/hook","drop_pending_updates":true}`)
	if got := post(t, s, "/bot"+token+"/getWebhookInfo", "", ""); testkit.Pick(got.body, "result", "pending_update_count") != float64(0) {
		t.Errorf("getWebhookInfo after dropping pending updates = %v", got.body)
	}
}
