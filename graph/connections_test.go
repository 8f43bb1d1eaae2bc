package graph_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/campaignmember"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/user"
	"github.com/switchboard-chat/switchboard/internal/testapp"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/facebook"
	"github.com/switchboard-chat/switchboard/platform/graphapi/graphtest"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/platform/whatsapp"
	"github.com/switchboard-chat/switchboard/platform/zalo"
	"github.com/switchboard-chat/switchboard/vault"
)

const connFields = `id platform externalID name username status statusReason connectedAt disconnectedAt tokenExpiresAt tokenHint
	campaign { id } webhook { url status lastReceivedAt totalReceived errorCount lastError }`

// manager returns a campaign and a token of one of its MANAGERs.
func (e *env) manager() (*ent.Campaign, string) {
	c := e.campaign(unique("integrations"))
	u, tok := e.user(user.RoleMEMBER)
	e.member(c, u, campaignmember.RoleMANAGER)
	return c, tok
}

// connectionCount counts stored connections of a campaign, live or not.
func (e *env) connectionCount(c *ent.Campaign) int {
	return c.QueryConnections().CountX(sys())
}

var botSeq = 7000000

func newBot(e *env) (string, telegram.User) {
	botSeq++
	bot := telegram.User{ID: int64(botSeq), IsBot: true, FirstName: "Shop", LastName: "Bot", Username: fmt.Sprintf("shop%d_bot", botSeq)}
	token := fmt.Sprintf("%d:AAH-secretPart_%s", bot.ID, strings.Repeat("x", 30))
	e.tg.AddBot(token, bot)
	return token, bot
}

const connectTelegram = `mutation($in: ConnectTelegramInput!) { connectTelegram(input: $in) { ` + connFields + ` } }`

func TestConnectTelegram(t *testing.T) {
	e := newEnv(t)
	c, tok := e.manager()
	token, bot := newBot(e)

	r := e.do("Bearer "+tok, connectTelegram, map[string]any{"in": map[string]any{"campaignID": string(c.ID), "botToken": token}})
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	conn := dig(r.Data, "connectTelegram")
	id := dig(conn, "id").(string)
	if dig(conn, "status") != "ACTIVE" || dig(conn, "platform") != "TELEGRAM" || dig(conn, "externalID") != fmt.Sprint(bot.ID) ||
		dig(conn, "name") != "Shop Bot" || dig(conn, "username") != bot.Username || dig(conn, "campaign.id") != string(c.ID) {
		t.Fatalf("connection = %v", conn)
	}
	wantURL := publicURL + "/webhooks/telegram/" + id
	if dig(conn, "webhook.url") != wantURL || dig(conn, "webhook.status") != "ACTIVE" || dig(conn, "webhook.totalReceived") != 0.0 {
		t.Fatalf("webhook = %v, want url %s", dig(conn, "webhook"), wantURL)
	}
	hook := e.tg.Webhook(token)
	if !hook.Set || hook.URL != wantURL || len(hook.SecretToken) < 32 || !slices.Contains(hook.AllowedUpdates, "message") {
		t.Fatalf("telegram saw setWebhook %+v", hook)
	}
	if hint := dig(conn, "tokenHint").(string); !strings.Contains(hint, "…") || strings.Contains(token, hint) && len(hint) > 10 {
		t.Fatalf("tokenHint = %q", hint)
	}
	// The token and the webhook secret never leave the server, and are encrypted at rest.
	for _, secret := range []string{token, hook.SecretToken, "secretPart"} {
		if strings.Contains(r.Raw, secret) {
			t.Fatalf("response carries a secret: %s", r.Raw)
		}
	}
	var raw []byte
	db := dbtestDB(t)
	if err := db.QueryRow("SELECT credentials FROM connections WHERE id = $1", id).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) == 0 || strings.Contains(string(raw), "secretPart") || strings.Contains(string(raw), hook.SecretToken) {
		t.Fatalf("credentials are not encrypted at rest: %q", raw)
	}

	// botUsername and botName override getMe's.
	token2, _ := newBot(e)
	d := e.as(tok, connectTelegram, map[string]any{"in": map[string]any{"campaignID": string(c.ID), "botToken": token2, "botUsername": "support_bot", "botName": "Support"}})
	if dig(d, "connectTelegram.name") != "Support" || dig(d, "connectTelegram.username") != "support_bot" {
		t.Fatalf("overrides = %v", d)
	}
}

