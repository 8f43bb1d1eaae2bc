package graph_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/ent/user"
)

// The GraphQL-over-HTTP rules SPAs and generic clients rely on.
func TestGraphQLOverHTTP(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user(user.RoleMEMBER)
	// do sends body as it is: a strings.Reader's length is declared, any
	// other reader's is not (chunked).
	do := func(method, rawURL, contentType, accept string, body io.Reader) (*http.Response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, rawURL, body)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp, out
	}
	send := func(method, rawURL, contentType, accept, body string) (*http.Response, map[string]any) {
		t.Helper()
		return do(method, rawURL, contentType, accept, strings.NewReader(body))
	}
	get := func(query string) string { return e.url + "?query=" + url.QueryEscape(query) }

	t.Run("GET runs queries", func(t *testing.T) {
		resp, out := send(http.MethodGet, get(`{ me { id } }`), "", "application/json", "")
		if resp.StatusCode != 200 || dig(out, "data.me.id") == nil {
			t.Fatalf("GET query: %d %v", resp.StatusCode, out)
		}
	})
	t.Run("POST answers are JSON no browser sniffs as a page", func(t *testing.T) {
		resp, out := send(http.MethodPost, e.url, "application/json", "", `{"query":"{ me { id } }"}`)
		if resp.StatusCode != 200 || dig(out, "data.me.id") == nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
			resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("POST query: %d %v %v", resp.StatusCode, resp.Header, out)
		}
	})
	t.Run("GET refuses mutations with 405", func(t *testing.T) {
		resp, _ := send(http.MethodGet, get(`mutation { createCampaign(input: {name: "via GET"}) { id } }`), "", "application/json", "")
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Fatalf("GET mutation: %d Allow=%q, want 405 Allow=POST", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
	t.Run("GET's own errors have a code and no data", func(t *testing.T) {
		resp, out := send(http.MethodGet, get(`{ me { id } }`)+"&variables=%7Bnope", "", "application/json", "")
		if _, has := out["data"]; resp.StatusCode != 400 || has || dig(out, "errors.0.extensions.code") != "BAD_USER_INPUT" {
			t.Fatalf("GET with undecodable variables: %d %v, want 400 BAD_USER_INPUT without data", resp.StatusCode, out)
		}
	})
	t.Run("GET's 405 is JSON with a code", func(t *testing.T) {
		resp, out := send(http.MethodGet, get(`mutation { createCampaign(input: {name: "via GET"}) { id } }`), "", "application/json", "")
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || dig(out, "errors.0.extensions.code") != "METHOD_NOT_ALLOWED" {
			t.Fatalf("GET mutation answered %s %v", ct, out)
		}
	})
	t.Run("graphql-response+json: invalid documents are 400 without data", func(t *testing.T) {
		for q, code := range map[string]string{"{ nope }": "GRAPHQL_VALIDATION_FAILED", "{ me { id ": "GRAPHQL_PARSE_FAILED"} {
			body, _ := json.Marshal(map[string]string{"query": q})
			resp, out := send(http.MethodPost, e.url, "application/json", "application/graphql-response+json", string(body))
			if resp.StatusCode != 400 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/graphql-response+json") || dig(out, "errors.0.extensions.code") != code {
				t.Fatalf("%q: %d %s %v, want 400 %s", q, resp.StatusCode, resp.Header.Get("Content-Type"), out, code)
			}
			if _, has := out["data"]; has {
				t.Fatalf("%q: the response has a data entry (%v); a request that never executed has none", q, out)
			}
		}
	})
	t.Run("application/json: invalid documents are 200 with errors", func(t *testing.T) {
		for _, q := range []string{"{ nope }", "{ me { id "} {
			body, _ := json.Marshal(map[string]string{"query": q})
			resp, out := send(http.MethodPost, e.url, "application/json", "application/json", string(body))
			if resp.StatusCode != 200 || out["errors"] == nil {
				t.Fatalf("%q: %d %v, want 200 with errors", q, resp.StatusCode, out)
			}
		}
	})
	t.Run("application/json: valid requests are 200 with JSON", func(t *testing.T) {
		resp, out := send(http.MethodPost, e.url, "application/json", "application/json", `{"query":"{ me { id } }"}`)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || dig(out, "data.me.id") == nil {
			t.Fatalf("POST: %d %s %v", resp.StatusCode, resp.Header.Get("Content-Type"), out)
		}
	})
	t.Run("malformed JSON body is 400", func(t *testing.T) {
		resp, out := send(http.MethodPost, e.url, "application/json", "application/json", `{"query":`)
		if resp.StatusCode != 400 || dig(out, "errors.0.extensions.code") != "BAD_USER_INPUT" {
			t.Fatalf("malformed body: %d %v, want 400 BAD_USER_INPUT", resp.StatusCode, out)
		}
		if _, has := out["data"]; has {
			t.Fatalf("malformed body answered with a data entry: %v", out)
		}
	})
	t.Run("oversized body is 413", func(t *testing.T) {
		body := `{"query":"{ me { id } }","variables":{"pad":"` + strings.Repeat("x", 2<<20) + `"}}`
		resp, out := send(http.MethodPost, e.url, "application/json", "application/json", body)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("oversized body: %d, want 413", resp.StatusCode)
		}
		// Answered as GraphQL, through the error presenter.
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") ||
			dig(out, "errors.0.extensions.code") != "BAD_USER_INPUT" || dig(out, "errors.0.extensions.field") != "body" {
			t.Fatalf("oversized body answered %s %v", ct, out)
		}
	})
	// chunked posts a body whose length is not known beforehand.
	chunked := func(parts ...string) (*http.Response, map[string]any) {
		t.Helper()
		readers := make([]io.Reader, len(parts))
		for i, p := range parts {
			readers[i] = strings.NewReader(p)
		}
		return do(http.MethodPost, e.url, "application/json", "", io.MultiReader(readers...))
	}
	t.Run("oversized chunked body is 413", func(t *testing.T) {
		resp, out := chunked(`{"query":"{ me { id } }","variables":{"pad":"`, strings.Repeat("x", 2<<20), `"}}`)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || dig(out, "errors.0.extensions.field") != "body" {
			t.Fatalf("oversized chunked body: %d %v, want 413 naming body", resp.StatusCode, out)
		}
	})
	t.Run("chunked body within the limit runs", func(t *testing.T) {
		resp, out := chunked(`{"query":"{ me { id } }"}`)
		if resp.StatusCode != 200 || dig(out, "data.me.id") == nil {
			t.Fatalf("chunked body: %d %v", resp.StatusCode, out)
		}
	})
	t.Run("complexity limit", func(t *testing.T) {
		q := `{ campaigns(first: 500) { edges { node { conversations(first: 500) { edges { node { messages(first: 500) { totalCount } } } } } } } }`
		body, _ := json.Marshal(map[string]string{"query": q})
		_, out := send(http.MethodPost, e.url, "application/json", "application/json", string(body))
		if dig(out, "errors.0.extensions.code") != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Fatalf("expensive query: %v, want COMPLEXITY_LIMIT_EXCEEDED", out)
		}
	})
}

