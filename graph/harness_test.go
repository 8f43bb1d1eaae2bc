package graph_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/switchboard-chat/switchboard/app"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/connections"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/campaignmember"
	"github.com/switchboard-chat/switchboard/ent/contact"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/user"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/ingest"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
	"github.com/switchboard-chat/switchboard/internal/testapp"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/graphapi/graphtest"
	"github.com/switchboard-chat/switchboard/platform/telegram/telegramtest"
	"github.com/switchboard-chat/switchboard/platform/zalo/zalotest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// env is the whole application over the package's database (the
// production wiring, app.New), reached through GraphQL.
type env struct {
	*testapp.Stack
	t   testing.TB
	url string      // the GraphQL endpoint
	db  *ent.Client // unrestricted client for seeding (use sys(ctx))
	// statements counts SQL statements sent by the server's ent client.
	statements *atomic.Int64

	// Fakes of the platform APIs, speaking their wire formats.
	tg    *telegramtest.Server
	meta  *graphtest.Server
	zalo  *zalotest.Server
	conns *connections.Service
	hub   *events.Hub
}

// Credentials of the fake Meta and Zalo apps.
const (
	fbAppID     = "700000000000001"
	fbAppSecret = "fb-app-secret-c0ffee"
	zaloAppID   = "1234567890123456789"
	zaloSecret  = "zalo-app-secret-beef"
	publicURL   = "https://switchboard.example.com"
)

// appEnv is the configuration the package's tests run with.
var appEnv = map[string]string{
	"FACEBOOK_APP_ID": fbAppID, "FACEBOOK_APP_SECRET": fbAppSecret,
	"ZALO_APP_ID": zaloAppID, "ZALO_APP_SECRET": zaloSecret, "PUBLIC_URL": publicURL,
	// Tests here count the server's SQL statements: no worker polls behind their back.
	"OUTBOX_WORKERS": "0",
	// Every test sends from 127.0.0.1, some dozens of requests without a
	// valid token in a row; the tests of that limit set their own.
	"ANON_RATE_BURST": "100000",
}

// newEnv starts the application, with no processing workers: tests here
// process the journal themselves (replayWebhookEvent) when they need to.
func newEnv(t *testing.T) *env { return newEnvWith(t, nil) }

// newEnvWith starts the application with configuration on top of appEnv.
func newEnvWith(t testing.TB, extra map[string]string) *env {
	t.Helper()
	e := &env{t: t, statements: new(atomic.Int64)}
	cfg := maps.Clone(appEnv)
	maps.Copy(cfg, extra)
	e.Stack = testapp.Start(t, testapp.Options{Env: cfg, App: app.Options{
		Poll: 20 * time.Millisecond,
		WrapDriver: func(d dialect.Driver) dialect.Driver {
			return dialect.DebugWithContext(d, func(context.Context, ...any) { e.statements.Add(1) })
		},
	}})
	e.url, e.db = e.Stack.URL+"/graphql", dbtest.Client(t, nil)
	e.tg, e.meta, e.zalo, e.conns, e.hub = e.TG, e.Meta, e.Zalo, e.Connections, e.Hub
	return e
}

// issue returns a token for the user.
func (e *env) issue(id pulid.ID) (string, error) {
	tok, _, err := auth.NewTokens(e.Config.JWTSecret, time.Hour).Issue(id, 0)
	return tok, err
}

// sys is the context background work uses: no viewer, privacy bypassed.
func sys() context.Context { return testkit.Sys() }

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
	tok, err := e.issue(u.ID)
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
	return e.db.Contact.Create().SetCampaign(c).SetChannel(contact.ChannelTELEGRAM).SetPlatform(schematype.PlatformTelegram).
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
	req, _ := http.NewRequest(http.MethodPost, e.url, bytes.NewReader(body))
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
func digits(prefix string) string { return testkit.Digits(prefix) }
