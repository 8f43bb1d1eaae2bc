package facebook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/inbound"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
)

// Channel is Messenger for Switchboard: pages connected through Facebook
// Login, our Meta app subscribed to each page, webhooks signed with the app
// secret at one URL.
type Channel struct {
	graphapi.AppWebhook
	api *Client
}

// NewChannel returns the Messenger channel; verifyToken answers Meta's
// subscription handshake.
func NewChannel(api *Client, verifyToken string) *Channel {
	return &Channel{api: api, AppWebhook: graphapi.AppWebhook{Secret: api.appSecret, VerifyToken: verifyToken}}
}

var (
	_ platform.Channel        = (*Channel)(nil)
	_ platform.AppSigned      = (*Channel)(nil)
	_ platform.ProfileFetcher = (*Channel)(nil)
	_ platform.Sender         = (*Channel)(nil)
	_ platform.SeenMarker     = (*Channel)(nil)
)

// Credentials are a page's secrets. The JSON names are the stored format.
type Credentials struct {
	PageAccessToken    string     `json:"pageAccessToken,omitempty"`
	UserAccessToken    string     `json:"userAccessToken,omitempty"`
	UserTokenExpiresAt *time.Time `json:"userTokenExpiresAt,omitempty"`
}

// Token is the page token.
func (c *Credentials) Token() string { return c.PageAccessToken }

// WebhookKey is empty: the app secret signs Messenger webhooks.
func (c *Credentials) WebhookKey() string { return "" }

func creds(a platform.Account) *Credentials { return a.Credentials.(*Credentials) }

// ConnectInput is connectFacebook's input.
type ConnectInput struct {
	CampaignID      pulid.ID
	UserAccessToken string
	PageIDs         []string
}

// Platform is Facebook.
func (ConnectInput) Platform() schematype.Platform { return schematype.PlatformFacebook }

// Campaign is the campaign to connect the pages to.
func (in ConnectInput) Campaign() pulid.ID { return in.CampaignID }

// Platform is Facebook.
func (*Channel) Platform() schematype.Platform { return schematype.PlatformFacebook }

// Title is "Facebook".
func (*Channel) Title() string { return "Facebook" }

// NewCredentials returns empty page credentials.
func (*Channel) NewCredentials() platform.Credentials { return &Credentials{} }

// WebhookPath is the app's one Messenger URL.
func (*Channel) WebhookPath(pulid.ID) string { return "/webhooks/facebook" }

// Split cuts the body into messaging items.
func (*Channel) Split(body []byte) ([]inbound.Fragment, error) { return Split(body) }

// Decode decodes a journaled messaging item.
func (*Channel) Decode(raw []byte) (*inbound.Event, error) { return Decode(raw) }

// Ack is what Meta's documentation answers page webhooks with.
func (*Channel) Ack() string { return "EVENT_RECEIVED" }

// TestEvent is a synthetic page event signed with the app secret.
func (ch *Channel) TestEvent(acct platform.Account, nonce string) ([]byte, http.Header) {
	body := TestEvent(acct.ExternalID, nonce)
	return body, ch.SignedTest(body)
}

const rejectedUser = "Facebook rejected the user access token"

// Pages lists the pages a Facebook user manages, for the page chooser.
func (ch *Channel) Pages(ctx context.Context, userToken string) ([]Page, error) {
	if strings.TrimSpace(userToken) == "" {
		return nil, apperr.Input("userAccessToken", "must not be empty")
	}
	pages, err := ch.api.Pages(ctx, strings.TrimSpace(userToken))
	if err != nil {
		return nil, platform.UserError(err, "userAccessToken", rejectedUser)
	}
	return pages, nil
}