// The troubleshooting cases of the Integration tab: each gives a clear error
// and leaves nothing behind, in the database or on Telegram.
func TestConnectTelegramFailuresLeaveNothing(t *testing.T) {
	e := newEnv(t)
	c, tok := e.manager()
	agent, agentTok := e.user(user.RoleMEMBER)
	e.member(c, agent, campaignmember.RoleAGENT)

	cases := []struct {
		name    string
		token   func() string
		prepare func(token string)
		authz   string
		code    string
		field   string
		message string
	}{
		{name: "malformed token", token: func() string { return "not-a-token" }, code: "BAD_USER_INPUT", field: "botToken", message: "{bot_id}:{secret}"},
		{name: "unknown token", token: func() string { return "123456789:" + strings.Repeat("Z", 35) }, code: "BAD_USER_INPUT", field: "botToken", message: "Invalid bot token"},
		{name: "revoked token", token: func() string { tk, _ := newBot(e); e.tg.RevokeBot(tk); return tk }, code: "BAD_USER_INPUT", field: "botToken", message: "Invalid bot token"},
		{name: "webhook registration failed", token: func() string { tk, _ := newBot(e); return tk },
			prepare: func(string) {
				e.tg.FailNext("setWebhook", 400, 400, "Bad Request: bad webhook: Failed to resolve host", 0)
			},
			code: "PLATFORM_ERROR", message: "webhook registration failed"},
		{name: "webhook not confirmed", token: func() string { tk, _ := newBot(e); return tk },
			prepare: func(string) { e.tg.FailNext("getWebhookInfo", 500, 500, "Internal Server Error", 0) },
			code:    "PLATFORM_ERROR", message: "webhook registration failed"},
		{name: "flood control", token: func() string { tk, _ := newBot(e); return tk },
			prepare: func(string) { e.tg.FailNext("getMe", 429, 429, "Too Many Requests: retry after 7", 7) },
			code:    "PLATFORM_ERROR", message: "retry after 7s"},
		{name: "agent may not connect", token: func() string { tk, _ := newBot(e); return tk }, authz: agentTok, code: "FORBIDDEN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			token := tc.token()
			if tc.prepare != nil {
				tc.prepare(token)
			}
			authz := tok
			if tc.authz != "" {
				authz = tc.authz
			}
			before := e.connectionCount(c)
			r := e.do("Bearer "+authz, connectTelegram, map[string]any{"in": map[string]any{"campaignID": string(c.ID), "botToken": token}})
			if len(r.Errors) != 1 {
				t.Fatalf("errors = %+v", r.Errors)
			}
			got := r.Errors[0]
			if got.Extensions["code"] != tc.code || (tc.field != "" && got.Extensions["field"] != tc.field) || !strings.Contains(got.Message, tc.message) {
				t.Fatalf("error = %+v, want %s %s %q", got, tc.code, tc.field, tc.message)
			}
			if strings.Contains(r.Raw, token) && len(token) > 12 {
				t.Fatalf("the error repeats the token: %s", r.Raw)
			}
			if n := e.connectionCount(c); n != before {
				t.Fatalf("a failed connect left %d connections behind", n-before)
			}
			if hook := e.tg.Webhook(token); hook.Set {
				t.Fatalf("a failed connect left a webhook registered: %+v", hook)
			}
		})
	}
}

func TestOneLiveCampaignPerAccount(t *testing.T) {
	e := newEnv(t)
	a, tokA := e.manager()
	b, tokB := e.manager()
	token, _ := newBot(e)
	in := func(c *ent.Campaign) map[string]any {
		return map[string]any{"in": map[string]any{"campaignID": string(c.ID), "botToken": token}}
	}
	first := e.as(tokA, connectTelegram, in(a))
	r := e.do("Bearer "+tokB, connectTelegram, in(b))
	if r.code() != "CONFLICT" || !strings.Contains(r.Errors[0].Message, a.Name) {
		t.Fatalf("second connect = %+v, want CONFLICT naming %q", r.Errors, a.Name)
	}
	// After a disconnect the bot may be connected elsewhere; history stays.
	id := dig(first, "connectTelegram.id").(string)
	conv := e.conversation(a, e.db.Connection.GetX(sys(), pulidOf(id)), time.Now())
	d := e.as(tokA, `mutation($id: ID!) { disconnectConnection(id: $id) { status disconnectedAt tokenHint webhook { status } } }`, map[string]any{"id": id})
	if dig(d, "disconnectConnection.status") != "INACTIVE" || dig(d, "disconnectConnection.disconnectedAt") == nil ||
		dig(d, "disconnectConnection.tokenHint") != "" || dig(d, "disconnectConnection.webhook.status") != "INACTIVE" {
		t.Fatalf("disconnect = %v", d)
	}
	if e.tg.Webhook(token).Set {
		t.Fatal("disconnect left the webhook registered")
	}
	if stored := e.db.Connection.GetX(sys(), pulidOf(id)); stored.Credentials != nil {
		t.Fatal("disconnect kept the credentials")
	}
	d = e.as(tokA, `query($id: ID!) { node(id: $id) { ... on Conversation { id messages { totalCount } connection { status } } } }`, map[string]any{"id": string(conv.ID)})
	if dig(d, "node.messages.totalCount") != 1.0 || dig(d, "node.connection.status") != "INACTIVE" {
		t.Fatalf("conversation after disconnect = %v", d)
	}
	d = e.as(tokB, connectTelegram, in(b))
	if dig(d, "connectTelegram.status") != "ACTIVE" {
		t.Fatalf("reconnect elsewhere = %v", d)
	}
}

