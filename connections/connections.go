// Package connections connects platform accounts (Telegram bots, Facebook
// pages, Zalo OAs, WhatsApp numbers) to campaigns: connect, edit, test,
// reconnect and disconnect, with credentials sealed at rest and tokens kept
// alive in the background. What differs between platforms is asked of the
// platform's Channel (package platform); this package holds what is the
// same for all: who may do it, one live connection per account, the
// transaction around the platform calls, sealing, and the connection's state.
// The GraphQL edge calls it; the webhook edge reads credentials through it.
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
	"sync"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/campaignmember"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/vault"
)

// Options are what the service is built from.
type Options struct {
	Client    *ent.Client
	Keys      *vault.Keyring
	PublicURL *url.URL // the external base URL platforms reach Switchboard at
	Platforms *platform.Registry
	Events    *events.Writer
	Logger    *slog.Logger
	// WebhookClient sends testWebhook's events to PUBLIC_URL (nil: a default client).
	WebhookClient *http.Client
}

// Service is the connections domain service.
type Service struct {
	client    *ent.Client
	keys      *vault.Keyring
	publicURL *url.URL
	reg       *platform.Registry
	w         *events.Writer
	logger    *slog.Logger
	now       func() time.Time
	hc        *http.Client
	prof      profiles
	later     chan rerouteJob

	mu       sync.Mutex
	onChange []func(*ent.Connection)
}

// New returns the connections service.
func New(opt Options) *Service {
	hc := opt.WebhookClient
	if hc == nil {
		hc = platform.NewHTTPClient()
	}
	return &Service{client: opt.Client, keys: opt.Keys, publicURL: opt.PublicURL, reg: opt.Platforms, w: opt.Events,
		logger: opt.Logger, now: time.Now, hc: hc,
		prof: profiles{queue: make(chan profileWant, 1024), tried: map[pulid.ID]time.Time{}}, later: make(chan rerouteJob, 256)}
}

// OnChange has f told of every change to a connection this service makes,
// with the connection as committed: a connect, disconnect, update,
// reconnect, renewal, or its status going to ERROR or back. The webhook
// edge drops what it cached of the connection, so that a disconnect is
// refused at once rather than when the cache expires. f runs on the
// caller's goroutine and must not block.
func (s *Service) OnChange(f func(*ent.Connection)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onChange = append(s.onChange, f)
}

// changed tells OnChange's listeners of committed changes.
func (s *Service) changed(conns ...*ent.Connection) {
	s.mu.Lock()
	fs := s.onChange
	s.mu.Unlock()
	for _, c := range conns {
		for _, f := range fs {
			f(c)
		}
	}
}

func (s *Service) seal(id pulid.ID, c platform.Credentials) ([]byte, error) {
	plain, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return s.keys.Seal(plain, []byte(id))
}

// Credentials opens the sealed credentials of a connection, as its
// platform's own type. A disconnected connection has none.
func (s *Service) Credentials(conn *ent.Connection) (platform.Credentials, error) {
	ch, err := s.reg.Get(conn.Platform)
	if err != nil {
		return nil, err
	}
	if len(conn.Credentials) == 0 {
		return nil, apperr.Input("id", "connection %s has no credentials (it was disconnected)", conn.ID)
	}
	plain, err := s.keys.Open(conn.Credentials, []byte(conn.ID))
	if err != nil {
		return nil, fmt.Errorf("opening credentials of %s: %w", conn.ID, err)
	}
	c := ch.NewCredentials()
	if err := json.Unmarshal(plain, c); err != nil {
		return nil, fmt.Errorf("decoding credentials of %s: %w", conn.ID, err)
	}
	return c, nil
}

// Channel returns the platform's channel.
func (s *Service) Channel(p schematype.Platform) (platform.Channel, error) { return s.reg.Get(p) }

// Account opens a connection for its platform's channel.
func (s *Service) Account(conn *ent.Connection) (platform.Channel, platform.Account, error) {
	ch, err := s.reg.Get(conn.Platform)
	if err != nil {
		return nil, platform.Account{}, err
	}
	creds, err := s.Credentials(conn)
	if err != nil {
		return nil, platform.Account{}, err
	}
	return ch, platform.Account{ConnectionID: conn.ID, ExternalID: conn.ExternalID, Credentials: creds,
		TokenExpiresAt: conn.TokenExpiresAt, WebhookURL: s.WebhookURL(conn.Platform, conn.ID)}, nil
}

