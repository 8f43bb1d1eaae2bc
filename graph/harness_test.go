package graph_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/switchboard-chat/switchboard/accounts"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/connections"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/campaignmember"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/user"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/graph"
	"github.com/switchboard-chat/switchboard/ingest"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
	"github.com/switchboard-chat/switchboard/platform/facebook"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
	"github.com/switchboard-chat/switchboard/platform/graphapi/graphtest"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/platform/telegram/telegramtest"
	"github.com/switchboard-chat/switchboard/platform/whatsapp"
	"github.com/switchboard-chat/switchboard/platform/zalo"
	"github.com/switchboard-chat/switchboard/platform/zalo/zalotest"
	"github.com/switchboard-chat/switchboard/vault"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var jwtSecret = []byte("test-secret-test-secret-test-secret-0123")

// env is one GraphQL server over the package's database.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	db     *ent.Client // unrestricted client for seeding (use sys(ctx))
	tokens *auth.Tokens
	// statements counts SQL statements sent by the server's ent client.
	statements atomic.Int64

	// Fakes of the platform APIs, speaking their wire formats.
	tg        *telegramtest.Server
	meta      *graphtest.Server
	zalo      *zalotest.Server
	conns     *connections.Service
	keys      *vault.Keyring
	keysBytes []byte
	hub       *events.Hub
}

// Credentials of the fake Meta and Zalo apps.
const (
	fbAppID     = "700000000000001"
	fbAppSecret = "fb-app-secret-c0ffee"
	zaloAppID   = "1234567890123456789"
	zaloSecret  = "zalo-app-secret-beef"
	publicURL   = "https://switchboard.example.com"
)

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, tokens: auth.NewTokens(jwtSecret, time.Hour)}
	client := dbtest.Client(t, func(d dialect.Driver) dialect.Driver {
		return dialect.DebugWithContext(d, func(context.Context, ...any) { e.statements.Add(1) })
	})
	e.db = dbtest.Client(t, nil)
	acc := accounts.New(client, e.tokens)
	e.tg = telegramtest.NewServer(t)
	e.meta = graphtest.NewServer(t, fbAppID, fbAppSecret)
	e.zalo = zalotest.NewServer(t, zaloAppID, zaloSecret)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	e.keys, _ = vault.New(key)
	e.keysBytes = key
	pub, _ := url.Parse(publicURL)
	g := graphapi.New(e.meta.URL, "v21.0", nil)
	e.conns = connections.New(client, e.keys, pub, connections.Platforms{
		Telegram:      telegram.New(e.tg.URL, nil),
		Facebook:      facebook.New(g, fbAppID, fbAppSecret),
		WhatsApp:      whatsapp.New(g),
		Zalo:          zalo.New(e.zalo.URL, e.zalo.URL, nil),
		FacebookAppID: fbAppID,
		ZaloAppID:     zaloAppID,
		ZaloAppSecret: zaloSecret,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	e.hub = events.NewHub(dbtest.Open(t), e.db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	hubCtx, stopHub := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() { e.hub.Run(hubCtx, dbtest.URL(t), 20*time.Millisecond); close(hubDone) }()
	t.Cleanup(func() { stopHub(); <-hubDone })
	e.conns.OnChange(e.hub)
	proc := ingest.New(client, map[schematype.Platform]ingest.Decoder{schematype.PlatformTelegram: telegram.Decode}, e.hub,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	e.srv = httptest.NewServer(graph.NewHandler(graph.Options{Client: client, Accounts: acc, Connections: e.conns, Ingest: proc, Hub: e.hub, Introspection: true}))
	t.Cleanup(e.srv.Close)
	return e
}

// sys is the context background work uses: no viewer, privacy bypassed.
func sys() context.Context { return privacy.DecisionContext(context.Background(), privacy.Allow) }

var seq atomic.Int64

// unique returns a name no other test uses (tests share the package database).
func unique(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), seq.Add(1))
}

// user creates an account and returns it with a valid token.
func (e *env) user(role user.Role) (*ent.User, string) {
	e.t.Helper()
	hash, err := auth.HashPassword("correct horse battery")
	if err != nil {
		e.t.Fatal(err)
	}
	u := e.db.User.Create().SetEmail(unique("u") + "@example.com").SetName("Test User").
		SetPasswordHash(hash).SetRole(role).SaveX(sys())
	tok, _, err := e.tokens.Issue(u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return u, tok
}

func (e *env) campaign(name string) *ent.Campaign {
	return e.db.Campaign.Create().SetName(name).SaveX(sys())
}

func (e *env) member(c *ent.Campaign, u *ent.User, role campaignmember.Role) {
	e.db.CampaignMember.Create().SetCampaign(c).SetUser(u).SetRole(role).ExecX(sys())
}

func (e *env) connection(c *ent.Campaign, platform schematype.Platform) *ent.Connection {
	return e.db.Connection.Create().SetCampaign(c).SetPlatform(platform).SetExternalID(unique("ext")).
		SetName("Page " + unique("n")).SetConnectedAt(time.Now()).SaveX(sys())
}

func (e *env) contact(c *ent.Campaign, name string) *ent.Contact {
	return e.db.Contact.Create().SetCampaign(c).SetPlatform(schematype.PlatformTelegram).
		SetExternalID(unique("chat")).SetName(name).SaveX(sys())
}

// conversation opens a conversation with a new contact and one inbound message at `at`.
func (e *env) conversation(c *ent.Campaign, conn *ent.Connection, at time.Time) *ent.Conversation {
	ct := e.contact(c, unique("contact"))
	cv := e.db.Conversation.Create().SetCampaign(c).SetConnection(conn).SetContact(ct).SetLastMessageAt(at).SaveX(sys())
	m := e.db.Message.Create().SetCampaignID(c.ID).SetConversation(cv).SetConnection(conn).
		SetDirection("INBOUND").SetText("hello at " + at.Format(time.RFC3339Nano)).SetSentAt(at).
		SetExternalID(unique("mid")).SetPosition(ingest.Position(at, pulid.New("whe"))).SaveX(sys())
	return e.db.Conversation.UpdateOne(cv).SetLastMessage(m).SaveX(sys())
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type result struct {
	Raw    string
	Status int
	Data   map[string]any
	Errors []gqlError
}

func (r result) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// do posts a GraphQL request with the given Authorization header value ("" for none).
func (e *env) do(authz, query string, vars map[string]any) result {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r result
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &r); err != nil {
		e.t.Fatalf("decoding response %s: %v", raw, err)
	}
	r.Raw = string(raw)
	r.Status = resp.StatusCode
	return r
}

// as runs a query with a bearer token and fails the test on any error.
func (e *env) as(token, query string, vars map[string]any) map[string]any {
	e.t.Helper()
	r := e.do("Bearer "+token, query, vars)
	if len(r.Errors) > 0 {
		e.t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	return r.Data
}

// dig walks a decoded JSON value by keys and indexes ("a.b.0.c").
func dig(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			var i int
			fmt.Sscan(k, &i)
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func ids(edges any) []pulid.ID {
	var out []pulid.ID
	for _, e := range edges.([]any) {
		out = append(out, pulid.ID(dig(e, "node.id").(string)))
	}
	return out
}

func pulidOf(s string) pulid.ID { return pulid.ID(s) }

func dbtestDB(t *testing.T) *sql.DB { return dbtest.Open(t) }

// digits returns a numeric platform id no other test (or rerun) uses.
func digits(prefix string) string {
	return fmt.Sprintf("%s%d%03d", prefix, time.Now().UnixNano()%1e12, seq.Add(1)%1000)
}
