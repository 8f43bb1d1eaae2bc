package connections_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/switchboard-chat/switchboard/connections"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/domainevent"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/internal/testapp"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/facebook"
	"github.com/switchboard-chat/switchboard/platform/telegram"
)

// checking starts the application for health-check tests. Its own checker
// never comes round during a test (CONNECTION_CHECK_INTERVAL is a day): the
// tests call CheckDue. Connections other tests left in the package's
// database are moved out of the way, so a round checks this test's alone.
func checking(t *testing.T) (*testapp.Stack, *connections.Checker) {
	t.Helper()
	s := testapp.Start(t, testapp.Options{Env: map[string]string{
		"ZALO_APP_ID": "360846524940903967", "ZALO_APP_SECRET": "zalo-app-secret",
		"FACEBOOK_APP_ID": "4242", "FACEBOOK_APP_SECRET": "fb-app-secret",
		"PUBLIC_URL": publicURL, "CONNECTION_CHECK_INTERVAL": "24h",
	}})
	s.Client.Connection.Update().SetNextCheckAt(time.Now().AddDate(100, 0, 0)).ExecX(testkit.Sys())
	return s, s.Connections.Checker(time.Hour)
}

// round runs one round of checks and fails unless it checked want connections.
func round(t *testing.T, chk *connections.Checker, want int) {
	t.Helper()
	if n := chk.CheckDue(context.Background()); n != want {
		t.Fatalf("CheckDue checked %d connections, want %d", n, want)
	}
}

// reload reads a connection as stored.
func reload(t *testing.T, s *testapp.Stack, c *ent.Connection) *ent.Connection {
	t.Helper()
	return s.Client.Connection.GetX(testkit.Sys(), c.ID)
}

// due makes a connection due for a check again.
func due(s *testapp.Stack, c *ent.Connection) {
	s.Client.Connection.UpdateOneID(c.ID).ClearNextCheckAt().ExecX(testkit.Sys())
}

// announced counts the connectionUpdated events of a connection in the log.
func announced(s *testapp.Stack, c *ent.Connection) int {
	return s.Client.DomainEvent.Query().
		Where(domainevent.TypeEQ(domainevent.TypeCONNECTION_UPDATED), domainevent.EntityID(c.ID)).
		CountX(testkit.Sys())
}

// telegramBot connects a fresh bot that getMe describes as u.
func telegramBot(t *testing.T, s *testapp.Stack, u telegram.User) (*ent.Connection, string) {
	t.Helper()
	id := testkit.Digits("6")
	token := id + ":AAH-checkerTest_" + strings.Repeat("c", 30)
	u.ID, _ = strconv.ParseInt(id, 10, 64)
	u.IsBot = true
	s.TG.AddBot(token, u)
	conns, err := s.Connections.Connect(s.Admin(), telegram.ConnectInput{CampaignID: s.Campaign().ID, BotToken: token})
	if err != nil {
		t.Fatal(err)
	}
	return conns[0], token
}

// ignoreCheckedAt compares health without the time of the check; a list
// stored empty reads back as nil.
var ignoreCheckedAt = cmp.Options{cmpopts.IgnoreFields(schematype.ConnectionHealth{}, "CheckedAt"), cmpopts.EquateEmpty()}

func ptr[T any](v T) *T { return &v }

// wantUpdates are the update types a Telegram webhook must deliver.
var wantUpdates = []string{"message", "edited_message", "callback_query"}

