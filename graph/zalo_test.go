package graph_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/campaignmember"
	"github.com/switchboard-chat/switchboard/ent/contact"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/user"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/zalo"
)

const zaloOASecret = "oa-secret-of-the-widget-tests"

const widgetFields = `oaID appID status reasonMessage callbackName allowedOrigins snippet eventsURL stats { action count lastAt }`

const (
	zaloWidgetQuery    = `query($c: ID!) { zaloWidget(connectionID: $c) { ` + widgetFields + ` } }`
	updateWidgetMutate = `mutation($c: ID!, $in: UpdateZaloWidgetInput!) { updateZaloWidget(connectionID: $c, input: $in) { ` + widgetFields + ` } }`
)

// zaloCampaign connects a fresh OA and returns it with tokens of a MANAGER
// and an AGENT of its campaign.
func (e *env) zaloCampaign() (conn *ent.Connection, managerTok, agentTok string) {
	e.t.Helper()
	conn = e.ZaloOA(zaloOASecret)
	c := e.db.Campaign.GetX(sys(), conn.CampaignID)
	m, managerTok := e.user(user.RoleMEMBER)
	e.member(c, m, campaignmember.RoleMANAGER)
	a, agentTok := e.user(user.RoleMEMBER)
	e.member(c, a, campaignmember.RoleAGENT)
	return conn, managerTok, agentTok
}

// widgetElement parses a snippet as a browser does and returns the
// widget's attributes and the scripts' sources.
func widgetElement(t *testing.T, snippet string) (attrs map[string]string, scripts []string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(snippet))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return attrs, scripts
		case html.StartTagToken:
			tok := z.Token()
			got := map[string]string{}
			for _, a := range tok.Attr {
				got[a.Key] = a.Val
			}
			switch {
			case tok.Data == "div" && got["class"] == "zalo-interaction-widget":
				if attrs != nil {
					t.Fatalf("two widgets in %s", snippet)
				}
				attrs = got
			case tok.Data == "script":
				scripts = append(scripts, got["src"])
			default:
				t.Fatalf("unexpected <%s> in %s", tok.Data, snippet)
			}
		}
	}
}

