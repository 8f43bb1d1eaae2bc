// Package connections connects platform accounts (Telegram bots, Facebook
// pages, Zalo OAs, WhatsApp numbers) to campaigns: connect, edit, test,
// reconnect and disconnect, with credentials sealed at rest and tokens kept
// alive in the background. The GraphQL edge calls it; the webhook edge reads
// credentials through it.
package connections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/campaignmember"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/hook"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/facebook"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/platform/whatsapp"
	"github.com/switchboard-chat/switchboard/platform/zalo"
	"github.com/switchboard-chat/switchboard/vault"
)

// Platforms are the API clients of the four platforms.
type Platforms struct {
	Telegram *telegram.Client
	Facebook *facebook.Client
	WhatsApp *whatsapp.Client
	Zalo     *zalo.Client
	// FacebookAppID identifies our app among a page's subscribed apps.
	FacebookAppID string
	// ZaloAppID and ZaloAppSecret are the defaults of connectZalo's appID/appSecretKey.
	ZaloAppID, ZaloAppSecret string
	// FacebookAppSecret and WhatsAppAppSecret sign testWebhook's synthetic events.
	FacebookAppSecret, WhatsAppAppSecret string
	// WebhookClient sends testWebhook's events to PUBLIC_URL (nil: a default client).
	WebhookClient *http.Client
}

// Service is the connections domain service.
type Service struct {
	client    *ent.Client
	keys      *vault.Keyring
	publicURL *url.URL
	p         Platforms
	logger    *slog.Logger
	now       func() time.Time
	hc        *http.Client
	prof      profiles
}

// New returns the connections service. publicURL is the external base URL
// platforms reach Switchboard at.
func New(client *ent.Client, keys *vault.Keyring, publicURL *url.URL, p Platforms, logger *slog.Logger) *Service {
	hc := p.WebhookClient
	if hc == nil {
		hc = platform.NewHTTPClient()
	}
	return &Service{client: client, keys: keys, publicURL: publicURL, p: p, logger: logger, now: time.Now, hc: hc,
		prof: profiles{queue: make(chan pulid.ID, 1024), tried: map[pulid.ID]time.Time{}}}
}

// Credentials are a connection's secrets, sealed together in one column.
type Credentials struct {
	// Telegram
	BotToken      string `json:"botToken,omitempty"`
	WebhookSecret string `json:"webhookSecret,omitempty"`
	// Facebook
	PageAccessToken    string     `json:"pageAccessToken,omitempty"`
	UserAccessToken    string     `json:"userAccessToken,omitempty"`
	UserTokenExpiresAt *time.Time `json:"userTokenExpiresAt,omitempty"`
	// Zalo (AccessToken is also WhatsApp's)
	AccessToken  string `json:"accessToken,omitempty"`
	RefreshToken string `json:"refreshToken,omitempty"`
	OASecretKey  string `json:"oaSecretKey,omitempty"`
	AppID        string `json:"appID,omitempty"`
	AppSecret    string `json:"appSecret,omitempty"`
}

func (s *Service) seal(id pulid.ID, c *Credentials) ([]byte, error) {
	plain, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return s.keys.Seal(plain, []byte(id))
}

// Credentials opens the sealed credentials of a connection. A disconnected
// connection has none.
func (s *Service) Credentials(conn *ent.Connection) (*Credentials, error) {
	if len(conn.Credentials) == 0 {
		return nil, apperr.Input("id", "connection %s has no credentials (it was disconnected)", conn.ID)
	}
	plain, err := s.keys.Open(conn.Credentials, []byte(conn.ID))
	if err != nil {
		return nil, fmt.Errorf("opening credentials of %s: %w", conn.ID, err)
	}
	var c Credentials
	if err := json.Unmarshal(plain, &c); err != nil {
		return nil, fmt.Errorf("decoding credentials of %s: %w", conn.ID, err)
	}
	return &c, nil
}

// system is the context of background work: no viewer, no access rules.
func system(ctx context.Context) context.Context {
	return privacy.DecisionContext(ctx, privacy.Allow)
}

// WebhookPath is the path of the webhook endpoint platforms call for conn.
func WebhookPath(p schematype.Platform, id pulid.ID) string {
	switch p {
	case schematype.PlatformTelegram:
		return "/webhooks/telegram/" + string(id)
	case schematype.PlatformZalo:
		return "/webhooks/zalo/" + string(id)
	case schematype.PlatformFacebook:
		return "/webhooks/facebook"
	default:
		return "/webhooks/whatsapp"
	}
}