// A bot whose webhook Telegram dropped is registered again with the same
// URL, secret and update types, the reason says so, and the health is
// what Telegram says after the repair.
func TestCheckerRegistersALostTelegramWebhookAgain(t *testing.T) {
	s, chk := checking(t)
	conn, token := telegramBot(t, s, telegram.User{FirstName: "Lost", Username: "lost_bot"})
	before := s.TG.Webhook(token)
	s.TG.DropWebhook(token)
	s.TG.SetPendingUpdates(token, 3)
	events := announced(s, conn)

	round(t, chk, 1)

	if got := s.TG.Webhook(token); !got.Set || got.URL != before.URL || got.SecretToken != before.SecretToken || !slices.Equal(got.AllowedUpdates, wantUpdates) {
		t.Fatalf("webhook after the check = %+v, want it back as %+v", got, before)
	}
	got := reload(t, s, conn)
	if got.Status != connection.StatusACTIVE || !strings.HasPrefix(got.StatusReason, "the webhook was found unregistered on Telegram and registered again at ") {
		t.Fatalf("status %s %q", got.Status, got.StatusReason)
	}
	want := schematype.ConnectionHealth{TokenValid: ptr(true), WebhookRegistered: ptr(true), WebhookURL: before.URL,
		PendingUpdates: ptr(3), CanReadAllGroupMessages: ptr(false), Commands: []string{}}
	if diff := cmp.Diff(want, got.Health, ignoreCheckedAt); diff != "" {
		t.Errorf("health (-want +got):\n%s", diff)
	}
	if got.Health.CheckedAt.IsZero() || got.LastSyncAt == nil {
		t.Errorf("checkedAt %v, lastSyncAt %v: want both set", got.Health.CheckedAt, got.LastSyncAt)
	}
	if n := announced(s, conn); n <= events {
		t.Errorf("connectionUpdated events %d, %d before the check: want more", n, events)
	}
	round(t, chk, 0) // checked, so not due again before the interval
}

// A bot registered before callback_query was added to the update types
// (by an older release) is registered again with the new list.
func TestCheckerRegistersABotWithOldUpdateTypesAgain(t *testing.T) {
	s, chk := checking(t)
	conn, token := telegramBot(t, s, telegram.User{FirstName: "Old", Username: "old_bot"})
	hook := s.TG.Webhook(token)
	err := telegram.New(s.TG.URL, nil).SetWebhook(context.Background(), token,
		telegram.WebhookParams{URL: hook.URL, SecretToken: hook.SecretToken, AllowedUpdates: []string{"message", "edited_message"}})
	if err != nil {
		t.Fatal(err)
	}
	sets := len(s.TG.Calls("setWebhook"))

	round(t, chk, 1)

	if got := s.TG.Webhook(token); !slices.Equal(got.AllowedUpdates, wantUpdates) || got.URL != hook.URL || got.SecretToken != hook.SecretToken {
		t.Fatalf("webhook after the check = %+v", got)
	}
	if n := len(s.TG.Calls("setWebhook")); n != sets+1 {
		t.Errorf("setWebhook called %d times by the check, want once", n-sets)
	}
	got := reload(t, s, conn)
	if got.Status != connection.StatusACTIVE || !strings.Contains(got.StatusReason, "delivering message, edited_message instead of message, edited_message, callback_query on Telegram and registered again at") {
		t.Fatalf("status %s %q", got.Status, got.StatusReason)
	}

	// Registered as wanted, a second check changes nothing on Telegram.
	due(s, conn)
	round(t, chk, 1)
	if n := len(s.TG.Calls("setWebhook")); n != sets+1 {
		t.Errorf("a healthy bot was registered again")
	}
}

// What Telegram says of a healthy bot is recorded: privacy mode, commands,
// the backlog and the last delivery error; nothing is registered.
func TestCheckerRecordsTelegramHealth(t *testing.T) {
	s, chk := checking(t)
	conn, token := telegramBot(t, s, telegram.User{FirstName: "Busy", Username: "busy_bot", CanReadAllGroupMessages: true})
	s.TG.SetCommands(token, telegram.BotCommand{Command: "start", Description: "Start"}, telegram.BotCommand{Command: "help", Description: "Help"})
	s.TG.SetPendingUpdates(token, 7)
	failedAt := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	s.TG.SetLastError(token, failedAt, "Wrong response from the webhook: 502 Bad Gateway")
	sets := len(s.TG.Calls("setWebhook"))

	round(t, chk, 1)

	got := reload(t, s, conn)
	want := schematype.ConnectionHealth{TokenValid: ptr(true), WebhookRegistered: ptr(true), WebhookURL: s.TG.Webhook(token).URL,
		PendingUpdates: ptr(7), PlatformError: "Wrong response from the webhook: 502 Bad Gateway", PlatformErrorAt: &failedAt,
		CanReadAllGroupMessages: ptr(true), Commands: []string{"/start", "/help"}}
	if diff := cmp.Diff(want, got.Health, ignoreCheckedAt); diff != "" {
		t.Errorf("health (-want +got):\n%s", diff)
	}
	if got.Status != connection.StatusACTIVE || got.StatusReason != "" || got.LastSyncAt == nil {
		t.Errorf("status %s %q, lastSyncAt %v", got.Status, got.StatusReason, got.LastSyncAt)
	}
	if n := len(s.TG.Calls("setWebhook")); n != sets {
		t.Errorf("a healthy bot's webhook was set again")
	}
}

