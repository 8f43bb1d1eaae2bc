package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/switchboard-chat/switchboard/accounts"
	"github.com/switchboard-chat/switchboard/app"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/campaigns"
	"github.com/switchboard-chat/switchboard/connections"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/campaign"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/user"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/facebook"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/platform/whatsapp"
	"github.com/switchboard-chat/switchboard/platform/zalo"
)

// CampaignName names the demo campaign; Setup finds it again by this name.
const CampaignName = "Sandbox demo"

// Demo is what Setup left connected.
type Demo struct {
	Campaign *ent.Campaign
	// Connections are the demo campaign's, one per platform, in Accounts' order.
	Connections []*ent.Connection
	// Admin is the administrator the sandbox acted as, Token a session of theirs.
	Admin, Token string
	// Spare are the accounts left to connect, with what connect<Platform>
	// takes for each (Zalo's token pair minted for this run).
	Spare []Account
}

// Setup connects the demo campaign (creating it on the first run) as the
// first administrator, BOOTSTRAP_ADMIN_EMAIL when set. The fakes forget
// everything when the server stops, so on later runs it hands them the
// connections of sandbox accounts again, as reconnecting does in
// production: webhooks registered anew, and Zalo's fresh token pairs stored.
func (s *Sandbox) Setup(ctx context.Context, a *app.App) (*Demo, error) {
	sess, err := admin(ctx, a)
	if err != nil {
		return nil, err
	}
	v, err := a.Accounts.Authenticate(ctx, sess.Token)
	if err != nil {
		return nil, err
	}
	ctx = auth.WithViewer(ctx, v)
	d := &Demo{Admin: sess.User.Email, Token: sess.Token}

	pairs := map[string][2]string{} // Zalo OA id -> access, refresh
	for _, acct := range Accounts {
		if acct.Platform == "ZALO" {
			access, refresh := s.Zalo.AddOA(zaloOA(acct), "", "")
			pairs[acct.ExternalID] = [2]string{access, refresh}
		}
	}
	live, err := liveConnections(ctx, a.Client)
	if err != nil {
		return nil, err
	}
	for _, c := range live {
		if err := restore(ctx, a.Connections, c, pairs[c.ExternalID]); err != nil {
			return nil, fmt.Errorf("sandbox: reconnecting %s connection %s: %w", c.Platform, c.ID, err)
		}
	}

	if d.Campaign, err = demoCampaign(ctx, a.Client); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, acct := range Accounts {
		key := accountKey(acct.Platform, acct.ExternalID)
		if seen[acct.Platform] {
			if live[key] == nil {
				spare := acct
				if p, ok := pairs[acct.ExternalID]; ok {
					spare.Input = map[string]any{"oaSecretKey": acct.Input["oaSecretKey"], "accessToken": p[0], "refreshToken": p[1]}
				}
				d.Spare = append(d.Spare, spare)
			}
			continue
		}
		seen[acct.Platform] = true
		c := live[key]
		if c == nil {
			conns, err := a.Connections.Connect(ctx, connectInput(d.Campaign.ID, acct, pairs[acct.ExternalID]))
			if err != nil {
				return nil, fmt.Errorf("sandbox: connecting the demo %s account: %w", acct.Platform, err)
			}
			c = conns[0]
		}
		d.Connections = append(d.Connections, c)
	}
	return d, nil
}

// admin opens a session of the administrator the sandbox acts as.
func admin(ctx context.Context, a *app.App) (*accounts.Session, error) {
	email := a.Config.BootstrapEmail
	if email == "" {
		u, err := a.Client.User.Query().Where(user.RoleEQ(user.RoleADMIN), user.DeactivatedAtIsNil()).Order(ent.Asc(user.FieldCreatedAt)).First(privacy.DecisionContext(ctx, privacy.Allow))
		if ent.IsNotFound(err) {
			return nil, errors.New("sandbox: there is no administrator to act as: set BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD (make sandbox does)")
		}
		if err != nil {
			return nil, err
		}
		email = u.Email
	}
	return a.Accounts.SessionFor(ctx, email)
}

