package graphtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-chat/switchboard/platform/graphapi/graphtest"
)

const (
	pageID   = "1111"
	pageTok  = "PAGETOKEN-graphtest"
	phoneID  = "106540352242922"
	phoneTok = "SYSTEMTOKEN-graphtest"
)

func newServer(t *testing.T) *graphtest.Server {
	t.Helper()
	s := graphtest.NewServer(t, "4242", "APPSECRET-graphtest")
	s.AddUser("SHORT-graphtest", "LONG-graphtest", 0, graphtest.FakePage{ID: pageID, Name: "Page", Token: pageTok})
	s.AddPhoneNumber(phoneID, phoneTok, "+1 555-078-3881", "Shop")
	return s
}

// post sends body to /v21.0/<id>/messages with header Authorization auth
// (and query, if any) and returns the status and the decoded answer.
func post(t *testing.T, s *graphtest.Server, id, query, auth, body string) (int, map[string]any) {
	t.Helper()
	u := s.URL + "/v21.0/" + id + "/messages"
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("answer %q: %v", raw, err)
	}
	return resp.StatusCode, m
}

func TestMessengerSendShapes(t *testing.T) {
	t.Parallel()
	ok := `{"recipient":{"id":"77"},"messaging_type":"RESPONSE",`
	tests := []struct {
		name, body string
		wantOK     bool
	}{
		{"text", ok + `"message":{"text":"hi"}}`, true},
		{"attachment", ok + `"message":{"attachment":{"type":"image","payload":{"url":"https://x.example/a.jpg","is_reusable":true}}}}`, true},
		{"not JSON", `recipient=77`, false},
		{"no recipient", `{"messaging_type":"RESPONSE","message":{"text":"hi"}}`, false},
		{"numeric recipient id", `{"recipient":{"id":77},"messaging_type":"RESPONSE","message":{"text":"hi"}}`, false},
		{"no messaging_type", `{"recipient":{"id":"77"},"message":{"text":"hi"}}`, false},
		{"tag missing", `{"recipient":{"id":"77"},"messaging_type":"MESSAGE_TAG","message":{"text":"hi"}}`, false},
		{"no message", ok + `"x":1}`, false},
		{"text and attachment", ok + `"message":{"text":"hi","attachment":{"type":"image","payload":{"url":"https://x.example/a.jpg"}}}}`, false},
		{"empty message", ok + `"message":{}}`, false},
		{"empty text", ok + `"message":{"text":""}}`, false},
		{"text of 2001 characters", ok + `"message":{"text":"` + strings.Repeat("é", 2001) + `"}}`, false},
		{"unknown attachment type", ok + `"message":{"attachment":{"type":"sticker","payload":{"url":"https://x.example/a.jpg"}}}}`, false},
		{"attachment without URL", ok + `"message":{"attachment":{"type":"image","payload":{}}}}`, false},
		{"is_reusable not a boolean", ok + `"message":{"attachment":{"type":"image","payload":{"url":"https://x.example/a.jpg","is_reusable":"yes"}}}}`, false},
		{"sender action with a message", `{"recipient":{"id":"77"},"sender_action":"mark_seen","message":{"text":"hi"}}`, false},
		{"unknown sender action", `{"recipient":{"id":"77"},"sender_action":"dance"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			status, answer := post(t, s, pageID, "", "Bearer "+pageTok, tt.body)
			if tt.wantOK {
				id, _ := answer["message_id"].(string)
				if status != 200 || answer["recipient_id"] != "77" || !strings.HasPrefix(id, "m_") {
					t.Fatalf("answer %d %v", status, answer)
				}
				if got := s.Sends(); len(got) != 1 || got[0].ID != id {
					t.Errorf("Sends = %+v, want the one with id %s", got, id)
				}
				return
			}
			e, _ := answer["error"].(map[string]any)
			if status != 400 || e["code"] != float64(100) || e["type"] != "GraphMethodException" {
				t.Errorf("answer %d %v, want a code 100 GraphMethodException", status, answer)
			}
			if got := s.Sends(); len(got) != 1 || got[0].Status != 400 || got[0].ID != "" {
				t.Errorf("Sends = %+v, want the refused request", got)
			}
		})
	}
}

func TestMessengerSenderAction(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	status, answer := post(t, s, pageID, "", "Bearer "+pageTok, `{"recipient":{"id":"77"},"sender_action":"mark_seen"}`)
	if status != 200 || !cmp.Equal(map[string]any{"recipient_id": "77"}, answer) {
		t.Errorf("answer %d %v", status, answer)
	}
}

func TestMessengerSendAuth(t *testing.T) {
	t.Parallel()
	body := `{"recipient":{"id":"77"},"messaging_type":"RESPONSE","message":{"text":"hi"}}`
	tests := []struct {
		name, query, auth string
		wantCode          float64
	}{
		{name: "token as a parameter", query: "access_token=" + pageTok},
		{name: "user token", auth: "Bearer LONG-graphtest", wantCode: 210},
		{name: "a number's token", auth: "Bearer " + phoneTok, wantCode: 200},
		{name: "unknown token", auth: "Bearer nope", wantCode: 190},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			status, answer := post(t, s, pageID, tt.query, tt.auth, body)
			e, _ := answer["error"].(map[string]any)
			if tt.wantCode == 0 && status != 200 || tt.wantCode != 0 && e["code"] != tt.wantCode {
				t.Errorf("answer %d %v, want code %v", status, answer, tt.wantCode)
			}
			want := graphtest.Send{Path: "/v21.0/" + pageID + "/messages", Authorization: tt.auth, Status: status,
				Body: map[string]any{"recipient": map[string]any{"id": "77"}, "messaging_type": "RESPONSE", "message": map[string]any{"text": "hi"}}}
			if tt.query != "" {
				want.AccessToken = pageTok
			}
			got := s.Sends()
			if len(got) == 1 {
				got[0].ID = ""
			}
			if diff := cmp.Diff([]graphtest.Send{want}, got); diff != "" {
				t.Errorf("Sends (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWhatsAppSendShapes(t *testing.T) {
	t.Parallel()
	head := `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+1 650-555-1234",`
	tests := []struct {
		name, body string
		wantOK     bool
	}{
		{"text", head + `"type":"text","text":{"preview_url":false,"body":"hi"}}`, true},
		{"image with caption", head + `"type":"image","image":{"link":"https://x.example/a.jpg","caption":"c"}}`, true},
		{"audio", head + `"type":"audio","audio":{"link":"https://x.example/a.ogg"}}`, true},
		{"document by id", head + `"type":"document","document":{"id":"1234"}}`, true},
		{"no messaging_product", `{"to":"1","type":"text","text":{"body":"hi"}}`, false},
		{"group recipient", `{"messaging_product":"whatsapp","recipient_type":"group","to":"1","type":"text","text":{"body":"hi"}}`, false},
		{"no to", `{"messaging_product":"whatsapp","type":"text","text":{"body":"hi"}}`, false},
		{"unknown type", head + `"type":"sticker","sticker":{"link":"https://x.example/a.webp"}}`, false},
		{"object of another type", head + `"type":"text","text":{"body":"hi"},"image":{"link":"https://x.example/a.jpg"}}`, false},
		{"no object for the type", head + `"type":"image"}`, false},
		{"empty body", head + `"type":"text","text":{"body":""}}`, false},
		{"text of 4097 characters", head + `"type":"text","text":{"body":"` + strings.Repeat("é", 4097) + `"}}`, false},
		{"preview_url not a boolean", head + `"type":"text","text":{"body":"hi","preview_url":"no"}}`, false},
		{"audio with caption", head + `"type":"audio","audio":{"link":"https://x.example/a.ogg","caption":"c"}}`, false},
		{"caption of 1025 characters", head + `"type":"image","image":{"link":"https://x.example/a.jpg","caption":"` + strings.Repeat("é", 1025) + `"}}`, false},
		{"link not a URL", head + `"type":"image","image":{"link":"a.jpg"}}`, false},
		{"both link and id", head + `"type":"image","image":{"link":"https://x.example/a.jpg","id":"1"}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			status, answer := post(t, s, phoneID, "", "Bearer "+phoneTok, tt.body)
			if tt.wantOK {
				msgs, _ := answer["messages"].([]any)
				if status != 200 || len(msgs) != 1 {
					t.Fatalf("answer %d %v", status, answer)
				}
				id, _ := msgs[0].(map[string]any)["id"].(string)
				want := map[string]any{
					"messaging_product": "whatsapp",
					"contacts":          []any{map[string]any{"input": "+1 650-555-1234", "wa_id": "16505551234"}},
					"messages":          []any{map[string]any{"id": id}},
				}
				if diff := cmp.Diff(want, answer); diff != "" || !strings.HasPrefix(id, "wamid.") {
					t.Errorf("answer (-want +got):\n%s", diff)
				}
				if got := s.Sends(); len(got) != 1 || got[0].ID != id {
					t.Errorf("Sends = %+v, want the one with id %s", got, id)
				}
				return
			}
			e, _ := answer["error"].(map[string]any)
			if status != 400 || e["code"] != float64(100) || e["type"] != "GraphMethodException" {
				t.Errorf("answer %d %v, want a code 100 GraphMethodException", status, answer)
			}
		})
	}
}

func TestWhatsAppSendAuth(t *testing.T) {
	t.Parallel()
	body := `{"messaging_product":"whatsapp","to":"1","type":"text","text":{"body":"hi"}}`
	for _, tt := range []struct{ name, query, auth string }{
		{name: "token as a parameter", query: "access_token=" + phoneTok},
		{name: "a page's token", auth: "Bearer " + pageTok},
	} {
		s := newServer(t)
		status, answer := post(t, s, phoneID, tt.query, tt.auth, body)
		e, _ := answer["error"].(map[string]any)
		if status != 400 || e["code"] != float64(100) || e["error_subcode"] != float64(33) {
			t.Errorf("%s: answer %d %v, want the unsupported-request error", tt.name, status, answer)
		}
	}
}

func TestSendFailNext(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.FailNext("POST /messages", 400, 613, 0, "(#613) Calls to this api have exceeded the rate limit.")
	status, answer := post(t, s, phoneID, "", "Bearer "+phoneTok, `{"messaging_product":"whatsapp","to":"1","type":"text","text":{"body":"hi"}}`)
	if e, _ := answer["error"].(map[string]any); status != 400 || e["code"] != float64(613) {
		t.Errorf("answer %d %v, want the injected failure", status, answer)
	}
	if got := s.Sends(); len(got) != 1 || got[0].Status != 400 || got[0].Body["to"] != "1" {
		t.Errorf("Sends = %+v, want the failed request", got)
	}
	if status, _ := post(t, s, phoneID, "", "Bearer "+phoneTok, `{"messaging_product":"whatsapp","to":"1","type":"text","text":{"body":"hi"}}`); status != 200 {
		t.Errorf("second send answered %d, want the failure used once", status)
	}
}
