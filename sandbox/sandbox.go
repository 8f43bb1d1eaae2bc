// Package sandbox lets a frontend developer see Switchboard work on a
// laptop with no platform account: `switchboard sandbox` serves the
// platform fakes the tests use (Telegram's Bot API, the Graph API for
// Facebook and WhatsApp, Zalo's OAuth and OpenAPI hosts) under the
// server's own address, points the platform clients at them, and connects
// a demo campaign with one account per platform. Connecting, sending,
// receipts and the simulator then work offline, through the same code as
// in production; only the platforms' hosts are fakes.
//
// Never in production: the fakes accept any webhook URL and their accounts'
// secrets are written below.
package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/switchboard-chat/switchboard/config"
	"github.com/switchboard-chat/switchboard/platform/graphapi/graphtest"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/platform/telegram/telegramtest"
	"github.com/switchboard-chat/switchboard/platform/zalo"
	"github.com/switchboard-chat/switchboard/platform/zalo/zalotest"
)

// Prefix is where the fakes are served: /sandbox/telegram, /sandbox/graph
// and /sandbox/zalo.
const Prefix = "/sandbox/"

// The sandbox apps' ids and secrets, used when the environment names none,
// by the server (to check signatures) and by the simulator (to make them).
// They are public: nothing real is signed with them.
const (
	FacebookAppID     = "900000000000001"
	FacebookAppSecret = "sandbox-facebook-app-secret"
	ZaloAppID         = "4000000000000000001"
	ZaloAppSecret     = "sandbox-zalo-app-secret"
	VerifyToken       = "sandbox-verify-token"
)

// Account is a platform account the fakes know. The demo campaign
// connects the first of each platform; the others are left for the
// developer to connect from the Integration tab with the credentials here.
type Account struct {
	Platform string // as the GraphQL enum names it
	Name     string
	// Input is what connect<Platform> takes for it, as GraphQL input fields.
	Input map[string]any
	// ExternalID is the platform's id of the account.
	ExternalID string
}

// Accounts are the sandbox's accounts: for each platform the demo's, then
// a spare one.
var Accounts = []Account{
	{"TELEGRAM", "Switchboard Demo Bot", map[string]any{"botToken": telegramToken(1)}, "7000000001"},
	{"TELEGRAM", "Switchboard Spare Bot", map[string]any{"botToken": telegramToken(2)}, "7000000002"},
	{"FACEBOOK", "Switchboard Demo Page", map[string]any{"userAccessToken": facebookUser, "pageIDs": []string{"100000000000001"}}, "100000000000001"},
	{"FACEBOOK", "Switchboard Spare Page", map[string]any{"userAccessToken": facebookUser, "pageIDs": []string{"100000000000002"}}, "100000000000002"},
	{"WHATSAPP", "Switchboard Demo WhatsApp", map[string]any{"phoneNumberID": "200000000000001", "accessToken": "sandbox-whatsapp-token-1"}, "200000000000001"},
	{"WHATSAPP", "Switchboard Spare WhatsApp", map[string]any{"phoneNumberID": "200000000000002", "accessToken": "sandbox-whatsapp-token-2"}, "200000000000002"},
	{"ZALO", "Switchboard Demo OA", map[string]any{"oaSecretKey": "sandbox-zalo-oa-secret-1"}, "3000000000000000001"},
	{"ZALO", "Switchboard Spare OA", map[string]any{"oaSecretKey": "sandbox-zalo-oa-secret-2"}, "3000000000000000002"},
}

// accountKey names an account across platforms; ours reports one of Accounts.
func accountKey(platform, externalID string) string { return platform + "/" + externalID }

func ours(platform, externalID string) bool {
	return slices.ContainsFunc(Accounts, func(a Account) bool { return a.Platform == platform && a.ExternalID == externalID })
}

// facebookUser is the Facebook Login token of the user who manages both
// pages; connectFacebook exchanges it for a long-lived one, as in production.
const facebookUser = "sandbox-facebook-user"

func telegramToken(n int) string {
	return fmt.Sprintf("700000000%d:AAsandbox-%d%s", n, n, strings.Repeat("x", 25))
}

// Sandbox is the fakes, seeded with Accounts.
type Sandbox struct {
	Telegram *telegramtest.Server
	Graph    *graphtest.Server
	Zalo     *zalotest.Server
	mux      *http.ServeMux
}

// Configure points cfg's platform clients at the fakes served under base
// (the server's own address, as the server itself reaches it) and fills
// the app ids and secrets the environment left empty. It refuses
// production.
func Configure(cfg *config.Config, base string) error {
	if err := Allowed(cfg); err != nil {
		return err
	}
	p := &cfg.Platforms
	p.TelegramAPIURL = base + Prefix + "telegram"
	p.FacebookGraphURL = base + Prefix + "graph"
	p.WhatsAppGraphURL = p.FacebookGraphURL
	p.ZaloOAuthURL = base + Prefix + "zalo"
	p.ZaloOpenAPIURL = p.ZaloOAuthURL
	Secrets(cfg)
	return nil
}

