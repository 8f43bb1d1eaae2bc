package testapp

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/contact"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ingest"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/facebook"
	"github.com/switchboard-chat/switchboard/platform/graphapi/graphtest"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/platform/whatsapp"
	"github.com/switchboard-chat/switchboard/platform/zalo"
)

// Connecting accounts on the fakes, as an administrator would through the API.

// Admin is the context of an administrator.
func (s *Stack) Admin() context.Context {
	return auth.WithViewer(context.Background(), &auth.Viewer{UserID: "usr_test", Admin: true})
}

// Campaign creates a campaign.
func (s *Stack) Campaign() *ent.Campaign {
	return s.Client.Campaign.Create().SetName("campaign " + testkit.Digits("")).SaveX(testkit.Sys())
}

func (s *Stack) connected(conns []*ent.Connection, err error) *ent.Connection {
	s.T.Helper()
	if err != nil {
		s.T.Fatal(err)
	}
	return conns[0]
}

// TelegramBot connects a fresh bot to a new campaign and returns it with
// its token and the webhook secret Telegram was given.
func (s *Stack) TelegramBot() (conn *ent.Connection, token, secret string) {
	s.T.Helper()
	id := testkit.Digits("5")
	token = id + ":AAH-webhookTest_" + strings.Repeat("q", 30)
	n, _ := strconv.ParseInt(id, 10, 64)
	s.TG.AddBot(token, telegram.User{ID: n, IsBot: true, FirstName: "Hook", Username: "hook_bot"})
	conn = s.connected(s.Connections.Connect(s.Admin(), telegram.ConnectInput{CampaignID: s.Campaign().ID, BotToken: token}))
	return conn, token, s.TG.Webhook(token).SecretToken
}

// PageScopes are the permissions a Messenger connection needs.
var PageScopes = []string{"pages_messaging", "pages_read_engagement", "pages_manage_metadata", "pages_show_list"}

// FacebookPage connects a fresh page to a new campaign.
func (s *Stack) FacebookPage() (*ent.Connection, graphtest.FakePage) {
	s.T.Helper()
	page := NewFacebookPage()
	return s.ConnectFacebookPage(page), page
}

// NewFacebookPage is a fresh page with the permissions Messenger needs, for
// ConnectFacebookPage.
func NewFacebookPage() graphtest.FakePage {
	return graphtest.FakePage{ID: testkit.Digits("68"), Name: "Hook page", Token: "EAAGpage" + testkit.Digits(""), Scopes: PageScopes}
}

// ConnectFacebookPage connects page, through a new user of the fake who
// manages it, to a new campaign.
func (s *Stack) ConnectFacebookPage(page graphtest.FakePage) *ent.Connection {
	s.T.Helper()
	user := "EAAGuser" + testkit.Digits("")
	s.Meta.AddUser(user, user+"-long", 0, page)
	return s.connected(s.Connections.Connect(s.Admin(), facebook.ConnectInput{CampaignID: s.Campaign().ID, UserAccessToken: user, PageIDs: []string{page.ID}}))
}

// WhatsAppNumber connects a fresh number to a new campaign and returns it with its token.
func (s *Stack) WhatsAppNumber() (*ent.Connection, string) {
	s.T.Helper()
	id, token := testkit.Digits("10"), "EAAGwa"+testkit.Digits("")
	s.Meta.AddPhoneNumber(id, token, "15550783881", "Hook WA")
	return s.connected(s.Connections.Connect(s.Admin(), whatsapp.ConnectInput{CampaignID: s.Campaign().ID, PhoneNumberID: id, AccessToken: token})), token
}

// ZaloOA connects a fresh OA, whose webhooks oaSecret signs, to a new campaign.
func (s *Stack) ZaloOA(oaSecret string) *ent.Connection {
	s.T.Helper()
	return s.ConnectZaloOA(zalo.OA{ID: testkit.Digits("38"), Name: "Hook OA"}, oaSecret)
}

// ConnectZaloOA connects oa (again, if it was before) to a new campaign,
// with a token pair the fake mints for it.
func (s *Stack) ConnectZaloOA(oa zalo.OA, oaSecret string) *ent.Connection {
	s.T.Helper()
	access, refresh := s.Zalo.AddOA(oa, "code", "verifier")
	return s.connected(s.Connections.Connect(s.Admin(), zalo.ConnectInput{CampaignID: s.Campaign().ID, OASecretKey: oaSecret, AccessToken: &access, RefreshToken: &refresh}))
}

// Customer is a conversation of the connection with a customer who wrote
// at: a contact, the conversation and the customer's message.
func (s *Stack) Customer(conn *ent.Connection, externalID string, at time.Time) *ent.Conversation {
	ctx := testkit.Sys()
	ct := s.Client.Contact.Create().SetCampaignID(conn.CampaignID).SetChannel(contact.Channel(conn.Platform)).SetPlatform(conn.Platform).
		SetExternalID(externalID).SetName("Customer " + externalID).SaveX(ctx)
	cv := s.Client.Conversation.Create().SetCampaignID(conn.CampaignID).SetConnectionID(conn.ID).SetContactID(ct.ID).
		SetLastMessageAt(at).SaveX(ctx)
	m := s.Client.Message.Create().SetCampaignID(conn.CampaignID).SetConversationID(cv.ID).SetConnectionID(conn.ID).
		SetDirection("INBOUND").SetText("hello").SetSentAt(at).SetExternalID("in-" + testkit.Digits("")).SetAccount(conn.ExternalID).
		SetPosition(ingest.Position(at, pulid.New("whe"))).SaveX(ctx)
	return s.Client.Conversation.UpdateOne(cv).SetLastMessageID(m.ID).SetUnreadCount(1).SaveX(ctx)
}