// A token Telegram answers 401 for puts the connection into ERROR with
// Telegram's reason, and is recorded as rejected.
func TestCheckerMarksARevokedTelegramTokenError(t *testing.T) {
	s, chk := checking(t)
	conn, token := telegramBot(t, s, telegram.User{FirstName: "Revoked"})
	s.TG.RevokeBot(token)
	events := announced(s, conn)

	round(t, chk, 1)

	got := reload(t, s, conn)
	if got.Status != connection.StatusERROR || !strings.Contains(got.StatusReason, "Telegram rejected the credentials (Unauthorized)") {
		t.Fatalf("status %s %q", got.Status, got.StatusReason)
	}
	if got.Health.TokenValid == nil || *got.Health.TokenValid || got.Health.CheckedAt.IsZero() || got.LastSyncAt != nil {
		t.Errorf("health %+v, lastSyncAt %v: want the token rejected and no successful check", got.Health, got.LastSyncAt)
	}
	if n := announced(s, conn); n <= events {
		t.Errorf("no connectionUpdated event for the move to ERROR")
	}
}

// Telegram out of reach (a 5xx) proves nothing about the token: the
// connection stays ACTIVE, the health says it could not tell, and the
// last successful check stays where it was.
func TestCheckerLeavesAConnectionAloneWhenThePlatformIsDown(t *testing.T) {
	s, chk := checking(t)
	conn, _ := telegramBot(t, s, telegram.User{FirstName: "Calm"})
	round(t, chk, 1)
	synced := reload(t, s, conn).LastSyncAt
	s.TG.FailNext("getMe", 502, 502, "Bad Gateway", 0)
	due(s, conn)

	round(t, chk, 1)

	got := reload(t, s, conn)
	if got.Status != connection.StatusACTIVE || got.Health.TokenValid != nil || synced == nil || !got.LastSyncAt.Equal(*synced) {
		t.Fatalf("status %s, tokenValid %v, lastSyncAt %v (was %v)", got.Status, got.Health.TokenValid, got.LastSyncAt, synced)
	}
}

// Meta dropping our app from a page (or a subscription missing fields)
// is repaired by subscribing again; the permissions are recorded.
func TestCheckerSubscribesAFacebookPageAgain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(s *testapp.Stack, pageID string)
		found  string
	}{
		{"unsubscribed", func(s *testapp.Stack, pageID string) { s.Meta.Unsubscribe(pageID) },
			"the app was found unsubscribed from the page on Facebook and registered again at "},
		{"fields missing", func(s *testapp.Stack, pageID string) { s.Meta.SetSubscription(pageID, "messages", "message_echoes") },
			"the page's subscription was found without messaging_postbacks, message_deliveries, message_reads on Facebook and registered again at "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, chk := checking(t)
			conn, page := s.FacebookPage()
			tc.damage(s, page.ID)
			events := announced(s, conn)

			round(t, chk, 1)

			if got := s.Meta.Subscriptions(page.ID); !sameSet(got, facebook.MessengerFields) {
				t.Fatalf("subscribed fields %v, want %v", got, facebook.MessengerFields)
			}
			got := reload(t, s, conn)
			if got.Status != connection.StatusACTIVE || !strings.HasPrefix(got.StatusReason, tc.found) {
				t.Fatalf("status %s %q", got.Status, got.StatusReason)
			}
			want := schematype.ConnectionHealth{TokenValid: ptr(true), WebhookRegistered: ptr(true), Permissions: facebook.RequiredPermissions}
			if diff := cmp.Diff(want, got.Health, ignoreCheckedAt); diff != "" {
				t.Errorf("health (-want +got):\n%s", diff)
			}
			if got.LastSyncAt == nil || announced(s, conn) <= events {
				t.Errorf("lastSyncAt %v, events %d (before %d)", got.LastSyncAt, announced(s, conn), events)
			}
		})
	}
}