// A websocket without a valid token in connection_init is closed with 4403
// before anything runs; with one it is acknowledged.
func TestWebsocketInitAuthentication(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user(user.RoleMEMBER)
	wsURL := "ws" + strings.TrimPrefix(e.url, "http")
	dial := func(payload map[string]any) (*websocket.Conn, map[string]any, error) {
		t.Helper()
		d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 5 * time.Second}
		c, _, err := d.Dial(wsURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		msg, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": payload})
		if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				return c, nil, err
			}
			var m map[string]any
			_ = json.Unmarshal(data, &m)
			if m["type"] == "connection_ack" {
				return c, m, nil
			}
		}
	}
	for name, payload := range map[string]map[string]any{
		"no token":  {},
		"bad token": {"Authorization": "Bearer nope"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := dial(payload)
			var ce *websocket.CloseError
			if !asCloseError(err, &ce) || ce.Code != 4403 {
				t.Fatalf("got %v, want close 4403", err)
			}
		})
	}
	for name, payload := range map[string]map[string]any{
		"Authorization": {"Authorization": "Bearer " + tok},
		"authToken":     {"authToken": tok},
		"token":         {"token": tok},
	} {
		t.Run(name, func(t *testing.T) {
			c, _, err := dial(payload)
			if err != nil {
				t.Fatalf("valid token refused: %v", err)
			}
			// Queries run over the socket as the authenticated user.
			sub, _ := json.Marshal(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "{ me { id } }"}})
			_ = c.WriteMessage(websocket.TextMessage, sub)
			_, data, err := c.ReadMessage()
			if err != nil || !bytes.Contains(data, []byte(`"me":{"id":"usr_`)) {
				t.Fatalf("query over websocket: %s %v", data, err)
			}
		})
	}
}

