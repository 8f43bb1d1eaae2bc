package graph_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard-chat/switchboard/ent/user"
)

// response is an HTTP answer to a GraphQL request, with its headers.
type response struct {
	result
	Header http.Header
}

// send posts a GraphQL request with extra headers (Authorization,
// X-Forwarded-For); method GET sends the query in the URL.
func (e *env) send(method string, headers map[string]string, query string, vars map[string]any) response {
	e.t.Helper()
	var req *http.Request
	if method == http.MethodGet {
		req, _ = http.NewRequest(method, e.url+"?query="+url.QueryEscape(query), nil)
	} else {
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req, _ = http.NewRequest(method, e.url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r response
	if err := json.Unmarshal(raw, &r.result); err != nil {
		e.t.Fatalf("decoding response %d %s: %v", resp.StatusCode, raw, err)
	}
	r.Raw, r.Status, r.Header = string(raw), resp.StatusCode, resp.Header
	return r
}

// refused checks that r was refused as a whole with code (and, when field
// is set, extensions.field), and returns the message.
func refused(t *testing.T, what string, r result, code, field string) string {
	t.Helper()
	if len(r.Errors) == 0 || r.code() != code || len(r.Data) > 0 {
		t.Fatalf("%s: got %.500s, want refused with %s and no data", what, r.Raw, code)
	}
	if field != "" && r.Errors[0].Extensions["field"] != field {
		t.Fatalf("%s: field %v, want %s (%s)", what, r.Errors[0].Extensions["field"], field, r.Errors[0].Message)
	}
	return r.Errors[0].Message
}

// slowedDown checks a TOO_MANY_REQUESTS refusal over HTTP: 429, a
// Retry-After header and extensions.retryAfter saying the same whole number
// of seconds; it returns that number.
func slowedDown(t *testing.T, what string, r response) int {
	t.Helper()
	refused(t, what, r.result, "TOO_MANY_REQUESTS", "")
	header, err := strconv.Atoi(r.Header.Get("Retry-After"))
	ext, ok := r.Errors[0].Extensions["retryAfter"].(float64)
	if r.Status != http.StatusTooManyRequests || err != nil || !ok || float64(header) != ext || header < 1 {
		t.Fatalf("%s: status %d, Retry-After %q, extensions.retryAfter %v; want 429 and the same whole seconds (>= 1)",
			what, r.Status, r.Header.Get("Retry-After"), r.Errors[0].Extensions["retryAfter"])
	}
	return header
}

// Documents that would cost seconds to parse or validate are refused
// before, with an error that says what to change, whoever sends them.
func TestHostileDocumentsAreRefused(t *testing.T) {
	e := newEnv(t)
	const maxQuery = 64 << 10 // GRAPHQL_MAX_QUERY_BYTES's default
	fragments := func(depth int) string {
		var b strings.Builder
		b.WriteString("query { ...F0 }\n")
		for i := range depth {
			fmt.Fprintf(&b, "fragment F%d on Query { a: __typename ...F%d ...F%d }\n", i, i+1, i+1)
		}
		fmt.Fprintf(&b, "fragment F%d on Query { __typename }\n", depth)
		return b.String()
	}
	nestedMe := "{" + strings.Repeat("a: me { "+strings.Repeat("id ", 35)+"} ", 35) + "}"
	for _, tc := range []struct {
		name, query, code, field, says string
	}{
		{"1 MiB of __typename", "{" + strings.Repeat("__typename ", 95000) + "}", "BAD_USER_INPUT", "query", "at most 65536"},
		{"1 MiB deeply nested", strings.Repeat("{ a ", 130000) + strings.Repeat("}", 130000), "BAD_USER_INPUT", "query", "at most 65536"},
		{"more tokens than the limit", "{" + strings.Repeat("a:b ", 5000) + "}", "GRAPHQL_PARSE_FAILED", "", "token limit"},
		{"64 KiB of __typename", "{" + strings.Repeat("__typename ", maxQuery/11-1) + "}", "BAD_USER_INPUT", "query", "repeats the same fields"},
		{"8 KiB of repeated sub-selections", nestedMe, "BAD_USER_INPUT", "query", "repeats the same fields"},
		{"fragments spreading the next twice", fragments(40), "BAD_USER_INPUT", "query", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := refused(t, tc.name, e.do("", tc.query, nil), tc.code, tc.field)
			if !strings.Contains(msg, tc.says) {
				t.Fatalf("message %q does not say %q", msg, tc.says)
			}
		})
	}

	t.Run("what clients send still works", func(t *testing.T) {
		_, tok := e.user(user.RoleMEMBER)
		// Relay composes fragments that select the same fields.
		d := e.as(tok, `{ me { id ...A ...B } } fragment A on User { id email } fragment B on User { id name email }`, nil)
		if dig(d, "me.id") == nil || dig(d, "me.email") == nil {
			t.Fatalf("fragments: %v", d)
		}
		if r := e.do("", introspectionQuery, nil); len(r.Errors) > 0 || dig(r.Data, "__schema.queryType.name") != "Query" {
			t.Fatalf("introspection: %.300s", r.Raw)
		}
	})
}

// The query GraphiQL sends to learn the schema.
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}`

func TestAnonymousRequestsAreRateLimited(t *testing.T) {
	e := newEnvWith(t, map[string]string{"ANON_RATE_LIMIT": "0.001", "ANON_RATE_BURST": "3"})
	_, tok := e.user(user.RoleMEMBER)
	for i := range 3 {
		if r := e.send(http.MethodPost, nil, `{ __typename }`, nil); r.Status != 200 || len(r.Errors) > 0 {
			t.Fatalf("anonymous request %d within the burst: %d %s", i+1, r.Status, r.Raw)
		}
	}
	slowedDown(t, "4th anonymous request", e.send(http.MethodPost, nil, `{ __typename }`, nil))
	slowedDown(t, "anonymous GET", e.send(http.MethodGet, nil, `{ __typename }`, nil))
	slowedDown(t, "a bad token", e.send(http.MethodPost, map[string]string{"Authorization": "Bearer not-a-jwt"}, `{ me { id } }`, nil))
	slowedDown(t, "a client naming itself in X-Forwarded-For", e.send(http.MethodPost,
		map[string]string{"X-Forwarded-For": "198.51.100.9"}, `{ __typename }`, nil))
	slowedDown(t, "a login", e.send(http.MethodPost, nil, `mutation { login(email: "a@example.com", password: "x") { token } }`, nil))
	// A valid token is not limited.
	for range 5 {
		if r := e.send(http.MethodPost, map[string]string{"Authorization": "Bearer " + tok}, `{ me { id } }`, nil); r.Status != 200 || dig(r.Data, "me.id") == nil {
			t.Fatalf("signed-in request: %d %s", r.Status, r.Raw)
		}
	}
	// Nor are the platforms' webhooks.
	resp, err := http.Post(e.URL+"/webhooks/telegram/con_unknown", "application/json", strings.NewReader(`{"update_id": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests {
		t.Fatal("a webhook was rate limited as an anonymous GraphQL request")
	}
}