// CheckDatabase refuses a database that holds live connections of real
// accounts: the sandbox points every platform at its fakes, where those
// connections' checks, sends and renewals would fail and leave them in
// ERROR for the server that really serves them.
func CheckDatabase(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT id, platform, external_id FROM connections WHERE status <> 'INACTIVE'`)
	if err != nil {
		return fmt.Errorf("sandbox: reading the connections: %w", err)
	}
	defer rows.Close()
	var real []string
	for rows.Next() {
		var id, p, ext string
		if err := rows.Scan(&id, &p, &ext); err != nil {
			return err
		}
		if !ours(p, ext) {
			real = append(real, p+" "+id)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(real) > 0 {
		return fmt.Errorf("sandbox: this database has live connections of real accounts (%s): the sandbox would point "+
			"them at fake platforms, where their checks would fail and leave them in ERROR; run the sandbox on a "+
			"database of its own (DATABASE_URL), or disconnect them first", strings.Join(real, ", "))
	}
	return nil
}

// Allowed refuses ENV=production: the sandbox's secrets are public.
func Allowed(cfg *config.Config) error {
	if cfg.Env == "production" {
		return errors.New("the sandbox serves fake platforms with public secrets: it is not available with ENV=production")
	}
	return nil
}

// Secrets fills the app ids, secrets and verify tokens the environment
// left empty with the sandbox's, in development only. The simulator calls
// it too, so that it signs what a sandbox server checks.
func Secrets(cfg *config.Config) {
	if cfg.Env == "production" {
		return
	}
	p := &cfg.Platforms
	fill := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	fill(&p.FacebookAppID, FacebookAppID)
	fill(&p.FacebookAppSecret, FacebookAppSecret)
	fill(&p.WhatsAppAppSecret, p.FacebookAppSecret)
	fill(&p.ZaloAppID, ZaloAppID)
	fill(&p.ZaloAppSecret, ZaloAppSecret)
	fill(&p.FacebookVerifyToken, VerifyToken)
	fill(&p.WhatsAppVerifyToken, VerifyToken)
}

// New makes the fakes for cfg (after Configure) and seeds them with
// Accounts. Zalo's token pairs are minted afresh on each start, as a new
// authorization would; Setup gives them to the connections.
func New(cfg *config.Config) *Sandbox {
	p := cfg.Platforms
	s := &Sandbox{
		Telegram: telegramtest.New(),
		Graph:    graphtest.New(p.FacebookGraphURL, p.FacebookAppID, p.FacebookAppSecret),
		Zalo:     zalotest.New(p.ZaloAppID, p.ZaloAppSecret),
	}
	// The developer's PUBLIC_URL is http://localhost:…, which Telegram
	// would refuse; the fake never calls it, the simulator does.
	s.Telegram.AcceptAnyWebhookURL()
	var pages []graphtest.FakePage
	for _, a := range Accounts {
		switch a.Platform {
		case "TELEGRAM":
			s.Telegram.AddBot(a.Input["botToken"].(string), telegram.User{IsBot: true, FirstName: a.Name,
				Username: strings.ToLower(strings.ReplaceAll(a.Name, " ", "_"))})
		case "FACEBOOK":
			pages = append(pages, graphtest.FakePage{ID: a.ExternalID, Name: a.Name, Token: "sandbox-page-token-" + a.ExternalID,
				Followers: 1200, Tasks: []string{"MESSAGING", "MODERATE", "MANAGE"}, Scopes: pageScopes})
		case "WHATSAPP":
			s.Graph.AddPhoneNumber(a.ExternalID, a.Input["accessToken"].(string), "+84 90 000 00"+a.ExternalID[len(a.ExternalID)-2:], a.Name)
		}
	}
	s.Graph.AddUser(facebookUser, facebookUser+"-long", 60*24*3600, pages...)
	// Facebook and Zalo webhooks carry no name: Switchboard reads the
	// customer's profile, which the simulator cannot create.
	s.Graph.InventProfiles(func(id string) (string, string) {
		family, given := customerName(id)
		return given, family
	})
	s.Zalo.InventUsers(func(id string) string {
		family, given := customerName(id)
		return family + " " + given
	})
	s.mux = http.NewServeMux()
	s.mux.Handle(Prefix+"telegram/", http.StripPrefix(Prefix+"telegram", s.Telegram.Handler()))
	s.mux.Handle(Prefix+"graph/", http.StripPrefix(Prefix+"graph", s.Graph.Handler()))
	s.mux.Handle(Prefix+"zalo/", http.StripPrefix(Prefix+"zalo", s.Zalo.Handler()))
	return s
}

// customerName is a Vietnamese name that is always the same for id.
func customerName(id string) (family, given string) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	n := h.Sum32()
	families := []string{"Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi"}
	givens := []string{"Thị Lan", "Văn Minh", "Thu Hà", "Quốc Bảo", "Ngọc Anh", "Đức Huy", "Mai Phương", "Hoài Nam"}
	return families[n%uint32(len(families))], givens[(n/8)%uint32(len(givens))]
}

// pageScopes are what the fake's debug_token reports for the pages'
// tokens: what a Messenger connection needs.
var pageScopes = []string{"pages_messaging", "pages_read_engagement", "pages_manage_metadata", "pages_show_list"}

// zaloOA is the OA of a Zalo account, as getoa describes it.
func zaloOA(a Account) zalo.OA { return zalo.OA{ID: a.ExternalID, Name: a.Name} }

// Mount serves the fakes under Prefix and everything else with next.
func (s *Sandbox) Mount(next http.Handler) http.Handler {
	root := http.NewServeMux()
	root.Handle(Prefix, s.mux)
	root.Handle("/", next)
	return root
}

// Base is the URL the server reaches itself at through ln: its loopback
// address when it listens on every interface.
func Base(ln net.Listener) string {
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
}
