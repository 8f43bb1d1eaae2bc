package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/dialect"
	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-chat/switchboard/app"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/campaignmember"
	"github.com/switchboard-chat/switchboard/ent/contact"
	"github.com/switchboard-chat/switchboard/ent/conversation"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/user"
	"github.com/switchboard-chat/switchboard/ingest"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
	"github.com/switchboard-chat/switchboard/internal/testapp"
	"github.com/switchboard-chat/switchboard/internal/testkit"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// pageQuery is the inbox page as the harness sends it to the real server.
const pageQuery = `query($c: ID!) { conversations(first: 50, where: {campaignID: $c}) { totalCount edges { cursor node { id status unreadCount lastMessageAt contact { id name avatarURL platform } connection { id name platform } lastMessage { id text direction sentAt status } } } pageInfo { hasNextPage endCursor } } }`

// recorder keeps the SQL the real server's ent client sends while on.
type recorder struct {
	mu    sync.Mutex
	on    bool
	stmts []string
}

var queryText = regexp.MustCompile(`(?s)query=(.*) args=`)

func (r *recorder) wrap(d dialect.Driver) dialect.Driver {
	return dialect.DebugWithContext(d, func(_ context.Context, v ...any) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.on {
			m := queryText.FindStringSubmatch(fmt.Sprint(v...))
			if m == nil {
				m = []string{"", fmt.Sprint(v...)}
			}
			r.stmts = append(r.stmts, m[1])
		}
	})
}

func (r *recorder) start() {
	r.mu.Lock()
	r.on, r.stmts = true, nil
	r.mu.Unlock()
}

func (r *recorder) stop() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = false
	return r.stmts
}

// fixture is a campaign's worth of inbox, and the viewers reading it.
type fixture struct {
	big, small, empty         *ent.Campaign
	admin, agent, outsider    string // tokens
	adminID, agentID, otherID pulid.ID
}

// seed fills the database with what makes the page's shape vary: more
// conversations than a page, two connections, contacts with and without
// avatar and platform, conversations without a last message, outbound
// messages, text that JSON must escape, times with and without fractions
// of a second (the cursor encodes them differently).
func seed(t testing.TB, s *testapp.Stack) fixture {
	ctx := testkit.Sys()
	c := s.Client
	var f fixture
	f.big = c.Campaign.Create().SetName("inbox " + testkit.Digits("")).SaveX(ctx)
	f.small = c.Campaign.Create().SetName("other " + testkit.Digits("")).SaveX(ctx)
	f.empty = c.Campaign.Create().SetName("empty " + testkit.Digits("")).SaveX(ctx)
	conn := func(cp *ent.Campaign, p schematype.Platform, name string) *ent.Connection {
		return c.Connection.Create().SetCampaign(cp).SetPlatform(p).SetExternalID(testkit.Digits("")).
			SetName(name).SetConnectedAt(time.Now()).SaveX(ctx)
	}
	tg, fb := conn(f.big, schematype.PlatformTelegram, "Bot <A>"), conn(f.big, schematype.PlatformFacebook, `Page "B" & co`)
	other := conn(f.small, schematype.PlatformZalo, "OA")
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	addConversation := func(cp *ent.Campaign, cn *ent.Connection, i int) {
		at := base.Add(time.Duration(i) * time.Minute)
		if i%3 == 0 {
			at = at.Add(time.Duration(i*7919) * time.Microsecond) // a fraction of a second
		}
		cc := c.Contact.Create().SetCampaign(cp).SetExternalID(testkit.Digits("")).SetName(fmt.Sprintf("Khách %d <%d> \"&\"", i, i))
		switch {
		case i%7 == 0:
			// A customer known only by a call: no platform.
			cc.SetChannel(contact.ChannelPHONE).SetExternalID("+8490" + testkit.Digits(""))
		default:
			cc.SetChannel(contact.Channel(cn.Platform)).SetPlatform(cn.Platform)
		}
		if i%2 == 0 {
			cc.SetAvatarURL(fmt.Sprintf("https://cdn.example.com/a/%d.jpg?x=1&y=2", i))
		}
		ct := cc.SaveX(ctx)
		cv := c.Conversation.Create().SetCampaign(cp).SetConnection(cn).SetContact(ct).SetLastMessageAt(at).
			SetUnreadCount(i % 4).SetStatus(conversation.Status([]string{"OPEN", "PENDING", "RESOLVED"}[i%3])).SaveX(ctx)
		if i%5 == 4 {
			return // no message yet: lastMessage is null
		}
		m := c.Message.Create().SetCampaignID(cp.ID).SetConversation(cv).SetConnection(cn).
			SetText(fmt.Sprintf("tin nhắn %d: <b>hi</b> & \"bye\"\n", i)).SetSentAt(at).
			SetPosition(ingest.Position(at, pulid.New("whe")))
		if i%2 == 0 {
			m.SetDirection("INBOUND").SetExternalID(testkit.Digits("in"))
		} else {
			m.SetDirection("OUTBOUND").SetStatus("PENDING")
		}
		c.Conversation.UpdateOne(cv).SetLastMessage(m.SaveX(ctx)).ExecX(ctx)
	}
	for i := range 57 {
		cn := tg
		if i%2 == 1 {
			cn = fb
		}
		addConversation(f.big, cn, i)
	}
	for i := range 3 {
		addConversation(f.small, other, i)
	}
	hash, err := auth.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	person := func(role user.Role, of *ent.Campaign) (pulid.ID, string) {
		u := c.User.Create().SetEmail(testkit.Digits("u") + "@example.com").SetName("Viewer").SetPasswordHash(hash).SetRole(role).SaveX(ctx)
		if of != nil {
			c.CampaignMember.Create().SetCampaign(of).SetUser(u).SetRole(campaignmember.RoleAGENT).ExecX(ctx)
		}
		tok, _, err := auth.NewTokens(s.Config.JWTSecret, time.Hour).Issue(u.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		return u.ID, tok
	}
	f.adminID, f.admin = person(user.RoleADMIN, nil)
	f.agentID, f.agent = person(user.RoleMEMBER, f.big)
	f.otherID, f.outsider = person(user.RoleMEMBER, f.small)
	return f
}

func postPage(t *testing.T, hc *http.Client, url, token string, campaign pulid.ID) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": pageQuery, "variables": map[string]any{"c": campaign}})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	if resp.StatusCode != http.StatusOK || out["errors"] != nil {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	return out
}