// WebhookURL is the absolute URL of WebhookPath under PUBLIC_URL.
func (s *Service) WebhookURL(p schematype.Platform, id pulid.ID) string {
	return strings.TrimRight(s.publicURL.String(), "/") + WebhookPath(p, id)
}

// WebhookStatus summarises a connection's webhook health: INACTIVE when it is
// disconnected, ERROR when the connection is in error or the last webhook
// event failed after the last success, ACTIVE otherwise.
func WebhookStatus(c *ent.Connection) connection.Status {
	switch {
	case c.Status == connection.StatusINACTIVE:
		return connection.StatusINACTIVE
	case c.Status == connection.StatusERROR:
		return connection.StatusERROR
	case c.WebhookLastErrorAt != nil && (c.WebhookLastReceivedAt == nil || c.WebhookLastErrorAt.After(*c.WebhookLastReceivedAt)):
		return connection.StatusERROR
	}
	return connection.StatusACTIVE
}

// requireManager checks, before any platform is called, that the viewer may
// manage the campaign's connections. The ent rules check again on write.
func (s *Service) requireManager(ctx context.Context, campaignID pulid.ID, field string) (*ent.Campaign, error) {
	v := auth.FromContext(ctx)
	if v == nil {
		return nil, apperr.ErrUnauthenticated
	}
	c, err := s.client.Campaign.Get(ctx, campaignID)
	if ent.IsNotFound(err) {
		return nil, &apperr.InputError{Field: field, Message: fmt.Sprintf("campaign %s not found", campaignID), Kind: apperr.ErrNotFound}
	}
	if err != nil {
		return nil, err
	}
	if !v.Admin {
		m, err := s.client.CampaignMember.Query().
			Where(campaignmember.CampaignID(campaignID), campaignmember.UserID(v.UserID)).Only(ctx)
		if err != nil && !ent.IsNotFound(err) {
			return nil, err
		}
		if m == nil || m.Role != campaignmember.RoleMANAGER {
			return nil, apperr.Forbiddenf("only a MANAGER of the campaign or an administrator may manage its connections")
		}
	}
	return c, nil
}

// checkFree fails with CONFLICT, naming the holder, when the platform account
// is live in a campaign already.
func (s *Service) checkFree(ctx context.Context, p schematype.Platform, externalID, what string) error {
	held, err := s.client.Connection.Query().
		Where(connection.PlatformEQ(p), connection.ExternalID(externalID), connection.DisconnectedAtIsNil()).
		WithCampaign().
		Only(system(ctx))
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return apperr.Conflictf("%s is already connected to campaign %q; disconnect it there first", what, held.Edges.Campaign.Name)
}

// newConnection is what a connect flow registers: the row to create and
// what to do on the platform before the row is committed.
type newConnection struct {
	id         pulid.ID
	campaignID pulid.ID
	platform   schematype.Platform
	externalID string
	name       string
	username   string
	creds      *Credentials
	tokenHint  string
	expiresAt  *time.Time
}