func TestTestReconnectAndUpdateTelegram(t *testing.T) {
	e := newEnv(t)
	c, tok := e.manager()
	token, _ := newBot(e)
	id := dig(e.as(tok, connectTelegram, map[string]any{"in": map[string]any{"campaignID": string(c.ID), "botToken": token}}), "connectTelegram.id").(string)
	const test = `mutation($id: ID!) { testConnection(id: $id) { ok checks { name ok detail } } }`
	checks := func(d map[string]any) map[string]bool {
		out := map[string]bool{}
		for _, ch := range dig(d, "testConnection.checks").([]any) {
			out[dig(ch, "name").(string)] = dig(ch, "ok").(bool)
		}
		return out
	}

	d := e.as(tok, test, map[string]any{"id": id})
	if dig(d, "testConnection.ok") != true || !checks(d)["token valid"] || !checks(d)["webhook registered"] {
		t.Fatalf("healthy test = %v", d)
	}
	e.tg.SetLastError(token, time.Now(), "Wrong response from the webhook: 502 Bad Gateway")
	d = e.as(tok, test, map[string]any{"id": id})
	if dig(d, "testConnection.ok") != false || checks(d)["webhook delivery"] {
		t.Fatalf("test with a delivery error = %v", d)
	}
	if !strings.Contains(fmt.Sprint(d), "502 Bad Gateway") {
		t.Fatalf("the delivery error is not shown: %v", d)
	}

	// Rename; a token of another bot is refused.
	d = e.as(tok, `mutation($id: ID!) { updateConnection(id: $id, input: {name: "Sales bot"}) { name } }`, map[string]any{"id": id})
	if dig(d, "updateConnection.name") != "Sales bot" {
		t.Fatalf("rename = %v", d)
	}
	other, _ := newBot(e)
	r := e.do("Bearer "+tok, `mutation($id: ID!, $t: String!) { updateConnection(id: $id, input: {botToken: $t}) { id } }`, map[string]any{"id": id, "t": other})
	if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "input.botToken" {
		t.Fatalf("foreign token = %+v", r.Errors)
	}

	// Revoked token: test and reconnect report ERROR with a reason, never silently.
	e.tg.RevokeBot(token)
	d = e.as(tok, test, map[string]any{"id": id})
	if dig(d, "testConnection.ok") != false || checks(d)["token valid"] {
		t.Fatalf("test with a revoked token = %v", d)
	}
	d = e.as(tok, `mutation($id: ID!) { reconnectConnection(id: $id) { status statusReason webhook { status } } }`, map[string]any{"id": id})
	if dig(d, "reconnectConnection.status") != "ERROR" || !strings.Contains(dig(d, "reconnectConnection.statusReason").(string), "Telegram rejected") ||
		dig(d, "reconnectConnection.webhook.status") != "ERROR" {
		t.Fatalf("reconnect with a revoked token = %v", d)
	}
	// A fresh token from BotFather for the same bot brings it back.
	bot := e.db.Connection.GetX(sys(), pulidOf(id))
	fresh := bot.ExternalID + ":AAH-regenerated_" + strings.Repeat("y", 30)
	e.tg.AddBot(fresh, telegram.User{ID: mustInt(bot.ExternalID), IsBot: true, FirstName: "Shop", Username: bot.Username})
	d = e.as(tok, `mutation($id: ID!, $t: String!) { updateConnection(id: $id, input: {botToken: $t}) { status statusReason tokenHint } }`, map[string]any{"id": id, "t": fresh})
	if dig(d, "updateConnection.status") != "ACTIVE" || dig(d, "updateConnection.statusReason") != "" {
		t.Fatalf("new token = %v", d)
	}
	d = e.as(tok, `mutation($id: ID!) { reconnectConnection(id: $id) { status } }`, map[string]any{"id": id})
	if dig(d, "reconnectConnection.status") != "ACTIVE" || e.tg.Webhook(fresh).URL != publicURL+"/webhooks/telegram/"+id {
		t.Fatalf("reconnect = %v, webhook %+v", d, e.tg.Webhook(fresh))
	}
}