func TestZaloWidgetSettings(t *testing.T) {
	e := newEnv(t)
	conn, managerTok, agentTok := e.zaloCampaign()
	_, strangerTok := e.manager()
	vars := map[string]any{"c": string(conn.ID)}

	t.Run("defaults, readable by the campaign's agents", func(t *testing.T) {
		w := dig(e.as(agentTok, zaloWidgetQuery, vars), "zaloWidget")
		if dig(w, "oaID") != conn.ExternalID || dig(w, "appID") != zaloAppID || dig(w, "status") != "SHOW" ||
			dig(w, "reasonMessage") != nil || dig(w, "callbackName") != nil || len(dig(w, "allowedOrigins").([]any)) != 0 ||
			dig(w, "eventsURL") != publicURL+"/widgets/zalo/"+string(conn.ID)+"/events" {
			t.Fatalf("widget = %v", w)
		}
		stats := dig(w, "stats").([]any)
		if len(stats) != len(zalo.WidgetActions) {
			t.Fatalf("stats = %v, want every action", stats)
		}
		for i, s := range stats {
			if dig(s, "action") != zalo.WidgetActions[i] || dig(s, "count") != 0.0 || dig(s, "lastAt") != nil {
				t.Fatalf("stats = %v, want zero counts", stats)
			}
		}
		attrs, scripts := widgetElement(t, dig(w, "snippet").(string))
		want := map[string]string{"class": "zalo-interaction-widget", "data-oaid": conn.ExternalID, "data-appid": zaloAppID,
			"status": "show", "user_external_id": zalo.ExternalIDPlaceholder}
		if diff := cmp.Diff(want, attrs); diff != "" {
			t.Fatalf("widget attributes (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{zalo.SDKURL}, scripts); diff != "" {
			t.Fatalf("scripts (-want +got):\n%s", diff)
		}
	})

	t.Run("who may see and change it", func(t *testing.T) {
		if r := e.do("Bearer "+strangerTok, zaloWidgetQuery, vars); r.code() != "NOT_FOUND" {
			t.Fatalf("another campaign's manager reading: %+v", r.Errors)
		}
		if r := e.do("", zaloWidgetQuery, vars); r.code() != "UNAUTHENTICATED" {
			t.Fatalf("anonymous: %+v", r.Errors)
		}
		in := map[string]any{"c": string(conn.ID), "in": map[string]any{"status": "HIDE"}}
		if r := e.do("Bearer "+agentTok, updateWidgetMutate, in); r.code() != "FORBIDDEN" {
			t.Fatalf("agent changing: %+v", r.Errors)
		}
		if r := e.do("Bearer "+strangerTok, updateWidgetMutate, in); r.code() != "NOT_FOUND" {
			t.Fatalf("another campaign's manager changing: %+v", r.Errors)
		}
		tg := e.connection(e.db.Campaign.GetX(sys(), conn.CampaignID), schematype.PlatformTelegram)
		r := e.do("Bearer "+managerTok, zaloWidgetQuery, map[string]any{"c": string(tg.ID)})
		if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "connectionID" {
			t.Fatalf("a Telegram connection: %+v", r.Errors)
		}
	})

	hostile := `"><script>alert(1)</script> Để gửi thông báo đơn hàng & khuyến mãi`
	t.Run("a manager sets it up; the snippet escapes every value", func(t *testing.T) {
		w := dig(e.as(managerTok, updateWidgetMutate, map[string]any{"c": string(conn.ID), "in": map[string]any{
			"status": "HIDE", "reasonMessage": "  " + hostile + "\n", "callbackName": "onZaloWidget",
			"allowedOrigins": []string{"https://Shop.Example.vn/", "http://localhost:3000", "https://shop.example.vn:443"},
		}}), "updateZaloWidget")
		if dig(w, "status") != "HIDE" || dig(w, "reasonMessage") != hostile || dig(w, "callbackName") != "onZaloWidget" ||
			!cmp.Equal(dig(w, "allowedOrigins"), []any{"https://shop.example.vn", "http://localhost:3000"}) {
			t.Fatalf("widget = %v", w)
		}
		snippet := dig(w, "snippet").(string)
		if strings.Contains(snippet, "<script>alert") {
			t.Fatalf("the reason message became markup:\n%s", snippet)
		}
		attrs, scripts := widgetElement(t, snippet)
		want := map[string]string{"class": "zalo-interaction-widget", "data-oaid": conn.ExternalID, "data-appid": zaloAppID,
			"status": "hide", "user_external_id": zalo.ExternalIDPlaceholder, "data-callback": "onZaloWidget", "data-reason-msg": hostile}
		if diff := cmp.Diff(want, attrs); diff != "" {
			t.Fatalf("widget attributes (-want +got):\n%s\n%s", diff, snippet)
		}
		if len(scripts) != 1 || scripts[0] != zalo.SDKURL {
			t.Fatalf("scripts = %v", scripts)
		}
	})

	t.Run("fields left out stay; empty ones clear", func(t *testing.T) {
		w := dig(e.as(managerTok, updateWidgetMutate, map[string]any{"c": string(conn.ID), "in": map[string]any{"callbackName": ""}}), "updateZaloWidget")
		if dig(w, "callbackName") != nil || dig(w, "status") != "HIDE" || dig(w, "reasonMessage") != hostile || len(dig(w, "allowedOrigins").([]any)) != 2 {
			t.Fatalf("widget = %v", w)
		}
		w = dig(e.as(agentTok, zaloWidgetQuery, vars), "zaloWidget")
		if dig(w, "callbackName") != nil || dig(w, "status") != "HIDE" {
			t.Fatalf("read back = %v", w)
		}
	})

	t.Run("invalid settings name their field", func(t *testing.T) {
		tests := []struct {
			name  string
			in    map[string]any
			field string
		}{
			{"origin with a path", map[string]any{"allowedOrigins": []string{"https://ok.example", "https://shop.example.vn/checkout"}}, "input.allowedOrigins"},
			{"origin without a scheme", map[string]any{"allowedOrigins": []string{"shop.example.vn"}}, "input.allowedOrigins"},
			{"wildcard origin", map[string]any{"allowedOrigins": []string{"https://*.example.vn"}}, "input.allowedOrigins"},
			{"too many origins", map[string]any{"allowedOrigins": strings.Split(strings.Repeat("https://a.example,", 21), ",")[:21]}, "input.allowedOrigins"},
			{"callback that is code", map[string]any{"callbackName": "alert(1)"}, "input.callbackName"},
			{"callback path", map[string]any{"callbackName": "window.onZalo"}, "input.callbackName"},
			{"reason too long", map[string]any{"reasonMessage": strings.Repeat("ý", 501)}, "input.reasonMessage"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.do("Bearer "+managerTok, updateWidgetMutate, map[string]any{"c": string(conn.ID), "in": tt.in})
				if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != tt.field {
					t.Fatalf("errors = %+v, want BAD_USER_INPUT on %s", r.Errors, tt.field)
				}
			})
		}
		if r := e.do("Bearer "+managerTok, updateWidgetMutate, map[string]any{"c": string(conn.ID), "in": map[string]any{"status": "BLINK"}}); r.code() != "GRAPHQL_VALIDATION_FAILED" {
			t.Fatalf("unknown status: %+v", r.Errors)
		}
		// Nothing of the refused changes was kept.
		w := dig(e.as(agentTok, zaloWidgetQuery, vars), "zaloWidget")
		if dig(w, "reasonMessage") != hostile || len(dig(w, "allowedOrigins").([]any)) != 2 {
			t.Fatalf("widget = %v", w)
		}
	})

	t.Run("the app is the one the OA was connected with", func(t *testing.T) {
		oa := zalo.OA{ID: digits("38"), Name: "Other app OA"}
		access, refresh := e.Zalo.AddOA(oa, "", "")
		app := "5550001112223334445"
		conns, err := e.Connections.Connect(e.Admin(), zalo.ConnectInput{CampaignID: conn.CampaignID, OASecretKey: zaloOASecret,
			AccessToken: &access, RefreshToken: &refresh, AppID: &app})
		if err != nil {
			t.Fatal(err)
		}
		w := dig(e.as(agentTok, zaloWidgetQuery, map[string]any{"c": string(conns[0].ID)}), "zaloWidget")
		if dig(w, "appID") != app || dig(w, "oaID") != oa.ID {
			t.Fatalf("widget = %v", w)
		}
		attrs, _ := widgetElement(t, dig(w, "snippet").(string))
		if attrs["data-appid"] != app {
			t.Fatalf("snippet attributes = %v", attrs)
		}
	})

	t.Run("a disconnected OA's widget is read, not changed", func(t *testing.T) {
		gone := e.ZaloOA(zaloOASecret)
		c := e.db.Campaign.GetX(sys(), gone.CampaignID)
		m, tok := e.user(user.RoleMEMBER)
		e.member(c, m, campaignmember.RoleMANAGER)
		if _, err := e.Connections.Disconnect(e.Admin(), gone.ID); err != nil {
			t.Fatal(err)
		}
		w := dig(e.as(tok, zaloWidgetQuery, map[string]any{"c": string(gone.ID)}), "zaloWidget")
		if dig(w, "appID") != zaloAppID || dig(w, "oaID") != gone.ExternalID {
			t.Fatalf("widget = %v", w)
		}
		r := e.do("Bearer "+tok, updateWidgetMutate, map[string]any{"c": string(gone.ID), "in": map[string]any{"status": "HIDE"}})
		if r.code() != "FAILED_PRECONDITION" {
			t.Fatalf("changing a disconnected OA's widget: %+v", r.Errors)
		}
	})
}

