package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboard-chat/switchboard/httpx"
)

// A preflight for the headers common GraphQL clients send succeeds: with
// one missing, the browser never sends the SPA's request at all.
func TestCORSPreflightForGraphQLClients(t *testing.T) {
	h := httpx.CORS(nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("a preflight reached the handler") }))
	req := httptest.NewRequest(http.MethodOptions, "/graphql", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "apollographql-client-name,apollographql-client-version,authorization,content-type,traceparent")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("preflight: %d, allow-origin %q", rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
	}
	allowed := map[string]bool{}
	for _, h := range strings.Split(rec.Header().Get("Access-Control-Allow-Headers"), ",") {
		allowed[strings.ToLower(strings.TrimSpace(h))] = true
	}
	for _, want := range strings.Split(req.Header.Get("Access-Control-Request-Headers"), ",") {
		if !allowed[want] {
			t.Errorf("%s is not an allowed header", want)
		}
	}
}