func mustInt(s string) int64 {
	var n int64
	fmt.Sscan(s, &n)
	return n
}

var allScopes = []string{"pages_messaging", "pages_read_engagement", "pages_manage_metadata", "pages_show_list"}

func TestConnectFacebook(t *testing.T) {
	e := newEnv(t)
	c, tok := e.manager()
	p1 := graphtest.FakePage{ID: digits("101"), Name: "Shop HN", Token: "EAAGpage1" + unique("t"), PictureURL: "https://cdn.example/p1.jpg", Followers: 1200, Tasks: []string{"MESSAGING"}, Scopes: allScopes}
	p2 := graphtest.FakePage{ID: digits("102"), Name: "Shop HCM", Token: "EAAGpage2" + unique("t"), Followers: 900, Tasks: []string{"MESSAGING"}, Scopes: allScopes}
	p3 := graphtest.FakePage{ID: digits("103"), Name: "No perms", Token: "EAAGpage3" + unique("t"), Scopes: []string{"pages_show_list"}}
	short, long := "EAAGshort"+unique("u"), "EAAGlong"+unique("u")
	e.meta.AddUser(short, long, 5184000, p1, p2, p3)

	d := e.as(tok, `query($t: String!) { facebookPages(userAccessToken: $t) { id name avatar followers } }`, map[string]any{"t": short})
	if n := len(dig(d, "facebookPages").([]any)); n != 3 || dig(d, "facebookPages.0.avatar") != p1.PictureURL || dig(d, "facebookPages.0.followers") != 1200.0 {
		t.Fatalf("facebookPages = %v", d)
	}

	const connect = `mutation($in: ConnectFacebookInput!) { connectFacebook(input: $in) { ` + connFields + ` } }`
	in := func(ids ...string) map[string]any {
		return map[string]any{"in": map[string]any{"campaignID": string(c.ID), "userAccessToken": short, "pageIDs": ids}}
	}
	t.Run("page not in list", func(t *testing.T) {
		r := e.do("Bearer "+tok, connect, in(p1.ID, "999999"))
		if r.code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "Page not found in list") {
			t.Fatalf("errors = %+v", r.Errors)
		}
		if e.connectionCount(c) != 0 || e.meta.Subscriptions(p1.ID) != nil {
			t.Fatal("a failed connect left traces")
		}
	})
	t.Run("missing permissions", func(t *testing.T) {
		r := e.do("Bearer "+tok, connect, in(p3.ID))
		if r.code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "missing permissions") || !strings.Contains(r.Errors[0].Message, "pages_messaging") {
			t.Fatalf("errors = %+v", r.Errors)
		}
	})
	t.Run("subscription of the second page fails: the first is undone", func(t *testing.T) {
		e.meta.FailNext("POST /"+p2.ID+"/subscribed_apps", 403, 200, 0, "(#200) Permissions error")
		r := e.do("Bearer "+tok, connect, in(p1.ID, p2.ID))
		if r.code() != "BAD_USER_INPUT" && r.code() != "PLATFORM_ERROR" {
			t.Fatalf("errors = %+v", r.Errors)
		}
		if e.connectionCount(c) != 0 || e.meta.Subscriptions(p1.ID) != nil || e.meta.Subscriptions(p2.ID) != nil {
			t.Fatalf("traces left: %d connections, subscriptions %v %v", e.connectionCount(c), e.meta.Subscriptions(p1.ID), e.meta.Subscriptions(p2.ID))
		}
	})
	t.Run("expired user token", func(t *testing.T) {
		expired := "EAAGexpired" + unique("u")
		e.meta.AddUser(expired, "EAAGlong2"+unique("u"), 0)
		e.meta.ExpireToken(expired)
		r := e.do("Bearer "+tok, connect, map[string]any{"in": map[string]any{"campaignID": string(c.ID), "userAccessToken": expired, "pageIDs": []string{p1.ID}}})
		if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "userAccessToken" || strings.Contains(r.Raw, expired) {
			t.Fatalf("errors = %+v", r.Errors)
		}
	})
	t.Run("two pages", func(t *testing.T) {
		r := e.do("Bearer "+tok, connect, in(p1.ID, p2.ID))
		if len(r.Errors) > 0 {
			t.Fatal(r.Errors)
		}
		conns := dig(r.Data, "connectFacebook").([]any)
		if len(conns) != 2 || dig(conns[0], "externalID") != p1.ID || dig(conns[0], "name") != "Shop HN" || dig(conns[0], "webhook.url") != publicURL+"/webhooks/facebook" {
			t.Fatalf("connections = %v", conns)
		}
		for _, p := range []graphtest.FakePage{p1, p2} {
			got := e.meta.Subscriptions(p.ID)
			for _, f := range []string{"messages", "messaging_postbacks", "message_deliveries", "message_reads", "message_echoes"} {
				if !slices.Contains(got, f) {
					t.Fatalf("page %s subscribed with %v, missing %s", p.ID, got, f)
				}
			}
			if strings.Contains(r.Raw, p.Token) || strings.Contains(r.Raw, long) {
				t.Fatal("a token leaked into the response")
			}
		}
		id := dig(conns[0], "id").(string)
		d := e.as(tok, `mutation($id: ID!) { testConnection(id: $id) { ok checks { name ok detail } } }`, map[string]any{"id": id})
		if dig(d, "testConnection.ok") != true {
			t.Fatalf("test = %v", d)
		}
		e.as(tok, `mutation($id: ID!) { disconnectConnection(id: $id) { status } }`, map[string]any{"id": id})
		if e.meta.Subscriptions(p1.ID) != nil {
			t.Fatal("disconnect left the app subscribed")
		}
		// An expired page token puts the connection in ERROR on test.
		id2 := dig(conns[1], "id").(string)
		e.meta.ExpireToken(p2.Token)
		e.as(tok, `mutation($id: ID!) { testConnection(id: $id) { ok } }`, map[string]any{"id": id2})
		if got := e.db.Connection.GetX(sys(), pulidOf(id2)); got.Status != connection.StatusERROR || got.StatusReason == "" {
			t.Fatalf("after an expired token: %s %q", got.Status, got.StatusReason)
		}
	})
}