// Behind a trusted proxy, each client has its own budget.
func TestAnonymousLimitIsPerClientBehindTrustedProxies(t *testing.T) {
	e := newEnvWith(t, map[string]string{"ANON_RATE_LIMIT": "0.001", "ANON_RATE_BURST": "1", "TRUSTED_PROXIES": "127.0.0.1"})
	from := func(ip string) response {
		return e.send(http.MethodPost, map[string]string{"X-Forwarded-For": ip}, `{ __typename }`, nil)
	}
	if r := from("198.51.100.1"); r.Status != 200 {
		t.Fatalf("first client: %d %s", r.Status, r.Raw)
	}
	slowedDown(t, "first client again", from("198.51.100.1"))
	// Forged hops to the left of what the proxy saw change nothing.
	slowedDown(t, "first client with a forged hop", from("203.0.113.50, 198.51.100.1"))
	if r := from("198.51.100.2"); r.Status != 200 {
		t.Fatalf("second client: %d %s", r.Status, r.Raw)
	}
}

const loginQuery = `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`

func (e *env) login(headers map[string]string, email, password string) response {
	e.t.Helper()
	return e.send(http.MethodPost, headers, loginQuery, map[string]any{"e": email, "p": password})
}

func TestLoginIsThrottledPerEmail(t *testing.T) {
	e := newEnvWith(t, map[string]string{"LOGIN_MAX_FAILURES_PER_EMAIL": "3"})
	u, _ := e.user(user.RoleMEMBER)
	const right, wrong = "correct horse battery", "wrong horse battery"
	for i := range 3 {
		refused(t, fmt.Sprint("failure ", i+1), e.login(nil, u.Email, wrong).result, "UNAUTHENTICATED", "")
	}
	r := e.login(nil, strings.ToUpper(u.Email), right)
	if secs := slowedDown(t, "the right password after 3 failures", r); secs < 50 || secs > 60 {
		t.Fatalf("retryAfter %d s, want the first lockout (a minute)", secs)
	}
	// An email without an account is locked the same way: refusals tell
	// nothing of which emails exist.
	for range 3 {
		e.login(nil, "nobody-"+u.Email, wrong)
	}
	if r2 := e.login(nil, "nobody-"+u.Email, right); r2.Errors == nil || r2.Errors[0].Message != r.Errors[0].Message {
		t.Fatalf("unknown email after 3 failures: %s, want %q", r2.Raw, r.Errors[0].Message)
	}

	// A success starts the email over, and says nothing of the failures.
	v, _ := e.user(user.RoleMEMBER)
	for round := range 3 {
		for range 2 {
			refused(t, "wrong password", e.login(nil, v.Email, wrong).result, "UNAUTHENTICATED", "")
		}
		ok := e.login(nil, v.Email, right)
		var raw map[string]any
		_ = json.Unmarshal([]byte(ok.Raw), &raw)
		if ok.Status != 200 || len(ok.Errors) > 0 || dig(ok.Data, "login.token") == nil || len(raw) != 1 {
			t.Fatalf("round %d: the right password after 2 failures: %d %s", round, ok.Status, ok.Raw)
		}
	}
}