// Connect exchanges the user's token for a long-lived one, takes each chosen
// page's token and checks its permissions; registering subscribes our app
// to every page, all or none.
func (ch *Channel) Connect(ctx context.Context, in platform.ConnectInput) (*platform.Plan, error) {
	input := in.(ConnectInput)
	userToken := strings.TrimSpace(input.UserAccessToken)
	if userToken == "" {
		return nil, apperr.Input("userAccessToken", "must not be empty")
	}
	if len(input.PageIDs) == 0 {
		return nil, apperr.Input("pageIDs", "choose at least one page")
	}
	longToken, expiresAt, err := ch.api.ExchangeUserToken(ctx, userToken)
	if err != nil {
		return nil, platform.UserError(err, "userAccessToken", rejectedUser)
	}
	pages, err := ch.api.Pages(ctx, longToken)
	if err != nil {
		return nil, platform.UserError(err, "userAccessToken", rejectedUser)
	}
	byID := map[string]Page{}
	for _, p := range pages {
		byID[p.ID] = p
	}
	plan := &platform.Plan{}
	var chosen []Page
	seen := map[string]bool{}
	for _, pid := range input.PageIDs {
		pid = strings.TrimSpace(pid)
		if seen[pid] {
			continue
		}
		seen[pid] = true
		page, ok := byID[pid]
		if !ok {
			return nil, apperr.Input("pageIDs", "Page not found in list: %s is not among the pages this Facebook user manages", pid)
		}
		if err := ch.checkPagePermissions(ctx, page); err != nil {
			return nil, err
		}
		c := &Credentials{PageAccessToken: page.AccessToken, UserAccessToken: longToken}
		if !expiresAt.IsZero() {
			c.UserTokenExpiresAt = &expiresAt
		}
		// A page token taken from a long-lived user token does not expire.
		plan.Accounts = append(plan.Accounts, platform.NewAccount{ExternalID: page.ID, Name: page.Name, Credentials: c,
			Title: fmt.Sprintf("Facebook page %q", page.Name)})
		chosen = append(chosen, page)
	}
	plan.Register = func(ctx context.Context, _ []platform.Account) (platform.Undo, error) {
		var done []Page
		undo := func() error {
			ctx, cancel := platform.UndoContext()
			defer cancel()
			var errs []error
			for _, p := range done {
				errs = append(errs, ch.api.UnsubscribeApp(ctx, p.ID, p.AccessToken))
			}
			return errors.Join(errs...)
		}
		for _, p := range chosen {
			if err := ch.api.SubscribeApp(ctx, p.ID, p.AccessToken, MessengerFields); err != nil {
				return undo, platform.WebhookFailed(platform.UserError(err, "pageIDs", fmt.Sprintf("Facebook refused to subscribe the app to page %q (missing permissions?)", p.Name)))
			}
			done = append(done, p)
		}
		return undo, nil
	}
	return plan, nil
}

// invalidToken is how debug_token's is_valid:false reaches the callers
// that put a connection into ERROR: an Auth error carrying Graph's own
// reason (data.error) when it gives one.
func invalidToken(info *TokenInfo) error {
	e := &platform.Error{Platform: platformName, Op: "GET /debug_token", Kind: platform.Auth,
		Message: "the page token is invalid or expired; connect the page again with a fresh login"}
	if info.Error != nil && info.Error.Message != "" {
		e.Code, e.Subcode, e.Message = info.Error.Code, info.Error.Subcode, info.Error.Message
	}
	return e
}

// checkPagePermissions makes sure the page token carries what Messenger needs.
func (ch *Channel) checkPagePermissions(ctx context.Context, page Page) error {
	info, err := ch.api.DebugToken(ctx, page.AccessToken)
	if err != nil {
		return platform.UserError(err, "userAccessToken", "Facebook rejected the page token")
	}
	if !info.Valid {
		return apperr.Input("userAccessToken", "the token of page %q is not valid: log in to Facebook again", page.Name)
	}
	if missing := missingScopes(info.Scopes); len(missing) > 0 {
		return apperr.Input("userAccessToken", "missing permissions for page %q: %s; grant them when logging in with Facebook", page.Name, strings.Join(missing, ", "))
	}
	return nil
}

func missingScopes(have []string) []string {
	var missing []string
	for _, p := range RequiredPermissions {
		if !slices.Contains(have, p) {
			missing = append(missing, p)
		}
	}
	return missing
}