func TestConnectWhatsApp(t *testing.T) {
	e := newEnv(t)
	c, tok := e.manager()
	phoneID, waToken := digits("1065"), "EAAGwa"+unique("t")
	e.meta.AddPhoneNumber(phoneID, waToken, "+84 90 123 4567", "Shop VN")
	const connect = `mutation($in: ConnectWhatsAppInput!) { connectWhatsApp(input: $in) { ` + connFields + ` } }`
	r := e.do("Bearer "+tok, connect, map[string]any{"in": map[string]any{"campaignID": string(c.ID), "phoneNumberID": phoneID, "accessToken": "EAAGwrong"}})
	if r.code() != "BAD_USER_INPUT" {
		t.Fatalf("wrong token = %+v", r.Errors)
	}
	r = e.do("Bearer "+tok, connect, map[string]any{"in": map[string]any{"campaignID": string(c.ID), "phoneNumberID": "+84901234567", "accessToken": waToken}})
	if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "phoneNumberID" {
		t.Fatalf("phone number instead of id = %+v", r.Errors)
	}
	d := e.as(tok, connect, map[string]any{"in": map[string]any{"campaignID": string(c.ID), "phoneNumberID": phoneID, "accessToken": waToken}})
	if dig(d, "connectWhatsApp.externalID") != phoneID || dig(d, "connectWhatsApp.name") != "Shop VN" || dig(d, "connectWhatsApp.username") != "+84 90 123 4567" ||
		dig(d, "connectWhatsApp.webhook.url") != publicURL+"/webhooks/whatsapp" {
		t.Fatalf("connectWhatsApp = %v", d)
	}
	if e.connectionCount(c) != 1 {
		t.Fatal("want exactly one connection")
	}
}

func TestConnectZalo(t *testing.T) {
	e := newEnv(t)
	c, tok := e.manager()
	const connect = `mutation($in: ConnectZaloInput!) { connectZalo(input: $in) { ` + connFields + ` } }`
	oa := zalo.OA{ID: digits("43182916387169"), Name: "Shop Zalo"}
	access, _ := e.zalo.AddOA(oa, "code-"+oa.ID, "verifier-"+oa.ID)

	t.Run("neither tokens nor a code", func(t *testing.T) {
		r := e.do("Bearer "+tok, connect, map[string]any{"in": map[string]any{"campaignID": string(c.ID), "oaSecretKey": "k", "accessToken": access}})
		if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "refreshToken" {
			t.Fatalf("errors = %+v", r.Errors)
		}
	})
	t.Run("expired access token", func(t *testing.T) {
		r := e.do("Bearer "+tok, connect, map[string]any{"in": map[string]any{"campaignID": string(c.ID), "oaSecretKey": "k", "accessToken": "dead-token", "refreshToken": "x"}})
		if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "accessToken" || e.connectionCount(c) != 0 {
			t.Fatalf("errors = %+v", r.Errors)
		}
	})
	t.Run("authorization code", func(t *testing.T) {
		e.zalo.SetExpiresIn(90000)
		d := e.as(tok, connect, map[string]any{"in": map[string]any{"campaignID": string(c.ID), "oaSecretKey": "oa-secret-key",
			"authorizationCode": "code-" + oa.ID, "codeVerifier": "verifier-" + oa.ID}})
		conn := dig(d, "connectZalo")
		exp, _ := time.Parse(time.RFC3339, dig(conn, "tokenExpiresAt").(string))
		if dig(conn, "externalID") != oa.ID || dig(conn, "name") != oa.Name || time.Until(exp) < 24*time.Hour || time.Until(exp) > 26*time.Hour {
			t.Fatalf("connectZalo = %v", conn)
		}
		if !strings.HasSuffix(dig(conn, "webhook.url").(string), "/webhooks/zalo/"+dig(conn, "id").(string)) {
			t.Fatalf("webhook url = %v", dig(conn, "webhook.url"))
		}
		// The same OA in another campaign conflicts.
		other, otherTok := e.manager()
		a2, r2 := e.zalo.CurrentPair(oa.ID)
		r := e.do("Bearer "+otherTok, connect, map[string]any{"in": map[string]any{"campaignID": string(other.ID), "oaSecretKey": "k", "accessToken": a2, "refreshToken": r2}})
		if r.code() != "CONFLICT" {
			t.Fatalf("second campaign = %+v", r.Errors)
		}
	})
}