var (
	inList = regexp.MustCompile(`IN \(\$1(, \$\d+)*\)`)
	param  = regexp.MustCompile(`\$\d+`)
)

// normalize turns the server's IN ($1, ..., $n) into the probe's
// = ANY($1), after which the viewer's placeholder is $2.
func normalize(stmt string) string {
	if !inList.MatchString(stmt) {
		return stmt
	}
	stmt = inList.ReplaceAllString(stmt, "= ANY($$1)")
	return param.ReplaceAllStringFunc(stmt, func(p string) string {
		if p == "$1" {
			return p
		}
		return "$2"
	})
}

// The probe answers the page with the same JSON as the real server for
// the same data and viewer, byte for byte once decoded (cursors included),
// after the same statements: the same count, the same texts (the IN lists
// written as = ANY).
func TestSameAnswerAndStatementsAsTheServer(t *testing.T) {
	rec := &recorder{}
	s := testapp.Start(t, testapp.Options{Env: map[string]string{"OUTBOX_WORKERS": "0"}, App: app.Options{WrapDriver: rec.wrap}})
	f := seed(t, s)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, err := newInbox(ctx, dbtest.Open(t), "")
	if err != nil {
		t.Fatal(err)
	}
	defer in.close()
	probe := httptest.NewServer(in.handler())
	defer probe.Close()

	cases := []struct {
		name     string
		token    string
		campaign pulid.ID
		member   bool
		edges    int
		total    float64
		next     bool
	}{
		{"admin, a full page", f.admin, f.big.ID, false, 50, 57, true},
		{"agent, a full page", f.agent, f.big.ID, true, 50, 57, true},
		{"admin, a short page", f.admin, f.small.ID, false, 3, 3, false},
		{"admin, no conversations", f.admin, f.empty.ID, false, 0, 0, false},
		{"agent of another campaign", f.outsider, f.big.ID, true, 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec.start()
			want := postPage(t, s.HC, s.URL+"/graphql", tc.token, tc.campaign)
			server := rec.stop()
			before := in.count.Load()
			got := postPage(t, probe.Client(), probe.URL+"/graphql", tc.token, tc.campaign)
			ran := in.count.Load() - before

			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("the probe's answer differs from the server's (-server +probe):\n%s", d)
			}
			page := want["data"].(map[string]any)["conversations"].(map[string]any)
			if n := len(page["edges"].([]any)); n != tc.edges || page["totalCount"] != tc.total || page["pageInfo"].(map[string]any)["hasNextPage"] != tc.next {
				t.Fatalf("the server answered %d edges of %v (next %v), want %d of %v (next %v): the fixture is not what the test means",
					n, page["totalCount"], page["pageInfo"].(map[string]any)["hasNextPage"], tc.edges, tc.total, tc.next)
			}

			if tc.edges == 50 {
				checkVariety(t, page)
			}

			if int(ran) != len(server) {
				t.Fatalf("the server ran %d statements, the probe %d:\n%s", len(server), ran, strings.Join(server, "\n"))
			}
			texts := statements(tc.member)
			for i, name := range []string{"user", "count", "page", "connections", "contacts", "messages"}[:ran] {
				if norm := normalize(server[i]); norm != texts[name] {
					t.Errorf("statement %d (%s):\nserver: %s\nprobe:  %s", i+1, name, norm, texts[name])
				}
			}
			t.Logf("%d statements", ran)
		})
	}
}