// browserReply is the endpoint's answer to a page.
type browserReply struct {
	status int
	header http.Header
	err    string // the JSON error, if any
}

// browser sends what a page on origin sends to a widget's events URL, from
// the client address ip (the server trusts 127.0.0.1 as its proxy).
func (e *env) browser(method, path, origin, ip, body string, header map[string]string) browserReply {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.Stack.URL+path, strings.NewReader(body))
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	req.Header.Set("X-Forwarded-For", ip)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := browserReply{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 {
		var v struct{ Error string }
		if err := json.Unmarshal(raw, &v); err != nil {
			e.t.Fatalf("not a JSON answer: %d %s", resp.StatusCode, raw)
		}
		r.err = v.Error
	}
	return r
}

func TestZaloWidgetBrowserEvents(t *testing.T) {
	e := newEnvWith(t, map[string]string{"WIDGET_RATE_LIMIT": "0.001", "WIDGET_RATE_BURST": "5", "TRUSTED_PROXIES": "127.0.0.1"})
	conn, managerTok, agentTok := e.zaloCampaign()
	const shop = "https://shop.example.vn"
	e.as(managerTok, updateWidgetMutate, map[string]any{"c": string(conn.ID), "in": map[string]any{"allowedOrigins": []string{shop}}})
	path := "/widgets/zalo/" + string(conn.ID) + "/events"
	event := func(action string) string { return `{"userID":"7204918273645501928","action":"` + action + `"}` }
	corsOf := func(r browserReply) string { return r.header.Get("Access-Control-Allow-Origin") }

	t.Run("preflight: the widget's origin only", func(t *testing.T) {
		pre := map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
		r := e.browser(http.MethodOptions, path, shop, "198.51.100.1", "", pre)
		if r.status != http.StatusNoContent || corsOf(r) != shop || !strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "POST") ||
			!strings.Contains(strings.ToLower(r.header.Get("Access-Control-Allow-Headers")), "content-type") || r.header.Get("Vary") != "Origin" {
			t.Fatalf("allowed origin's preflight: %d %v", r.status, r.header)
		}
		// ALLOWED_ORIGINS is unset, so the SPA's CORS would allow any origin:
		// the widget's own rules apply here instead.
		r = e.browser(http.MethodOptions, path, "https://evil.example", "198.51.100.1", "", pre)
		if r.status != http.StatusForbidden || corsOf(r) != "" {
			t.Fatalf("other origin's preflight: %d %v", r.status, r.header)
		}
	})

	t.Run("events are counted from the widget's origin only", func(t *testing.T) {
		for _, action := range []string{"loaded_successfully", "loaded_successfully", "click_interaction_accepted"} {
			r := e.browser(http.MethodPost, path, shop, "198.51.100.2", event(action), map[string]string{"Content-Type": "application/json"})
			if r.status != http.StatusNoContent || corsOf(r) != shop {
				t.Fatalf("%s: %d %v %s", action, r.status, r.header, r.err)
			}
		}
		// navigator.sendBeacon and text/plain posts skip the preflight.
		if r := e.browser(http.MethodPost, path, shop, "198.51.100.2", event("click_followed"), map[string]string{"Content-Type": "text/plain"}); r.status != http.StatusNoContent {
			t.Fatalf("text/plain: %d %s", r.status, r.err)
		}
		if r := e.browser(http.MethodPost, path, "https://evil.example", "198.51.100.3", event("click_followed"), nil); r.status != http.StatusForbidden || corsOf(r) != "" {
			t.Fatalf("other origin: %d %v", r.status, r.header)
		}
		if r := e.browser(http.MethodPost, path, "", "198.51.100.3", event("click_followed"), nil); r.status != http.StatusForbidden {
			t.Fatalf("no origin: %d", r.status)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		tests := []struct {
			name, path, body string
			status           int
			err              string
		}{
			{"unknown action", path, event("clicked_everything"), http.StatusBadRequest, "unknown action"},
			{"no action", path, `{"userID":"1"}`, http.StatusBadRequest, "unknown action"},
			{"not JSON", path, `action=loaded_successfully`, http.StatusBadRequest, "JSON"},
			{"trailing garbage", path, event("loaded_successfully") + `{}`, http.StatusBadRequest, "JSON"},
			{"a number for userID", path, `{"userID":7,"action":"loaded_successfully"}`, http.StatusBadRequest, "JSON"},
			{"too big", path, `{"userID":"` + strings.Repeat("9", 5000) + `","action":"loaded_successfully"}`, http.StatusRequestEntityTooLarge, "at most"},
			{"unknown connection", "/widgets/zalo/" + string(pulid.New("con")) + "/events", event("loaded_successfully"), http.StatusNotFound, "no such Zalo connection"},
			{"not a connection id", "/widgets/zalo/nope/events", event("loaded_successfully"), http.StatusNotFound, "no such Zalo connection"},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ip := "203.0.113." + strconv.Itoa(i+1) // a budget of its own
				r := e.browser(http.MethodPost, tt.path, shop, ip, tt.body, nil)
				if r.status != tt.status || !strings.Contains(r.err, tt.err) {
					t.Fatalf("%d %q, want %d and an error about %q", r.status, r.err, tt.status, tt.err)
				}
			})
		}
		tg := e.connection(e.db.Campaign.GetX(sys(), conn.CampaignID), schematype.PlatformTelegram)
		if r := e.browser(http.MethodPost, "/widgets/zalo/"+string(tg.ID)+"/events", shop, "203.0.113.20", event("loaded_successfully"), nil); r.status != http.StatusNotFound {
			t.Fatalf("a Telegram connection: %d", r.status)
		}
	})

	t.Run("each address has its budget", func(t *testing.T) {
		for i := range 5 {
			if r := e.browser(http.MethodPost, path, shop, "192.0.2.77", event("dismiss_follow"), nil); r.status != http.StatusNoContent {
				t.Fatalf("event %d within the burst: %d %s", i+1, r.status, r.err)
			}
		}
		r := e.browser(http.MethodPost, path, shop, "192.0.2.77", event("dismiss_follow"), nil)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
			t.Fatalf("beyond the burst: %d %v", r.status, r.header)
		}
		if r := e.browser(http.MethodOptions, path, shop, "192.0.2.77", "", map[string]string{"Access-Control-Request-Method": "POST"}); r.status != http.StatusTooManyRequests {
			t.Fatalf("a preflight beyond the burst: %d", r.status)
		}
		if r := e.browser(http.MethodPost, path, shop, "192.0.2.78", event("dismiss_follow"), nil); r.status != http.StatusNoContent {
			t.Fatalf("another address: %d %s", r.status, r.err)
		}
	})

	t.Run("the counts show on the widget, and are no consent", func(t *testing.T) {
		want := map[string]float64{"loaded_successfully": 2, "click_interaction_accepted": 1, "click_followed": 1, "dismiss_follow": 6, "updated_follow_widget": 0}
		stats := dig(e.as(agentTok, zaloWidgetQuery, map[string]any{"c": string(conn.ID)}), "zaloWidget.stats").([]any)
		got := map[string]float64{}
		for _, s := range stats {
			got[dig(s, "action").(string)] = dig(s, "count").(float64)
			if (dig(s, "count") == 0.0) != (dig(s, "lastAt") == nil) {
				t.Fatalf("stats = %v: lastAt is set exactly for reported actions", stats)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("counts (-want +got):\n%s", diff)
		}
		if n := e.db.Contact.Query().Where(contact.CampaignID(conn.CampaignID)).CountX(sys()); n != 0 {
			t.Fatalf("browser events made %d contacts", n)
		}
	})
}