// Two refreshes of one OA at once (two replicas, or the refresher and a
// reconnect) must spend the single-use refresh token once.
func TestZaloRefreshRace(t *testing.T) {
	e := newEnv(t)
	c, tok := e.manager()
	oa := zalo.OA{ID: digits("5318291638716"), Name: "Race OA"}
	access, refresh := e.zalo.AddOA(oa, "c", "v")
	d := e.as(tok, `mutation($in: ConnectZaloInput!) { connectZalo(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"campaignID": string(c.ID), "oaSecretKey": "k", "accessToken": access, "refreshToken": refresh}})
	id := pulidOf(dig(d, "connectZalo.id").(string))
	// Make the token due for renewal and the platform slow, so the two overlap.
	e.db.Connection.UpdateOneID(id).SetTokenExpiresAt(time.Now().Add(time.Minute)).ExecX(sys())
	e.zalo.SetRefreshDelay(300 * time.Millisecond)
	e.zalo.SetExpiresIn(90000)

	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.conns.Renew(context.Background(), id, false)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.zalo.RefreshAttempts(); n != 1 {
		t.Fatalf("refresh token used %d times, want once", n)
	}
	stored := e.db.Connection.GetX(sys(), id)
	sealed, err := e.conns.Credentials(stored)
	if err != nil {
		t.Fatal(err)
	}
	creds := sealed.(*zalo.Credentials)
	wantAccess, wantRefresh := e.zalo.CurrentPair(oa.ID)
	if creds.AccessToken != wantAccess || creds.RefreshToken != wantRefresh || stored.Status != connection.StatusACTIVE || time.Until(*stored.TokenExpiresAt) < 24*time.Hour {
		t.Fatalf("stored pair is not the new one: %+v %s", stored, stored.Status)
	}

	// The background sweep renews what is due, and a refused refresh token
	// puts the connection into ERROR with a reason.
	e.zalo.SetRefreshDelay(0)
	e.db.Connection.UpdateOneID(id).SetTokenExpiresAt(time.Now().Add(time.Minute)).ExecX(sys())
	e.conns.RenewDue(context.Background())
	if n := e.zalo.RefreshAttempts(); n != 2 {
		t.Fatalf("sweep made %d refresh attempts in all, want 2", n)
	}
	_, current := e.zalo.CurrentPair(oa.ID)
	e.zalo.RevokeRefreshToken(current)
	e.db.Connection.UpdateOneID(id).SetTokenExpiresAt(time.Now().Add(time.Minute)).ExecX(sys())
	e.conns.RenewDue(context.Background())
	got := e.db.Connection.GetX(sys(), id)
	if got.Status != connection.StatusERROR || !strings.Contains(got.StatusReason, "Zalo refused") {
		t.Fatalf("after a refused refresh: %s %q", got.Status, got.StatusReason)
	}
}

func TestZaloAndWhatsAppLifecycle(t *testing.T) {
	e := newEnv(t)
	c, tok := e.manager()
	oa := zalo.OA{ID: digits("6318291638716"), Name: "Lifecycle OA"}
	access, refresh := e.zalo.AddOA(oa, "c", "v")
	e.zalo.SetExpiresIn(90000)
	id := dig(e.as(tok, `mutation($in: ConnectZaloInput!) { connectZalo(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"campaignID": string(c.ID), "oaSecretKey": "k", "accessToken": access, "refreshToken": refresh}}), "connectZalo.id").(string)
	const test = `mutation($id: ID!) { testConnection(id: $id) { ok checks { name ok detail } } }`

	// An access token that died early is renewed during the test, not reported dead.
	e.zalo.ExpireAccessToken(access)
	d := e.as(tok, test, map[string]any{"id": id})
	if dig(d, "testConnection.ok") != true || e.zalo.Refreshes() != 1 {
		t.Fatalf("test after an early-dead access token = %v (refreshes %d)", d, e.zalo.Refreshes())
	}
	// Reconnect renews again and stays ACTIVE.
	d = e.as(tok, `mutation($id: ID!) { reconnectConnection(id: $id) { status tokenExpiresAt } }`, map[string]any{"id": id})
	if dig(d, "reconnectConnection.status") != "ACTIVE" || e.zalo.Refreshes() != 2 {
		t.Fatalf("zalo reconnect = %v", d)
	}
	// New tokens of another OA are refused; a new secret key is accepted.
	other := zalo.OA{ID: digits("7318291638716"), Name: "Other OA"}
	oa2, or2 := e.zalo.AddOA(other, "c2", "v2")
	r := e.do("Bearer "+tok, `mutation($id: ID!, $a: String!, $r: String!) { updateConnection(id: $id, input: {accessToken: $a, refreshToken: $r}) { id } }`,
		map[string]any{"id": id, "a": oa2, "r": or2})
	if r.code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "Other OA") {
		t.Fatalf("foreign zalo tokens = %+v", r.Errors)
	}
	e.as(tok, `mutation($id: ID!) { updateConnection(id: $id, input: {oaSecretKey: "rotated-secret"}) { id } }`, map[string]any{"id": id})
	creds, _ := e.conns.Credentials(e.db.Connection.GetX(sys(), pulidOf(id)))
	if key := creds.(*zalo.Credentials).OASecretKey; key != "rotated-secret" {
		t.Fatalf("oa secret key = %q", key)
	}
	// A refused refresh token during reconnect: ERROR with the reason.
	_, current := e.zalo.CurrentPair(oa.ID)
	e.zalo.RevokeRefreshToken(current)
	d = e.as(tok, `mutation($id: ID!) { reconnectConnection(id: $id) { status statusReason } }`, map[string]any{"id": id})
	if dig(d, "reconnectConnection.status") != "ERROR" || !strings.Contains(dig(d, "reconnectConnection.statusReason").(string), "Zalo") {
		t.Fatalf("reconnect with a revoked refresh token = %v", d)
	}

	phoneID, waToken := digits("2065"), "EAAGwa"+unique("t")
	e.meta.AddPhoneNumber(phoneID, waToken, "+84 91 000 0000", "Lifecycle WA")
	wid := dig(e.as(tok, `mutation($in: ConnectWhatsAppInput!) { connectWhatsApp(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"campaignID": string(c.ID), "phoneNumberID": phoneID, "accessToken": waToken}}), "connectWhatsApp.id").(string)
	if d := e.as(tok, test, map[string]any{"id": wid}); dig(d, "testConnection.ok") != true {
		t.Fatalf("whatsapp test = %v", d)
	}
	newToken := "EAAGwa2" + unique("t")
	e.meta.AddPhoneNumber(phoneID, newToken, "+84 91 000 0000", "Lifecycle WA")
	d = e.as(tok, `mutation($id: ID!, $t: String!) { updateConnection(id: $id, input: {accessToken: $t}) { tokenHint } }`, map[string]any{"id": wid, "t": newToken})
	if hint := dig(d, "updateConnection.tokenHint").(string); !strings.HasSuffix(newToken, hint[len(hint)-4:]) {
		t.Fatalf("token hint after update = %q", hint)
	}
	e.meta.ExpireToken(newToken)
	d = e.as(tok, `mutation($id: ID!) { reconnectConnection(id: $id) { status statusReason } }`, map[string]any{"id": wid})
	if dig(d, "reconnectConnection.status") != "ERROR" || !strings.Contains(dig(d, "reconnectConnection.statusReason").(string), "WhatsApp") {
		t.Fatalf("whatsapp reconnect with an expired token = %v", d)
	}
	r = e.do("Bearer "+tok, `mutation($id: ID!) { updateConnection(id: $id, input: {botToken: "1:x"}) { id } }`, map[string]any{"id": wid})
	if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "input.botToken" {
		t.Fatalf("a bot token on whatsapp = %+v", r.Errors)
	}
}

// After a key rotation, credentials sealed with the retired key still open,
// and the sweep re-seals them so the retired key can be dropped.
func TestKeyRotation(t *testing.T) {
	e := newEnv(t)
	c, tok := e.manager()
	token, _ := newBot(e)
	id := pulidOf(dig(e.as(tok, connectTelegram, map[string]any{"in": map[string]any{"campaignID": string(c.ID), "botToken": token}}), "connectTelegram.id").(string))

	newKey := make([]byte, 32)
	newKey[0] = 42
	oldKey := e.Key
	rotated, _ := vault.New(newKey, oldKey)
	// The same application, restarted with the new key and the old one retired.
	env := maps.Clone(appEnv)
	env["ENCRYPTION_KEY"] = base64.StdEncoding.EncodeToString(newKey)
	env["ENCRYPTION_OLD_KEYS"] = base64.StdEncoding.EncodeToString(oldKey)
	svc := testapp.Start(t, testapp.Options{Env: env}).Connections
	before := e.db.Connection.GetX(sys(), id)
	if creds, err := svc.Credentials(before); err != nil || creds.Token() != token {
		t.Fatalf("the retired key no longer opens credentials: %v", err)
	}
	svc.ResealStale(context.Background())
	after := e.db.Connection.GetX(sys(), id)
	if rotated.Stale(after.Credentials) {
		t.Fatal("credentials still sealed with the retired key")
	}
	onlyNew, _ := vault.New(newKey)
	if _, err := onlyNew.Open(after.Credentials, []byte(id)); err != nil {
		t.Fatalf("the new key alone cannot open the re-sealed credentials: %v", err)
	}
}

// Credentials sealed before each platform had a type of its own (one JSON
// object with every platform's fields) open as the platform's own type.
func TestCredentialsSealedEarlierOpen(t *testing.T) {
	e := newEnv(t)
	c, _ := e.manager()
	keys, err := vault.New(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		platform schematype.Platform
		stored   string
		want     platform.Credentials
	}{
		{schematype.PlatformTelegram, `{"botToken":"1:abc","webhookSecret":"s"}`, &telegram.Credentials{BotToken: "1:abc", WebhookSecret: "s"}},
		{schematype.PlatformFacebook, `{"pageAccessToken":"p","userAccessToken":"u"}`, &facebook.Credentials{PageAccessToken: "p", UserAccessToken: "u"}},
		{schematype.PlatformWhatsApp, `{"accessToken":"w"}`, &whatsapp.Credentials{AccessToken: "w"}},
		{schematype.PlatformZalo, `{"accessToken":"a","refreshToken":"r","oaSecretKey":"k","appID":"1","appSecret":"x"}`,
			&zalo.Credentials{AccessToken: "a", RefreshToken: "r", OASecretKey: "k", AppID: "1", AppSecret: "x"}},
	} {
		t.Run(string(tc.platform), func(t *testing.T) {
			conn := e.connection(c, tc.platform)
			sealed, err := keys.Seal([]byte(tc.stored), []byte(conn.ID))
			if err != nil {
				t.Fatal(err)
			}
			e.db.Connection.UpdateOne(conn).SetCredentials(sealed).ExecX(sys())
			got, err := e.conns.Credentials(e.db.Connection.GetX(sys(), conn.ID))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("credentials (-want +got):\n%s", diff)
			}
		})
	}
}

// Edit → choose another bot, through GraphQL: fields the platform has not are
// errors on that field, an agent may not, and the moved connection keeps its id.
func TestSwitchConnectionAccountMutation(t *testing.T) {
	e := newEnv(t)
	c, tok := e.manager()
	agent, agentTok := e.user(user.RoleMEMBER)
	e.member(c, agent, campaignmember.RoleAGENT)
	conn, id := e.telegramConnection(c, tok)
	token, bot := newBot(e)
	const q = `mutation($id: ID!, $in: SwitchConnectionAccountInput!) { switchConnectionAccount(id: $id, input: $in) { id externalID username status } }`
	r := e.do("Bearer "+tok, q, map[string]any{"id": id, "in": map[string]any{"botToken": token, "pageID": "1"}})
	if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "input.pageID" {
		t.Fatalf("a page id for a bot: %s", r.Raw)
	}
	if r := e.do("Bearer "+agentTok, q, map[string]any{"id": id, "in": map[string]any{"botToken": token}}); r.code() != "FORBIDDEN" {
		t.Fatalf("an agent switching: %s", r.Raw)
	}
	d := e.as(tok, q, map[string]any{"id": id, "in": map[string]any{"botToken": token}})
	if dig(d, "switchConnectionAccount.id") != id || dig(d, "switchConnectionAccount.externalID") != fmt.Sprint(bot.ID) ||
		dig(d, "switchConnectionAccount.username") != bot.Username || conn.ExternalID == fmt.Sprint(bot.ID) {
		t.Fatalf("switched = %v", d)
	}
}
