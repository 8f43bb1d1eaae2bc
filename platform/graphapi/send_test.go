package graphapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
)

func TestSendKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code int
		kind platform.Kind // what the shared classification said
		want platform.Kind
	}{
		{190, platform.Auth, platform.Auth},
		{102, platform.Auth, platform.Auth},
		{10, platform.Auth, platform.Permanent},
		{200, platform.Auth, platform.Permanent},
		{230, platform.Auth, platform.Permanent},
		{299, platform.Auth, platform.Permanent},
		{551, platform.Permanent, platform.Permanent},
		{100, platform.Permanent, platform.Permanent},
		{613, platform.RateLimited, platform.RateLimited},
		{4, platform.RateLimited, platform.RateLimited},
		{2, platform.Transient, platform.Transient},
		{0, platform.Transient, platform.Transient}, // no answer at all
		{300, platform.Permanent, platform.Permanent},
	}
	for _, tt := range tests {
		e := &platform.Error{Code: tt.code, Kind: tt.kind}
		if got := graphapi.SendKind(e); got != tt.want {
			t.Errorf("SendKind(code %d, %v) = %v, want %v", tt.code, tt.kind, got, tt.want)
		}
	}
}

func TestPostJSON(t *testing.T) {
	t.Parallel()
	var got struct {
		method, path, auth, contentType string
		body                            map[string]any
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path, got.auth, got.contentType = r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &got.body)
		_, _ = io.WriteString(w, `{"recipient_id":"7","message_id":"m_1"}`)
	}))
	t.Cleanup(srv.Close)

	var out struct {
		MessageID string `json:"message_id"`
	}
	body := map[string]any{"recipient": map[string]string{"id": "7"}, "message": map[string]string{"text": "hi"}}
	if err := graphapi.New(srv.URL, "v21.0", nil).PostJSON(context.Background(), "facebook", "/1001/messages", pageTok, body, &out); err != nil {
		t.Fatalf("PostJSON: %v", err)
	}
	if got.method != http.MethodPost || got.path != "/v21.0/1001/messages" || got.auth != "Bearer "+pageTok || got.contentType != "application/json" {
		t.Errorf("request %s %s, Authorization %q, Content-Type %q", got.method, got.path, got.auth, got.contentType)
	}
	want := map[string]any{"recipient": map[string]any{"id": "7"}, "message": map[string]any{"text": "hi"}}
	if diff := cmp.Diff(want, got.body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if out.MessageID != "m_1" {
		t.Errorf("answer decoded as %+v", out)
	}
}