// Check asks Graph about the page: whether its token is still valid
// (debug_token, with the app's token), whether the permissions the
// connection needs are still granted, and whether our app is still
// subscribed to the page's Messenger fields (Meta unsubscribes an app whose
// webhook kept failing).
func (ch *Channel) Check(ctx context.Context, acct platform.Account) (*platform.Report, error) {
	c := creds(acct)
	r := &platform.Report{}
	h := &r.Health
	info, err := ch.api.DebugToken(ctx, c.PageAccessToken)
	if err != nil {
		// Asked with the app's token, so this says nothing of the page's.
		return r.Fail("token valid", err)
	}
	if !info.Valid {
		h.TokenValid = platform.Verdict(false)
		rejected := invalidToken(info)
		r.Add(platform.Check{Name: "token valid", OK: false, Detail: "Facebook reports the page token invalid (" + platformMessage(rejected) + "): reconnect the page"})
		return r, rejected
	}
	h.TokenValid = platform.Verdict(true)
	detail := "page token valid, no expiry"
	if !info.ExpiresAt.IsZero() {
		exp := info.ExpiresAt.UTC()
		h.TokenExpiresAt = &exp
		detail = "page token valid until " + exp.Format(time.RFC3339)
	}
	r.Add(platform.Check{Name: "token valid", OK: true, Detail: detail})
	h.Permissions = []string{}
	for _, p := range RequiredPermissions {
		if slices.Contains(info.Scopes, p) {
			h.Permissions = append(h.Permissions, p)
		}
	}
	if missing := missingScopes(info.Scopes); len(missing) > 0 {
		r.Add(platform.Check{Name: "permissions", OK: false, Detail: "missing " + strings.Join(missing, ", ")})
	} else {
		r.Add(platform.Check{Name: "permissions", OK: true, Detail: strings.Join(RequiredPermissions, ", ")})
	}

	apps, err := ch.api.SubscribedApps(ctx, acct.ExternalID, c.PageAccessToken)
	if err != nil {
		var pe *platform.Error
		if errors.As(err, &pe) && (pe.Code == 190 || pe.Code == 102) {
			// The page's own token, refused: debug_token was behind.
			h.TokenValid = platform.Verdict(false)
		}
		return r.Fail("webhook subscribed", err)
	}
	i := slices.IndexFunc(apps, func(a SubscribedApp) bool { return ch.api.appID == "" || a.ID == ch.api.appID })
	if i < 0 {
		h.WebhookRegistered = platform.Verdict(false)
		r.Add(platform.Check{Name: "webhook subscribed", OK: false, Detail: "the app is not subscribed to the page: reconnect to subscribe it"})
		r.Reregister = "the app was found unsubscribed from the page on Facebook"
		return r, nil
	}
	var missing []string
	for _, f := range MessengerFields {
		if !slices.Contains(apps[i].SubscribedFields, f) {
			missing = append(missing, f)
		}
	}
	h.WebhookRegistered = platform.Verdict(len(missing) == 0)
	if len(missing) > 0 {
		r.Add(platform.Check{Name: "webhook subscribed", OK: false, Detail: "subscribed without " + strings.Join(missing, ", ") + ": reconnect to fix"})
		r.Reregister = "the page's subscription was found without " + strings.Join(missing, ", ") + " on Facebook"
		return r, nil
	}
	r.Add(platform.Check{Name: "webhook subscribed", OK: true, Detail: "subscribed to " + strings.Join(MessengerFields, ", ") + "; events go to " + acct.WebhookURL})
	return r, nil
}

func platformMessage(err error) string {
	var pe *platform.Error
	if errors.As(err, &pe) {
		return pe.Message
	}
	return err.Error()
}

// Reconnect subscribes the app again with the stored page token.
func (ch *Channel) Reconnect(ctx context.Context, acct platform.Account) error {
	c := creds(acct)
	info, err := ch.api.DebugToken(ctx, c.PageAccessToken)
	if err != nil {
		return err
	}
	if !info.Valid {
		return invalidToken(info)
	}
	if missing := missingScopes(info.Scopes); len(missing) > 0 {
		return fmt.Errorf("missing permissions %s: connect the page again and grant them", strings.Join(missing, ", "))
	}
	return ch.api.SubscribeApp(ctx, acct.ExternalID, c.PageAccessToken, MessengerFields)
}