// system is the context of background work: no viewer, no access rules.
func system(ctx context.Context) context.Context {
	return privacy.DecisionContext(ctx, privacy.Allow)
}

// WebhookURL is where the platform delivers a connection's events: PUBLIC_URL
// and the channel's path.
func (s *Service) WebhookURL(p schematype.Platform, id pulid.ID) string {
	ch, err := s.reg.Get(p)
	if err != nil {
		return ""
	}
	return strings.TrimRight(s.publicURL.String(), "/") + ch.WebhookPath(id)
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

// Connect connects the accounts a connect mutation names: the platform's
// channel checks the input with the platform, then the connections are
// stored in one transaction around the platform-side registration. If
// registering or the commit fails, what was registered is undone and the
// transaction rolls back: a failed connect leaves nothing behind, here or
// on the platform. A second connect of the same account waits on the
// unique index and then fails.
func (s *Service) Connect(ctx context.Context, in platform.ConnectInput) ([]*ent.Connection, error) {
	ch, err := s.reg.Get(in.Platform())
	if err != nil {
		return nil, err
	}
	if _, err := s.requireManager(ctx, in.Campaign(), "campaignID"); err != nil {
		return nil, err
	}
	plan, err := ch.Connect(ctx, in)
	if err != nil {
		return nil, err
	}
	for _, a := range plan.Accounts {
		if err := s.checkFree(ctx, ch.Platform(), a.ExternalID, a.Title); err != nil {
			return nil, err
		}
	}
	accts := make([]platform.Account, len(plan.Accounts))
	revive := make([]bool, len(plan.Accounts))
	for i, a := range plan.Accounts {
		id := pulid.New("con")
		old, err := s.previous(ctx, in.Campaign(), ch.Platform(), a.ExternalID)
		if err != nil {
			return nil, err
		}
		if old != nil {
			id, revive[i] = old.ID, true
		}
		accts[i] = platform.Account{ConnectionID: id, ExternalID: a.ExternalID, Credentials: a.Credentials,
			TokenExpiresAt: a.TokenExpiresAt, WebhookURL: s.WebhookURL(ch.Platform(), id)}
	}
	var undo platform.Undo
	var out []*ent.Connection
	err = s.w.Do(ctx, func(tx *ent.Tx) ([]events.Event, error) {
		var evs []events.Event
		for i, a := range plan.Accounts {
			sealed, err := s.seal(accts[i].ConnectionID, a.Credentials)
			if err != nil {
				return nil, err
			}
			if revive[i] {
				c, err := s.revive(ctx, tx, accts[i].ConnectionID, a, sealed)
				if err != nil {
					return nil, err
				}
				out = append(out, c)
				evs = append(evs, events.Connection(c))
				continue
			}
			c, err := tx.Connection.Create().
				SetID(accts[i].ConnectionID).
				SetCampaignID(in.Campaign()).
				SetPlatform(ch.Platform()).
				SetExternalID(a.ExternalID).
				SetName(a.Name).
				SetUsername(a.Username).
				SetStatus(connection.StatusACTIVE).
				SetConnectedAt(s.now()).
				SetNillableTokenExpiresAt(a.TokenExpiresAt).
				SetCredentials(sealed).
				SetTokenHint(vault.Hint(a.Credentials.Token())).
				Save(ctx)
			if ent.IsConstraintError(err) {
				return nil, apperr.Conflictf("this %s account is already connected to a campaign", platform.Name(ch.Platform()))
			}
			if err != nil {
				return nil, err
			}
			out = append(out, c)
			evs = append(evs, events.Connection(c))
		}
		if plan.Register != nil {
			if undo, err = plan.Register(ctx, accts); err != nil {
				return nil, err
			}
		}
		return evs, nil
	})
	if err != nil {
		if undo != nil {
			if uerr := undo(); uerr != nil {
				s.logger.ErrorContext(ctx, "undoing the platform side of a failed connect", "platform", ch.Platform(), "err", uerr)
			}
		}
		return nil, err
	}
	for i, c := range out {
		out[i] = c.Unwrap() // queries after the commit go through the client
	}
	s.changed(out...)
	for _, c := range out {
		s.rerouteNew(ctx, c)
	}
	return out, nil
}

// previous finds the connection the campaign had for the account before it
// was disconnected (the latest, if several), so that connecting the account
// again continues its contacts and conversations rather than splitting
// each customer's history in two. Another campaign's connection of the
// account is not looked at: there the account starts fresh.
func (s *Service) previous(ctx context.Context, campaign pulid.ID, p schematype.Platform, externalID string) (*ent.Connection, error) {
	c, err := s.client.Connection.Query().
		Where(connection.CampaignID(campaign), connection.PlatformEQ(p), connection.ExternalID(externalID), connection.DisconnectedAtNotNil()).
		Order(ent.Desc(connection.FieldDisconnectedAt), ent.Desc(connection.FieldID)).
		First(system(ctx))
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return c, err
}

// revive makes a disconnected connection live again with new credentials.
// What the platform said of the old credentials (health, errors) is theirs
// and goes; the name people gave the connection stays. A revive that lost
// a race with another is a conflict, as a second connect is.
func (s *Service) revive(ctx context.Context, tx *ent.Tx, id pulid.ID, a platform.NewAccount, sealed []byte) (*ent.Connection, error) {
	c, err := freshAccount(tx.Connection.UpdateOneID(id), a, sealed).
		Where(connection.DisconnectedAtNotNil()).
		SetConnectedAt(s.now()).
		ClearDisconnectedAt().
		ClearWebhookLastError().
		ClearWebhookLastErrorAt().
		Save(ctx)
	if ent.IsNotFound(err) || ent.IsConstraintError(err) {
		return nil, apperr.Conflictf("%s was connected again meanwhile", a.Title)
	}
	return c, err
}

// freshAccount sets what a connection holds of its account when new
// credentials take it over (a revive, a switch): what the platform said of
// the old ones goes with them.
func freshAccount(u *ent.ConnectionUpdateOne, a platform.NewAccount, sealed []byte) *ent.ConnectionUpdateOne {
	u.SetUsername(a.Username).
		SetCredentials(sealed).
		SetTokenHint(vault.Hint(a.Credentials.Token())).
		SetStatus(connection.StatusACTIVE).
		SetStatusReason("").
		ClearHealth().
		ClearLastSyncAt().
		ClearNextCheckAt()
	if a.TokenExpiresAt != nil {
		u.SetTokenExpiresAt(*a.TokenExpiresAt)
	} else {
		u.ClearTokenExpiresAt()
	}
	return u
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

// change updates a connection and tells its subscribers, in one transaction.
// It runs as the system: the caller has checked who may change what (a dead
// token is recorded whoever discovered it).
func (s *Service) change(ctx context.Context, id pulid.ID, set func(*ent.ConnectionUpdateOne)) (*ent.Connection, error) {
	var c *ent.Connection
	err := s.w.Do(system(ctx), func(tx *ent.Tx) ([]events.Event, error) {
		upd := tx.Connection.UpdateOneID(id)
		set(upd)
		var err error
		if c, err = upd.Save(system(ctx)); err != nil {
			return nil, err
		}
		return []events.Event{events.Connection(c)}, nil
	})
	if err != nil {
		return nil, err
	}
	c = c.Unwrap()
	s.changed(c)
	return c, nil
}

// markError puts a connection into ERROR with a reason people can act on.
func (s *Service) markError(ctx context.Context, id pulid.ID, reason string) (*ent.Connection, error) {
	s.logger.WarnContext(ctx, "connection needs attention", "connection", id, "reason", reason)
	return s.change(ctx, id, func(u *ent.ConnectionUpdateOne) {
		u.SetStatus(connection.StatusERROR).SetStatusReason(reason)
	})
}

// MarkAuthFailed records that a platform rejected a connection's token
// (Graph 190, Zalo -216 after a failed refresh, Telegram 401), so the SPA shows
// it instead of messages silently failing.
func (s *Service) MarkAuthFailed(ctx context.Context, id pulid.ID, err error) error {
	_, uerr := s.markError(ctx, id, s.authReason(err))
	return uerr
}

// authReason says which platform rejected the credentials, and what to do.
func (s *Service) authReason(err error) string {
	var pe *platform.Error
	if errors.As(err, &pe) {
		title := pe.Platform
		if ch, ok := s.reg.ByName(pe.Platform); ok {
			title = ch.Title()
		}
		return fmt.Sprintf("%s rejected the credentials (%s): reconnect the account", title, pe.Message)
	}
	return "the platform rejected the credentials: reconnect the account"
}

// markActive clears an error state after a successful check.
func (s *Service) markActive(ctx context.Context, c *ent.Connection) (*ent.Connection, error) {
	if c.Status == connection.StatusACTIVE && c.StatusReason == "" {
		return c, nil
	}
	return s.change(ctx, c.ID, func(u *ent.ConnectionUpdateOne) {
		u.SetStatus(connection.StatusACTIVE).SetStatusReason("")
	})
}