// checkVariety fails unless the page shows each shape the fixture means to
// compare: a contact without platform and one without avatar, a
// conversation without a last message, an outbound message, both
// connections.
func checkVariety(t *testing.T, page map[string]any) {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range page["edges"].([]any) {
		n := e.(map[string]any)["node"].(map[string]any)
		ct := n["contact"].(map[string]any)
		seen["contact without platform"] = seen["contact without platform"] || ct["platform"] == nil
		seen["contact without avatar"] = seen["contact without avatar"] || ct["avatarURL"] == ""
		seen["contact with avatar"] = seen["contact with avatar"] || ct["avatarURL"] != ""
		seen["no last message"] = seen["no last message"] || n["lastMessage"] == nil
		if m, ok := n["lastMessage"].(map[string]any); ok {
			seen["outbound message"] = seen["outbound message"] || m["direction"] == "OUTBOUND"
		}
		seen["connection "+n["connection"].(map[string]any)["platform"].(string)] = true
	}
	for _, want := range []string{"contact without platform", "contact without avatar", "contact with avatar", "no last message",
		"outbound message", "connection TELEGRAM", "connection FACEBOOK"} {
		if !seen[want] {
			t.Errorf("the page has no %s: the fixture does not cover it", want)
		}
	}
}

func TestBadRequests(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, err := newInbox(ctx, dbtest.Open(t), "")
	if err != nil {
		t.Fatal(err)
	}
	defer in.close()
	srv := httptest.NewServer(in.handler())
	defer srv.Close()
	for _, tc := range []struct{ name, authz, body string }{
		{"no campaign", "Bearer a.eyJzdWIiOiJ1c3JfeCJ9.c", `{"query":"{}","variables":{}}`},
		{"no token", "", `{"variables":{"c":"cmp_x"}}`},
		{"unknown user", "Bearer a.eyJzdWIiOiJ1c3JfeCJ9.c", `{"variables":{"c":"cmp_x"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(tc.body))
			if tc.authz != "" {
				req.Header.Set("Authorization", tc.authz)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out struct {
				Errors []struct{ Message string }
				Data   any
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Errors) == 0 || out.Data != nil {
				t.Fatalf("got %+v (%v), want an error and no data", out, err)
			}
		})
	}
}

// The cursor is entgql's, byte for byte, for each of MessagePack's three
// time encodings (the server comparison above covers the first two).
func TestCursor(t *testing.T) {
	for _, at := range []time.Time{time.Unix(1700000000, 0), time.Unix(1700000000, 123456000), time.Unix(1<<35, 5)} {
		for _, id := range []string{"cnv_01M8VS13HAE84HG5D7BM9YTM90", strings.Repeat("x", 40), strings.Repeat("y", 300)} {
			var want bytes.Buffer
			entgql.Cursor[pulid.ID]{ID: pulid.ID(id), Value: at}.MarshalGQL(&want)
			if got := `"` + cursor(id, at) + `"`; got != want.String() {
				t.Errorf("cursor(%.10s…, %v) = %s, want %s", id, at, got, want.String())
			}
		}
	}
}

func TestSubject(t *testing.T) {
	tok, _, err := auth.NewTokens([]byte("test-secret-test-secret-test-secret-0123"), time.Hour).Issue("usr_42", 0)
	if err != nil {
		t.Fatal(err)
	}
	for authz, want := range map[string]string{"Bearer " + tok: "usr_42", "bearer " + tok: "usr_42", tok: "", "Bearer x": "", "": ""} {
		if got := subject(authz); got != want {
			t.Errorf("subject(%.20q) = %q, want %q", authz, got, want)
		}
	}
}

// BenchmarkPage asks for the page from 50 concurrent clients, on the real
// server and on the probe, over the same data and the same loopback HTTP:
// the ratio of the two is the bench's inbox row in miniature. Run with
// go test -run '^$' -bench Page ./bench/probe/inbox (no timing is asserted).
func BenchmarkPage(b *testing.B) {
	s := testapp.Start(b, testapp.Options{Env: map[string]string{"OUTBOX_WORKERS": "0"}})
	f := seed(b, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, err := newInbox(ctx, dbtest.Open(b), "")
	if err != nil {
		b.Fatal(err)
	}
	defer in.close()
	probe := httptest.NewServer(in.handler())
	defer probe.Close()
	body, _ := json.Marshal(map[string]any{"query": pageQuery, "variables": map[string]any{"c": f.big.ID}})
	for _, target := range []struct {
		name string
		url  string
		hc   *http.Client
	}{{"server", s.URL + "/graphql", s.HC}, {"probe", probe.URL + "/graphql", probe.Client()}} {
		b.Run(target.name, func(b *testing.B) {
			target.hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
			b.SetParallelism(max(1, 50/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, target.url, bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+f.agent)
					resp, err := target.hc.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pages/s")
		})
	}
}