// What Zalo's signed webhooks tell of a customer's consent, on the contact
// and in the connection's webhook log.
func TestContactConsent(t *testing.T) {
	e := newEnv(t)
	conn, _, agentTok := e.zaloCampaign()
	user := digits("72")
	at := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	for _, name := range []string{"widget_interaction_accepted", "widget_failed_to_sync_user_external_id"} {
		body := testkit.Fixture(t, "zalo", name+".json", "2847561930475829163", zaloAppID, "4318291638716923456", conn.ExternalID,
			"7204918273645501928", user, "1718254123456", stamp(at))
		req, _ := http.NewRequest(http.MethodPost, e.Stack.URL+"/webhooks/zalo", strings.NewReader(string(body)))
		req.Header.Set(zalo.SignatureHeader, zalo.Sign(zaloAppID, body, stamp(at), zaloOASecret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", name, resp.StatusCode)
		}
	}
	for {
		did, err := e.Ingest.ProcessNext(sys())
		if err != nil {
			t.Fatal(err)
		}
		if !did {
			break
		}
	}
	ct := e.db.Contact.Query().Where(contact.CampaignID(conn.CampaignID), contact.ExternalID(user)).OnlyX(sys())
	d := e.as(agentTok, `query($id: ID!) { node(id: $id) { ... on Contact { channel customerID consent { grantedAt customerIDSyncError } } } }`,
		map[string]any{"id": string(ct.ID)})
	granted, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(dig(d, "node.consent.grantedAt")))
	if dig(d, "node.channel") != "ZALO" || dig(d, "node.customerID") != "KH-000123" || !granted.Equal(at) ||
		dig(d, "node.consent.customerIDSyncError") != "user already has user_external_id" {
		t.Fatalf("contact = %v", d)
	}
	d = e.as(agentTok, `query($c: ID!) { webhookEvents(connectionID: $c, first: 10) { edges { node { eventType processedAt error } } } }`,
		map[string]any{"c": string(conn.ID)})
	var types []string
	for _, edge := range dig(d, "webhookEvents.edges").([]any) {
		if dig(edge, "node.processedAt") == nil || dig(edge, "node.error") != nil && dig(edge, "node.error") != "" {
			t.Fatalf("log = %v, want every event processed", d)
		}
		types = append(types, dig(edge, "node.eventType").(string))
	}
	if diff := cmp.Diff([]string{"widget_failed_to_sync_user_external_id", "widget_interaction_accepted"}, types); diff != "" {
		t.Fatalf("webhook log, newest first (-want +got):\n%s", diff)
	}

	other := e.db.Contact.Create().SetCampaignID(conn.CampaignID).SetChannel(contact.ChannelZALO).SetPlatform(schematype.PlatformZalo).
		SetExternalID(digits("72")).SaveX(sys())
	if d := e.as(agentTok, `query($id: ID!) { node(id: $id) { ... on Contact { consent { grantedAt } } } }`,
		map[string]any{"id": string(other.ID)}); dig(d, "node.consent") != nil {
		t.Fatalf("a contact Zalo told nothing of has consent %v", d)
	}
}

// stamp is a time as Zalo's timestamp writes it: milliseconds.
func stamp(at time.Time) string { return strconv.FormatInt(at.UnixMilli(), 10) }
