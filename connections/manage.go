package connections

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/vault"
)

// Check is one line of a connection test.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

// TestResult is what testConnection reports.
type TestResult struct {
	OK     bool
	Checks []Check
}

func failed(name string, err error) Check {
	return Check{Name: name, OK: false, Detail: platform.Redact(err.Error())}
}

// Test checks a connection against its platform: token, webhook registration,
// permissions. A token the platform rejects puts the connection into ERROR.
func (s *Service) Test(ctx context.Context, id pulid.ID) (*TestResult, error) {
	c, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	status := Check{Name: "connection status", OK: c.Status == connection.StatusACTIVE, Detail: strings.ToLower(string(c.Status))}
	if c.StatusReason != "" {
		status.Detail += ": " + c.StatusReason
	}
	if c.Status == connection.StatusINACTIVE {
		return &TestResult{Checks: []Check{status}}, nil
	}
	creds, err := s.Credentials(c)
	if err != nil {
		return nil, err
	}
	var checks []Check
	switch c.Platform {
	case schematype.PlatformTelegram:
		checks, err = s.testTelegram(ctx, c, creds)
	case schematype.PlatformFacebook:
		checks, err = s.testFacebook(ctx, c, creds)
	case schematype.PlatformZalo:
		checks, err = s.testZalo(ctx, c, creds)
	case schematype.PlatformWhatsApp:
		checks, err = s.testWhatsApp(ctx, c, creds)
	}
	if err != nil && platform.IsAuth(err) {
		if c, err = s.markError(ctx, c.ID, authReason(err)); err != nil {
			return nil, err
		}
		status = Check{Name: "connection status", OK: false, Detail: "error: " + c.StatusReason}
	}
	res := &TestResult{OK: status.OK, Checks: append([]Check{status}, checks...)}
	for _, ch := range checks {
		res.OK = res.OK && ch.OK
	}
	return res, nil
}