func TestLoginIsThrottledPerClient(t *testing.T) {
	e := newEnvWith(t, map[string]string{"LOGIN_MAX_FAILURES_PER_IP": "3", "TRUSTED_PROXIES": "127.0.0.1"})
	u, _ := e.user(user.RoleMEMBER)
	guesser := map[string]string{"X-Forwarded-For": "198.51.100.66"}
	for i := range 3 {
		refused(t, fmt.Sprint("guess ", i+1), e.login(guesser, fmt.Sprintf("guess%d@example.com", i), "password1").result, "UNAUTHENTICATED", "")
	}
	slowedDown(t, "a 4th email from the same client", e.login(guesser, u.Email, "correct horse battery"))
	if r := e.login(map[string]string{"X-Forwarded-For": "198.51.100.67"}, u.Email, "correct horse battery"); len(r.Errors) > 0 {
		t.Fatalf("another client: %s", r.Raw)
	}
}

// Aliases of login in one operation would be as many guesses in one request:
// such an operation is refused whole, and no password is checked.
func TestSeveralLoginsInOneOperationAreRefused(t *testing.T) {
	e := newEnvWith(t, map[string]string{"LOGIN_MAX_FAILURES_PER_EMAIL": "3"})
	u, _ := e.user(user.RoleMEMBER)
	vars := map[string]any{"e": u.Email}
	var aliases strings.Builder
	aliases.WriteString(`mutation($e: String!) {`)
	for i := range 10 {
		fmt.Fprintf(&aliases, ` a%d: login(email: $e, password: "guess %d") { token }`, i, i)
	}
	aliases.WriteString(` ok: login(email: $e, password: "correct horse battery") { token } }`)
	for name, q := range map[string]string{
		"aliases": aliases.String(),
		"fragments": `mutation($e: String!) { ...A ...B }
			fragment A on Mutation { a: login(email: $e, password: "guess") { token } }
			fragment B on Mutation { b: login(email: $e, password: "correct horse battery") { token } }`,
		"inline fragments": `mutation($e: String!) { ... on Mutation { a: login(email: $e, password: "guess") { token } }
			b: login(email: $e, password: "correct horse battery") { token } }`,
	} {
		for range 2 {
			r := e.do("", q, vars)
			if r.code() != "GRAPHQL_VALIDATION_FAILED" || r.Data != nil || !strings.Contains(r.Errors[0].Message, "login") {
				t.Fatalf("%s: %.400s, want a validation error and no data", name, r.Raw)
			}
		}
	}
	// Had any of the 40 guesses been checked, the email would be locked.
	if r := e.login(nil, u.Email, "correct horse battery"); len(r.Errors) > 0 {
		t.Fatalf("after the refused operations: %s", r.Raw)
	}
}

func TestPagesAndNodesAreBounded(t *testing.T) {
	e := newEnv(t)
	c, tok := e.manager()
	const maxPage, maxNodes = 500, 100 // the defaults
	for _, tc := range []struct {
		name, query, field string
		vars               map[string]any
	}{
		{"first", `{ campaigns(first: 501) { totalCount } }`, "first", nil},
		{"last", `{ campaigns(last: 501) { totalCount } }`, "last", nil},
		{"a variable", `query($n: Int) { campaigns(first: $n) { totalCount } }`, "first", map[string]any{"n": 501}},
		{"a nested connection", `{ campaigns(first: 1) { edges { node { conversations(first: 100000) { totalCount } } } } }`, "first", nil},
		{"a fragment", `{ ...F } fragment F on Query { campaigns(last: 501) { totalCount } }`, "last", nil},
		{"nested pages that overflowed the cost", `{ campaigns(first: 4) { edges { node { conversations(first: 715827883) { edges { node {
			messages(first: 2147483646) { edges { node { text } } } } } } } } } }`, "first", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := refused(t, tc.name, e.do("Bearer "+tok, tc.query, tc.vars), "BAD_USER_INPUT", tc.field)
			if !strings.Contains(msg, strconv.Itoa(maxPage)) {
				t.Fatalf("message %q does not give the limit", msg)
			}
		})
	}
	if d := e.as(tok, `{ campaigns(first: 500) { totalCount } }`, nil); dig(d, "campaigns.totalCount") == nil {
		t.Fatalf("a full page: %v", d)
	}

	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = string(c.ID)
		}
		return out
	}
	const nodes = `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`
	msg := refused(t, "101 ids", e.do("Bearer "+tok, nodes, map[string]any{"ids": ids(maxNodes + 1)}), "BAD_USER_INPUT", "ids")
	if !strings.Contains(msg, strconv.Itoa(maxNodes)) {
		t.Fatalf("message %q does not give the limit", msg)
	}
	if d := e.as(tok, nodes, map[string]any{"ids": ids(maxNodes)}); len(d["nodes"].([]any)) != maxNodes {
		t.Fatalf("100 ids: %v", d)
	}
}