// liveConnections are the connections of sandbox accounts that are not
// disconnected, in any campaign, by platform and external id.
func liveConnections(ctx context.Context, client *ent.Client) (map[string]*ent.Connection, error) {
	var ids []string
	for _, acct := range Accounts {
		ids = append(ids, acct.ExternalID)
	}
	conns, err := client.Connection.Query().
		Where(connection.ExternalIDIn(ids...), connection.StatusNEQ(connection.StatusINACTIVE)).
		All(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]*ent.Connection{}
	for _, c := range conns {
		if ours(string(c.Platform), c.ExternalID) {
			out[accountKey(string(c.Platform), c.ExternalID)] = c
		}
	}
	return out, nil
}

// restore hands a connection to the fakes again.
func restore(ctx context.Context, cs *connections.Service, c *ent.Connection, zaloPair [2]string) error {
	if c.Platform == schematype.PlatformZalo {
		up := connections.UpdateInput{CredentialsUpdate: platform.CredentialsUpdate{AccessToken: &zaloPair[0], RefreshToken: &zaloPair[1]}}
		if _, err := cs.Update(ctx, c.ID, up); err != nil {
			return err
		}
	}
	rc, err := cs.Reconnect(ctx, c.ID)
	if err != nil {
		return err
	}
	if rc.Status == connection.StatusERROR {
		return fmt.Errorf("%s", rc.StatusReason)
	}
	return nil
}

func demoCampaign(ctx context.Context, client *ent.Client) (*ent.Campaign, error) {
	c, err := client.Campaign.Query().Where(campaign.Name(CampaignName), campaign.ArchivedAtIsNil()).
		Order(ent.Asc(campaign.FieldCreatedAt)).First(ctx)
	if !ent.IsNotFound(err) {
		return c, err
	}
	desc := "Connected by `switchboard sandbox` to the platform fakes: try sending, receiving (switchboard simulate) and the Integration tab."
	return campaigns.New(client).Create(ctx, ent.CreateCampaignInput{Name: CampaignName, Description: &desc})
}

func connectInput(campaignID pulid.ID, a Account, zaloPair [2]string) platform.ConnectInput {
	switch a.Platform {
	case "TELEGRAM":
		return telegram.ConnectInput{CampaignID: campaignID, BotToken: a.Input["botToken"].(string)}
	case "FACEBOOK":
		return facebook.ConnectInput{CampaignID: campaignID, UserAccessToken: facebookUser, PageIDs: []string{a.ExternalID}}
	case "WHATSAPP":
		return whatsapp.ConnectInput{CampaignID: campaignID, PhoneNumberID: a.ExternalID, AccessToken: a.Input["accessToken"].(string)}
	default:
		return zalo.ConnectInput{CampaignID: campaignID, OASecretKey: a.Input["oaSecretKey"].(string), AccessToken: &zaloPair[0], RefreshToken: &zaloPair[1]}
	}
}

// Print tells the developer what to do next: how to sign in, watch, and
// make a customer write. publicURL is where the developer reaches the server.
func (d *Demo) Print(w io.Writer, publicURL string) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("")
	p("Sandbox: Telegram, Facebook, WhatsApp and Zalo are fakes served by this process under %s%s…; nothing leaves this machine.", publicURL, Prefix)
	p("Demo campaign %q (%s), acting as %s:", d.Campaign.Name, d.Campaign.ID, d.Admin)
	for _, c := range d.Connections {
		p("  %-9s %s  %s", c.Platform, c.ID, c.Name)
	}
	p("")
	headers, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + d.Token})
	q := url.Values{
		"query":   {fmt.Sprintf("subscription Live {\n  messageAdded(campaignID: %q) {\n    text direction createdAt\n    conversation { contact { name } }\n  }\n}", d.Campaign.ID)},
		"headers": {string(headers)},
	}
	p("Watch messages arrive (GraphiQL, signed in; press Run):")
	p("  %s/?%s", publicURL, strings.ReplaceAll(q.Encode(), "+", "%20"))
	p("The token, for curl and your own client (Authorization: Bearer $TOKEN):")
	p("  export TOKEN=%s", d.Token)
	p("")
	p("Make a customer write (another terminal):")
	for _, c := range d.Connections {
		p("  make simulate ARGS='%s --connection %s --from Lan --text \"Xin chào\"'", strings.ToLower(string(c.Platform)), c.ID)
	}
	if len(d.Spare) > 0 {
		p("")
		p("Spare accounts to connect from the Integration tab (connect<Platform> input):")
		for _, a := range d.Spare {
			in, _ := json.Marshal(a.Input)
			p("  %-9s %-26s %s", a.Platform, a.Name, in)
		}
	}
	p("")
}