// A permission taken away is recorded and reported, and the connection is
// left as it is: messaging may still work, and reconnecting is a person's
// decision.
func TestCheckerRecordsARevokedFacebookPermission(t *testing.T) {
	s, chk := checking(t)
	conn, page := s.FacebookPage()
	s.Meta.RevokeScope(page.ID, "pages_messaging")

	round(t, chk, 1)

	got := reload(t, s, conn)
	if !slices.Equal(got.Health.Permissions, []string{"pages_read_engagement", "pages_manage_metadata", "pages_show_list"}) || got.Status != connection.StatusACTIVE {
		t.Fatalf("permissions %v, status %s", got.Health.Permissions, got.Status)
	}
	res, err := s.Connections.Test(s.Admin(), conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || !hasCheck(res.Checks, "permissions", false, "missing pages_messaging") {
		t.Fatalf("test = %+v", res)
	}
}

// A page token Graph holds invalid (code 190) puts the connection into
// ERROR with Graph's reason.
func TestCheckerMarksAnExpiredPageTokenError(t *testing.T) {
	s, chk := checking(t)
	conn, page := s.FacebookPage()
	s.Meta.ExpireToken(page.Token)
	events := announced(s, conn)

	round(t, chk, 1)

	got := reload(t, s, conn)
	if got.Status != connection.StatusERROR || !strings.Contains(got.StatusReason, "Facebook rejected the credentials (Error validating access token: Session has expired.)") {
		t.Fatalf("status %s %q", got.Status, got.StatusReason)
	}
	if got.Health.TokenValid == nil || *got.Health.TokenValid || announced(s, conn) <= events {
		t.Errorf("health %+v, events %d (before %d)", got.Health, announced(s, conn), events)
	}
}

// A WhatsApp number's quality rating and messaging limit are recorded; a
// token Graph rejects puts the connection into ERROR.
func TestCheckerWhatsApp(t *testing.T) {
	s, chk := checking(t)
	conn, token := s.WhatsAppNumber()
	s.Meta.SetPhoneHealth(conn.ExternalID, "YELLOW", "TIER_2K")

	round(t, chk, 1)

	got := reload(t, s, conn)
	want := schematype.ConnectionHealth{TokenValid: ptr(true), QualityRating: "YELLOW", MessagingLimitTier: "TIER_2K"}
	if diff := cmp.Diff(want, got.Health, ignoreCheckedAt); diff != "" {
		t.Errorf("health (-want +got):\n%s", diff)
	}

	s.Meta.ExpireToken(token)
	due(s, conn)
	round(t, chk, 1)
	if got := reload(t, s, conn); got.Status != connection.StatusERROR || !strings.Contains(got.StatusReason, "WhatsApp rejected the credentials") {
		t.Fatalf("status %s %q", got.Status, got.StatusReason)
	}
}

// Zalo: a -216 is first answered by renewing the token; only when Zalo
// also refuses the renewal does the connection go to ERROR.
func TestCheckerZaloRenewsBeforeCallingATokenDead(t *testing.T) {
	s, chk := checking(t)
	conn := s.ZaloOA("oa-secret")
	access, _ := s.Zalo.CurrentPair(conn.ExternalID)
	s.Zalo.ExpireAccessToken(access)
	renewals := s.Zalo.Refreshes()

	round(t, chk, 1)

	got := reload(t, s, conn)
	if got.Status != connection.StatusACTIVE || s.Zalo.Refreshes() != renewals+1 || got.LastSyncAt == nil ||
		got.Health.TokenValid == nil || !*got.Health.TokenValid || got.Health.TokenExpiresAt == nil || !got.Health.TokenExpiresAt.Equal(*got.TokenExpiresAt) {
		t.Fatalf("after a renewal: status %s, %d renewals, lastSyncAt %v, health %+v", got.Status, s.Zalo.Refreshes()-renewals, got.LastSyncAt, got.Health)
	}

	access, refresh := s.Zalo.CurrentPair(conn.ExternalID)
	s.Zalo.ExpireAccessToken(access)
	s.Zalo.RevokeRefreshToken(refresh)
	events := announced(s, conn)
	due(s, conn)
	round(t, chk, 1)

	got = reload(t, s, conn)
	if got.Status != connection.StatusERROR || !strings.Contains(got.StatusReason, "Zalo refused to renew the access token") {
		t.Fatalf("status %s %q", got.Status, got.StatusReason)
	}
	if got.Health.TokenValid == nil || *got.Health.TokenValid || announced(s, conn) <= events {
		t.Errorf("health %+v, events %d (before %d)", got.Health, announced(s, conn), events)
	}
}

// Two checkers (two replicas) running at once check each connection
// once: a claim is exclusive.
func TestCheckerClaimsAreExclusive(t *testing.T) {
	s, _ := checking(t)
	const bots = 25 // more than one claim takes
	for range bots {
		telegramBot(t, s, telegram.User{FirstName: "Many"})
	}
	before := len(s.TG.Calls("getMyCommands"))
	a, b := s.Connections.Checker(time.Hour), s.Connections.Checker(time.Hour)
	var wg sync.WaitGroup
	var na, nb int
	start := make(chan struct{})
	wg.Go(func() { <-start; na = a.CheckDue(context.Background()) })
	wg.Go(func() { <-start; nb = b.CheckDue(context.Background()) })
	close(start)
	wg.Wait()
	if na+nb != bots {
		t.Errorf("the checkers checked %d and %d connections, want %d in all", na, nb, bots)
	}
	if n := len(s.TG.Calls("getMyCommands")) - before; n != bots {
		t.Errorf("Telegram was asked %d times for %d bots, want once each", n, bots)
	}
}

// testConnection is the same check, run now: it records the health and
// repairs the webhook, and still reports its lines.
func TestTestConnectionRecordsTheCheck(t *testing.T) {
	s, _ := checking(t)
	conn, token := telegramBot(t, s, telegram.User{FirstName: "Tested", Username: "tested_bot"})
	s.TG.DropWebhook(token)

	res, err := s.Connections.Test(s.Admin(), conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || !hasCheck(res.Checks, "connection status", true, "registered again") || !hasCheck(res.Checks, "webhook registered again", true, "found unregistered") ||
		!hasCheck(res.Checks, "webhook registered", true, "") || !hasCheck(res.Checks, "token valid", true, "@tested_bot") {
		t.Fatalf("test = %+v", res)
	}
	got := reload(t, s, conn)
	if got.Health.CheckedAt.IsZero() || got.LastSyncAt == nil || got.Health.WebhookRegistered == nil || !*got.Health.WebhookRegistered || !s.TG.Webhook(token).Set {
		t.Fatalf("health %+v, lastSyncAt %v", got.Health, got.LastSyncAt)
	}

	s.TG.RevokeBot(token)
	res, err = s.Connections.Test(s.Admin(), conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || !hasCheck(res.Checks, "connection status", false, "Telegram rejected") || !hasCheck(res.Checks, "token valid", false, "Unauthorized") {
		t.Fatalf("test of a revoked bot = %+v", res)
	}
	if got := reload(t, s, conn); got.Status != connection.StatusERROR || *got.Health.TokenValid {
		t.Fatalf("status %s, health %+v", got.Status, got.Health)
	}
}

func hasCheck(checks []platform.Check, name string, ok bool, detail string) bool {
	return slices.ContainsFunc(checks, func(c platform.Check) bool {
		return c.Name == name && c.OK == ok && strings.Contains(c.Detail, detail)
	})
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