// create stores connections in one transaction around register, the
// platform-side setup. If register or the commit fails, undo reverses what
// register did and the transaction rolls back: a failed connect leaves
// nothing behind, here or on the platform. A second connect of the same
// account waits on the unique index and then fails.
func (s *Service) create(ctx context.Context, rows []newConnection, register func(ctx context.Context) (undo func(), err error)) ([]*ent.Connection, error) {
	tx, err := s.client.Tx(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	now := s.now()
	for _, r := range rows {
		sealed, err := s.seal(r.id, r.creds)
		if err != nil {
			return nil, err
		}
		err = tx.Connection.Create().
			SetID(r.id).
			SetCampaignID(r.campaignID).
			SetPlatform(r.platform).
			SetExternalID(r.externalID).
			SetName(r.name).
			SetUsername(r.username).
			SetStatus(connection.StatusACTIVE).
			SetConnectedAt(now).
			SetNillableTokenExpiresAt(r.expiresAt).
			SetCredentials(sealed).
			SetTokenHint(r.tokenHint).
			Exec(ctx)
		if ent.IsConstraintError(err) {
			return nil, apperr.Conflictf("this %s account is already connected to a campaign", strings.ToLower(string(r.platform)))
		}
		if err != nil {
			return nil, err
		}
	}
	undo, err := register(ctx)
	if err != nil {
		if undo != nil {
			undo()
		}
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		if undo != nil {
			undo()
		}
		return nil, fmt.Errorf("storing connection: %w", err)
	}
	out := make([]*ent.Connection, 0, len(rows))
	for _, r := range rows {
		c, err := s.client.Connection.Get(ctx, r.id)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// undoContext gives compensation calls their own deadline: the request's
// context may be the reason we are undoing.
func undoContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 15*time.Second)
}

// platformError turns a platform failure into the error the user sees:
// rejected credentials are a problem with the input field, anything else is
// the platform's (with its own description).
func platformError(err error, field, rejected string) error {
	var pe *platform.Error
	if !errors.As(err, &pe) {
		return err
	}
	if pe.Kind == platform.Auth && field != "" {
		return apperr.Input(field, "%s: %s", rejected, pe.Message)
	}
	msg := pe.Error()
	if pe.Kind == platform.RateLimited && pe.RetryAfter > 0 {
		msg += fmt.Sprintf("; retry after %s", pe.RetryAfter)
	}
	return apperr.Upstreamf("%s", msg)
}

// get loads a connection the viewer may see and checks it may manage it.
func (s *Service) get(ctx context.Context, id pulid.ID) (*ent.Connection, error) {
	c, err := s.client.Connection.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, &apperr.InputError{Field: "id", Message: fmt.Sprintf("connection %s not found", id), Kind: apperr.ErrNotFound}
	}
	if err != nil {
		return nil, err
	}
	if _, err := s.requireManager(ctx, c.CampaignID, "id"); err != nil {
		return nil, err
	}
	return c, nil
}

// markError puts a connection into ERROR with a reason people can act on.
// It runs as the system: a dead token is recorded whoever discovered it.
func (s *Service) markError(ctx context.Context, id pulid.ID, reason string) (*ent.Connection, error) {
	s.logger.WarnContext(ctx, "connection needs attention", "connection", id, "reason", reason)
	return s.client.Connection.UpdateOneID(id).
		SetStatus(connection.StatusERROR).
		SetStatusReason(reason).
		Save(system(ctx))
}

// MarkAuthFailed records that a platform rejected a connection's token
// (Graph 190, Zalo -216 after a failed refresh, Telegram 401), so the SPA shows
// it instead of messages silently failing.
func (s *Service) MarkAuthFailed(ctx context.Context, id pulid.ID, err error) error {
	_, uerr := s.markError(ctx, id, authReason(err))
	return uerr
}

func authReason(err error) string {
	var pe *platform.Error
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s rejected the credentials (%s): reconnect the account", platformTitle(pe.Platform), pe.Message)
	}
	return "the platform rejected the credentials: reconnect the account"
}

func platformTitle(p string) string {
	switch strings.ToLower(p) {
	case "telegram":
		return "Telegram"
	case "facebook":
		return "Facebook"
	case "whatsapp":
		return "WhatsApp"
	case "zalo":
		return "Zalo"
	}
	return p
}

// markActive clears an error state after a successful check.
func (s *Service) markActive(ctx context.Context, c *ent.Connection) (*ent.Connection, error) {
	if c.Status == connection.StatusACTIVE && c.StatusReason == "" {
		return c, nil
	}
	return s.client.Connection.UpdateOne(c).SetStatus(connection.StatusACTIVE).SetStatusReason("").Save(system(ctx))
}

// OnChange makes every change of a connection (connect, status, token,
// webhook health) an event in the log, in the same transaction when the
// change runs in one, and tells n that events were written.
func (s *Service) OnChange(n Notifier) {
	s.client.Connection.Use(func(next ent.Mutator) ent.Mutator {
		return hook.ConnectionFunc(func(ctx context.Context, m *ent.ConnectionMutation) (ent.Value, error) {
			v, err := next.Mutate(ctx, m)
			if err != nil || !m.Op().Is(ent.OpCreate|ent.OpUpdateOne) {
				return v, err
			}
			c, ok := v.(*ent.Connection)
			if !ok {
				return v, nil
			}
			if err := events.Append(system(ctx), m.Client(), events.Event{Type: events.ConnectionUpdated, CampaignID: c.CampaignID, EntityID: c.ID}); err != nil {
				return nil, err
			}
			// Inside a transaction the hub finds the event once it commits
			// (on this wake-up if it already has, else on its next poll).
			n.Committed()
			return v, nil
		})
	})
}