// Reconnect renews tokens and registers the webhook again, leaving the
// connection ACTIVE, or in ERROR with the reason.
func (s *Service) Reconnect(ctx context.Context, id pulid.ID) (*ent.Connection, error) {
	c, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Status == connection.StatusINACTIVE {
		return nil, apperr.Input("id", "the connection was disconnected and its credentials erased: connect the account again")
	}
	creds, err := s.Credentials(c)
	if err != nil {
		return nil, err
	}
	switch c.Platform {
	case schematype.PlatformTelegram:
		if _, err = s.p.Telegram.GetMe(ctx, creds.BotToken); err == nil {
			_, err = s.registerTelegram(ctx, c.ID, creds)
		}
	case schematype.PlatformFacebook:
		err = s.reconnectFacebook(ctx, c, creds)
	case schematype.PlatformZalo:
		var rc *ent.Connection
		if rc, err = s.RefreshZalo(ctx, c.ID, true); err == nil {
			if rc.Status == connection.StatusERROR {
				return rc, nil
			}
			creds, err = s.Credentials(rc)
			if err == nil {
				_, err = s.p.Zalo.GetOA(ctx, creds.AccessToken)
			}
		}
	case schematype.PlatformWhatsApp:
		_, err = s.p.WhatsApp.PhoneNumber(ctx, c.ExternalID, creds.AccessToken)
	}
	if err != nil {
		reason := authReason(err)
		if !platform.IsAuth(err) {
			reason = "reconnecting failed: " + platform.Redact(err.Error())
		}
		return s.markError(ctx, c.ID, reason)
	}
	c, err = s.client.Connection.Get(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	return s.markActive(ctx, c)
}

// Disconnect unregisters our webhook where the platform has one per account,
// erases the credentials and marks the connection INACTIVE. Its conversations
// and messages stay. Disconnecting twice is harmless.
func (s *Service) Disconnect(ctx context.Context, id pulid.ID) (*ent.Connection, error) {
	c, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Status == connection.StatusINACTIVE {
		return c, nil
	}
	if creds, err := s.Credentials(c); err != nil {
		s.logger.ErrorContext(ctx, "reading credentials to unregister the webhook", "connection", id, "err", err)
	} else {
		// Best effort: a dead token cannot unregister anything, and the
		// webhook edge answers 410 for disconnected connections anyway.
		var uerr error
		switch c.Platform {
		case schematype.PlatformTelegram:
			uerr = s.p.Telegram.DeleteWebhook(ctx, creds.BotToken, false)
		case schematype.PlatformFacebook:
			uerr = s.p.Facebook.UnsubscribeApp(ctx, c.ExternalID, creds.PageAccessToken)
		}
		if uerr != nil {
			s.logger.WarnContext(ctx, "unregistering the webhook of a disconnected connection", "connection", id, "err", uerr)
		}
	}
	return s.client.Connection.UpdateOne(c).
		SetStatus(connection.StatusINACTIVE).
		SetStatusReason("").
		SetDisconnectedAt(s.now()).
		ClearCredentials().
		SetTokenHint("").
		ClearTokenExpiresAt().
		Save(ctx)
}

// UpdateInput is updateConnection's input; nil fields stay as they are.
type UpdateInput struct {
	Name            *string
	BotToken        *string // Telegram
	UserAccessToken *string // Facebook: a fresh login gives a new page token
	AccessToken     *string // WhatsApp, Zalo
	RefreshToken    *string // Zalo
	OASecretKey     *string // Zalo
}

// Update renames a connection or replaces its credentials, validating new
// tokens with the platform first.
func (s *Service) Update(ctx context.Context, id pulid.ID, in UpdateInput) (*ent.Connection, error) {
	c, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	upd := s.client.Connection.UpdateOne(c)
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if name == "" {
			return nil, apperr.Input("input.name", "must not be empty")
		}
		upd.SetName(name)
	}
	wrong := func(field string) error {
		return apperr.Input("input."+field, "a %s connection has no %s", strings.ToLower(string(c.Platform)), field)
	}
	p := c.Platform
	switch {
	case in.BotToken != nil && p != schematype.PlatformTelegram:
		return nil, wrong("botToken")
	case in.UserAccessToken != nil && p != schematype.PlatformFacebook:
		return nil, wrong("userAccessToken")
	case in.AccessToken != nil && p != schematype.PlatformWhatsApp && p != schematype.PlatformZalo:
		return nil, wrong("accessToken")
	case (in.RefreshToken != nil || in.OASecretKey != nil) && p != schematype.PlatformZalo:
		return nil, wrong("refreshToken")
	}
	changesCreds := in.BotToken != nil || in.UserAccessToken != nil || in.AccessToken != nil || in.RefreshToken != nil || in.OASecretKey != nil
	if changesCreds {
		if c.Status == connection.StatusINACTIVE {
			return nil, apperr.Input("id", "the connection was disconnected: connect the account again instead")
		}
		creds, err := s.Credentials(c)
		if err != nil {
			return nil, err
		}
		var expiresAt *time.Time
		switch p {
		case schematype.PlatformTelegram:
			err = s.updateTelegramToken(ctx, c, creds, *in.BotToken)
		case schematype.PlatformFacebook:
			err = s.updateFacebookToken(ctx, c, creds, *in.UserAccessToken)
		case schematype.PlatformWhatsApp:
			err = s.updateWhatsAppToken(ctx, c, creds, *in.AccessToken)
		case schematype.PlatformZalo:
			expiresAt, err = s.updateZalo(ctx, c, creds, in.AccessToken, in.RefreshToken, in.OASecretKey)
		}
		if err != nil {
			return nil, err
		}
		sealed, err := s.seal(c.ID, creds)
		if err != nil {
			return nil, err
		}
		upd.SetCredentials(sealed).SetTokenHint(vault.Hint(primaryToken(p, creds))).
			SetStatus(connection.StatusACTIVE).SetStatusReason("")
		if expiresAt != nil {
			upd.SetTokenExpiresAt(*expiresAt)
		}
	}
	c, err = upd.Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("updating connection: %w", err)
	}
	return c, nil
}

func primaryToken(p schematype.Platform, c *Credentials) string {
	switch p {
	case schematype.PlatformTelegram:
		return c.BotToken
	case schematype.PlatformFacebook:
		return c.PageAccessToken
	default:
		return c.AccessToken
	}
}

// WebhookEvent loads a journal entry the viewer may manage (to replay it).
func (s *Service) WebhookEvent(ctx context.Context, id pulid.ID) (*ent.WebhookEvent, error) {
	ev, err := s.client.WebhookEvent.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, &apperr.InputError{Field: "id", Message: fmt.Sprintf("webhook event %s not found", id), Kind: apperr.ErrNotFound}
	}
	if err != nil {
		return nil, err
	}
	if ev.CampaignID == nil {
		return nil, apperr.Input("id", "webhook event %s is unroutable: no connection to apply it to", id)
	}
	if _, err := s.requireManager(ctx, *ev.CampaignID, "id"); err != nil {
		return nil, err
	}
	return ev, nil
}