// Unregister unsubscribes our app from the page.
func (ch *Channel) Unregister(ctx context.Context, acct platform.Account) error {
	return ch.api.UnsubscribeApp(ctx, acct.ExternalID, creds(acct).PageAccessToken)
}

// Update takes a new page token through a fresh user login and subscribes
// the app with it.
func (ch *Channel) Update(ctx context.Context, acct platform.Account, in platform.CredentialsUpdate) (platform.Credentials, *time.Time, error) {
	if err := in.Only(schematype.PlatformFacebook, "userAccessToken"); err != nil {
		return nil, nil, err
	}
	longToken, expiresAt, err := ch.api.ExchangeUserToken(ctx, strings.TrimSpace(*in.UserAccessToken))
	if err != nil {
		return nil, nil, platform.UserError(err, "input.userAccessToken", rejectedUser)
	}
	pages, err := ch.api.Pages(ctx, longToken)
	if err != nil {
		return nil, nil, platform.UserError(err, "input.userAccessToken", rejectedUser)
	}
	for _, p := range pages {
		if p.ID != acct.ExternalID {
			continue
		}
		if err := ch.checkPagePermissions(ctx, p); err != nil {
			return nil, nil, err
		}
		if err := ch.api.SubscribeApp(ctx, p.ID, p.AccessToken, MessengerFields); err != nil {
			return nil, nil, platform.WebhookFailed(platform.UserError(err, "input.userAccessToken", "Facebook refused to subscribe the app"))
		}
		c := &Credentials{PageAccessToken: p.AccessToken, UserAccessToken: longToken}
		if !expiresAt.IsZero() {
			c.UserTokenExpiresAt = &expiresAt
		}
		return c, nil, nil
	}
	return nil, nil, apperr.Input("input.userAccessToken", "Page not found in list: this Facebook user does not manage page %s", acct.ExternalID)
}

// Profile reads a customer's name and picture by PSID (Messenger webhooks
// carry neither).
func (ch *Channel) Profile(ctx context.Context, acct platform.Account, psid string) (*platform.Profile, error) {
	return ch.api.UserProfile(ctx, psid, creds(acct).PageAccessToken)
}

// maxText is the Send API's limit on message.text, in characters.
const maxText = 2000

// window is Messenger's standard messaging window.
const window = 24 * time.Hour

// Limits: text up to 2000 characters, any attachment kind, and replies only
// within the standard messaging window.
func (*Channel) Limits() platform.Limits {
	return platform.Limits{
		Text:   maxText,
		Kinds:  []platform.MediaKind{platform.Image, platform.File, platform.Audio, platform.Video},
		Window: window,
		WindowRule: "Messenger lets a Page message a customer only within 24 hours of the customer's last message " +
			"(the standard messaging window). After that a message tag is needed, which Switchboard does not send, " +
			"so the customer has to write again first.",
	}
}

// Send sends m from the page to the customer m.To. A Messenger message
// carries text or an attachment, never both, so text with media is two
// messages, the text first.
func (ch *Channel) Send(ctx context.Context, acct platform.Account, m platform.Outbound) (platform.Sent, error) {
	token := creds(acct).PageAccessToken
	pieces := platform.Pieces(m, 0)
	var sent platform.Sent
	for _, p := range pieces[min(max(m.Done, 0), len(pieces)):] {
		var id string
		var err error
		if p.Media == nil {
			id, err = ch.api.SendText(ctx, acct.ExternalID, token, p.To, p.Text)
		} else {
			id, err = ch.api.SendAttachment(ctx, acct.ExternalID, token, p.To, *p.Media)
		}
		if err != nil {
			return sent, err
		}
		sent.IDs = append(sent.IDs, id)
	}
	return sent, nil
}

// MarkSeen marks the customer's messages to the page as read.
func (ch *Channel) MarkSeen(ctx context.Context, acct platform.Account, to string) error {
	return ch.api.MarkSeen(ctx, acct.ExternalID, creds(acct).PageAccessToken, to)
}