func asCloseError(err error, target **websocket.CloseError) bool {
	ce, ok := err.(*websocket.CloseError)
	if ok {
		*target = ce
	}
	return ok
}

// The legacy subscriptions-transport-ws protocol works too, and a socket
// closes when its token expires.
func TestWebsocketLegacyProtocolAndExpiry(t *testing.T) {
	e := newEnv(t)
	u, tok := e.user(user.RoleMEMBER)
	wsURL := "ws" + strings.TrimPrefix(e.url, "http")
	dial := func(proto string, payload map[string]any) *websocket.Conn {
		d := websocket.Dialer{Subprotocols: []string{proto}, HandshakeTimeout: 5 * time.Second}
		c, _, err := d.Dial(wsURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		msg, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": payload})
		_ = c.WriteMessage(websocket.TextMessage, msg)
		return c
	}
	read := func(c *websocket.Conn, want string) map[string]any {
		t.Helper()
		for {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, data, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("waiting for %s: %v", want, err)
			}
			var m map[string]any
			_ = json.Unmarshal(data, &m)
			if m["type"] == want {
				return m
			}
		}
	}
	c := dial("graphql-ws", map[string]any{"authToken": tok})
	read(c, "connection_ack")
	start, _ := json.Marshal(map[string]any{"id": "1", "type": "start", "payload": map[string]any{"query": "{ me { id } }"}})
	_ = c.WriteMessage(websocket.TextMessage, start)
	if m := read(c, "data"); dig(m, "payload.data.me.id") != string(u.ID) {
		t.Fatalf("legacy protocol data = %v", m)
	}

	short, _, err := auth.NewTokens(e.Config.JWTSecret, 2*time.Second).Issue(u.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	c = dial("graphql-transport-ws", map[string]any{"Authorization": "Bearer " + short})
	read(c, "connection_ack")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			if _, ok := err.(*websocket.CloseError); !ok {
				t.Fatalf("socket ended with %v, want a close frame", err)
			}
			break
		}
	}
}

// A client's mistake is answered BAD_USER_INPUT naming what was wrong,
// never INTERNAL, and an unauthenticated query follows the spec's null
// propagation with the error on its path.
func TestClientMistakes(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user(user.RoleADMIN)
	for _, tt := range []struct {
		name, query, field string
	}{
		{"garbage cursor", `{ campaigns(after: "garbage") { edges { node { id } } } }`, "after"},
		{"cursor of another shape", `{ campaigns(before: "eyJ4IjoxfQ") { edges { node { id } } } }`, "before"},
		{"time that does not parse", `{ campaigns(where: {createdAtGT: "yesterday"}) { edges { node { id } } } }`, "createdAtGT"},
		{"time in a variable", `query($t: Time) { campaigns(where: {createdAtGT: $t}) { edges { node { id } } } }`, "t"},
		{"negative page", `{ campaigns(first: -1) { edges { node { id } } } }`, "first"},
		{"first and last at once", `{ campaigns(first: 2, last: 2) { edges { node { id } } } }`, "last"},
		{"last with after", `{ campaigns(last: 2, after: "x") { edges { node { id } } } }`, "after"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var vars map[string]any
			if strings.Contains(tt.query, "$t") {
				vars = map[string]any{"t": "yesterday"}
			}
			r := e.do("Bearer "+tok, tt.query, vars)
			if r.code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, tt.field) {
				t.Fatalf("answered %s, want BAD_USER_INPUT naming %s", r.Raw, tt.field)
			}
		})
	}
	t.Run("me without a token", func(t *testing.T) {
		r := e.do("", `{ me { id } }`, nil)
		var raw map[string]any
		_ = json.Unmarshal([]byte(r.Raw), &raw)
		if d, has := raw["data"]; !has || d != nil {
			t.Fatalf("answered %s, want data: null (me is non-null)", r.Raw)
		}
		if r.code() != "UNAUTHENTICATED" || len(r.Errors[0].Path) != 1 || r.Errors[0].Path[0] != "me" {
			t.Fatalf("answered %s, want UNAUTHENTICATED on path [me]", r.Raw)
		}
	})
}
