package graph_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboard-chat/switchboard/config"
	"github.com/switchboard-chat/switchboard/graph"
)

// BenchmarkHostileDocument measures the server time of anonymous hostile
// documents under the production defaults of the limits, each request from
// a new address (a botnet: no client's rate limit is reached). Without the
// limits, validating 20,000 __typename took 28 s, 64 KiB of them 6 s, and
// costing the 2^40 fragments would not end.
//
//	go test -run '^$' -bench HostileDocument ./graph
func BenchmarkHostileDocument(b *testing.B) {
	cfg, err := config.Load(func(k string) string {
		return map[string]string{
			"DATABASE_URL":   "postgres://bench@localhost/none",
			"JWT_SECRET":     strings.Repeat("s", 32),
			"ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(make([]byte, 32)),
		}[k]
	})
	if err != nil {
		b.Fatal(err)
	}
	h := graph.NewHandler(graph.Options{Limits: cfg.Limits, ComplexityLimit: cfg.ComplexityLimit})
	var fragments strings.Builder
	fragments.WriteString("query { ...F0 }\n")
	for i := range 40 {
		fmt.Fprintf(&fragments, "fragment F%d on Query { a: __typename ...F%d ...F%d }\n", i, i+1, i+1)
	}
	fragments.WriteString("fragment F40 on Query { __typename }\n")
	for _, doc := range []struct{ name, query string }{
		{"1MiB-typename", "{" + strings.Repeat("__typename ", 95000) + "}"},
		{"1MiB-nested", strings.Repeat("{ a ", 130000) + strings.Repeat("}", 130000)},
		{"64KiB-typename", "{" + strings.Repeat("__typename ", cfg.Limits.MaxQueryBytes/11-1) + "}"},
		{"8KiB-nested-duplicates", "{" + strings.Repeat("a: me { "+strings.Repeat("id ", 35)+"} ", 35) + "}"},
		{"fragments-2^40", fragments.String()},
	} {
		body, _ := json.Marshal(map[string]string{"query": doc.query})
		b.Run(doc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			i := 0
			for b.Loop() {
				i++
				req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:1234", byte(i>>16), byte(i>>8), byte(i))
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if !bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) || bytes.Contains(rec.Body.Bytes(), []byte("TOO_MANY_REQUESTS")) {
					b.Fatalf("not refused by the document limits: %d %.300s", rec.Code, rec.Body)
				}
			}
		})
	}
}
