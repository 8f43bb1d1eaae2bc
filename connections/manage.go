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
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/journal"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/vault"
)

// TestResult is what testConnection reports.
type TestResult struct {
	OK     bool
	Checks []platform.Check
}

// Test checks a connection against its platform: token, webhook registration,
// permissions. It is the background health check, run now: the findings are
// recorded the same way (health, lastSyncAt, a lost webhook registered
// again), and a token the platform rejects (and, where tokens are renewed,
// one that renewing does not bring back) puts the connection into ERROR.
func (s *Service) Test(ctx context.Context, id pulid.ID) (*TestResult, error) {
	c, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Status == connection.StatusINACTIVE {
		return &TestResult{Checks: []platform.Check{statusCheck(c)}}, nil
	}
	done, err := s.check(ctx, c)
	if err != nil {
		return nil, err
	}
	status := statusCheck(done.conn)
	res := &TestResult{OK: status.OK, Checks: append([]platform.Check{status}, done.checks...)}
	for _, ch := range done.checks {
		res.OK = res.OK && ch.OK
	}
	return res, nil
}

// statusCheck is the test's first line: the connection's status and why.
func statusCheck(c *ent.Connection) platform.Check {
	status := platform.Check{Name: "connection status", OK: c.Status == connection.StatusACTIVE, Detail: strings.ToLower(string(c.Status))}
	if c.StatusReason != "" {
		status.Detail += ": " + c.StatusReason
	}
	return status
}

// Reconnect renews tokens (where the platform has renewable ones) and
// registers the webhook again, leaving the connection ACTIVE, or in ERROR
// with the reason.
func (s *Service) Reconnect(ctx context.Context, id pulid.ID) (*ent.Connection, error) {
	c, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Status == connection.StatusINACTIVE {
		return nil, apperr.Input("id", "the connection was disconnected and its credentials erased: connect the account again")
	}
	ch, _, err := s.Account(c)
	if err != nil {
		return nil, err
	}
	if _, renews := ch.(platform.TokenRenewer); renews {
		rc, err := s.Renew(ctx, c.ID, true)
		if err != nil {
			return s.reconnectFailed(ctx, c.ID, err)
		}
		if rc.Status == connection.StatusERROR {
			return rc, nil // renewing was refused, and the reason says so
		}
		c = rc
	}
	_, acct, err := s.Account(c)
	if err == nil {
		err = ch.Reconnect(ctx, acct)
	}
	if err != nil {
		return s.reconnectFailed(ctx, c.ID, err)
	}
	if c, err = s.client.Connection.Get(ctx, c.ID); err != nil {
		return nil, err
	}
	return s.markActive(ctx, c)
}

func (s *Service) reconnectFailed(ctx context.Context, id pulid.ID, err error) (*ent.Connection, error) {
	reason := s.authReason(err)
	if !platform.IsAuth(err) {
		reason = "reconnecting failed: " + platform.Redact(err.Error())
	}
	return s.markError(ctx, id, reason)
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
	if ch, acct, err := s.Account(c); err != nil {
		s.logger.ErrorContext(ctx, "reading credentials to unregister the webhook", "connection", id, "err", err)
	} else if err := ch.Unregister(ctx, acct); err != nil {
		// Best effort: a dead token cannot unregister anything, and the
		// webhook edge answers 410 for disconnected connections anyway.
		s.logger.WarnContext(ctx, "unregistering the webhook of a disconnected connection", "connection", id, "err", err)
	}
	return s.change(ctx, c.ID, func(u *ent.ConnectionUpdateOne) {
		u.SetStatus(connection.StatusINACTIVE).
			SetStatusReason("").
			SetDisconnectedAt(s.now()).
			ClearCredentials().
			SetTokenHint("").
			ClearTokenExpiresAt()
	})
}

// UpdateInput is updateConnection's input; nil fields stay as they are.
type UpdateInput struct {
	Name *string
	platform.CredentialsUpdate
}

// Update renames a connection or replaces its credentials, which the
// platform's channel validates first. Replacing credentials reads, changes
// and writes them back under the row lock renewals take, with the
// credentials read under it: a renewal running meanwhile has spent the
// refresh token it read, and writing back that token would lose the new pair.
func (s *Service) Update(ctx context.Context, id pulid.ID, in UpdateInput) (*ent.Connection, error) {
	c, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	var name string
	if in.Name != nil {
		if name = strings.TrimSpace(*in.Name); name == "" {
			return nil, apperr.Input("input.name", "must not be empty")
		}
	}
	if !in.Given() {
		c, err = s.change(ctx, c.ID, func(u *ent.ConnectionUpdateOne) {
			if in.Name != nil {
				u.SetName(name)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("updating connection: %w", err)
		}
		return c, nil
	}
	sys := system(ctx)
	err = s.w.Do(sys, func(tx *ent.Tx) ([]events.Event, error) {
		locked, err := tx.Connection.Query().Where(connection.ID(c.ID)).ForUpdate().Only(sys)
		if err != nil {
			return nil, fmt.Errorf("locking connection %s: %w", c.ID, err)
		}
		if locked.Status == connection.StatusINACTIVE {
			return nil, apperr.Input("id", "the connection was disconnected: connect the account again instead")
		}
		ch, acct, err := s.Account(locked)
		if err != nil {
			return nil, err
		}
		creds, expiresAt, err := ch.Update(ctx, acct, in.CredentialsUpdate)
		if err != nil {
			return nil, err
		}
		sealed, err := s.seal(locked.ID, creds)
		if err != nil {
			return nil, err
		}
		upd := tx.Connection.UpdateOne(locked).SetCredentials(sealed).SetTokenHint(vault.Hint(creds.Token())).
			SetStatus(connection.StatusACTIVE).SetStatusReason("").SetNillableTokenExpiresAt(expiresAt)
		if in.Name != nil {
			upd.SetName(name)
		}
		if c, err = upd.Save(sys); err != nil {
			return nil, fmt.Errorf("updating connection: %w", err)
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

// WebhookEvent loads a journal entry the viewer may manage, to replay it.
// An unroutable event (only administrators see those) whose account has
// been connected since is first given to that connection, so that the
// replay applies it there.
func (s *Service) WebhookEvent(ctx context.Context, id pulid.ID) (*ent.WebhookEvent, error) {
	ev, err := s.client.WebhookEvent.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, &apperr.InputError{Field: "id", Message: fmt.Sprintf("webhook event %s not found", id), Kind: apperr.ErrNotFound}
	}
	if err != nil {
		return nil, err
	}
	if ev.ResponseStatus != 200 {
		// It was refused at the door (forged, oversize, malformed): kept for
		// the log, never verified, so never applied.
		return nil, apperr.Input("id", "webhook event %s was rejected on arrival (%d: %s); it is kept for the log and cannot be replayed", ev.ID, ev.ResponseStatus, ev.Error)
	}
	if ev.CampaignID == nil {
		return s.routeForReplay(ctx, ev)
	}
	if _, err := s.requireManager(ctx, *ev.CampaignID, "id"); err != nil {
		return nil, err
	}
	return ev, nil
}

func (s *Service) routeForReplay(ctx context.Context, ev *ent.WebhookEvent) (*ent.WebhookEvent, error) {
	if ev.Account == nil {
		return nil, apperr.Input("id", "webhook event %s is unroutable: no connection to apply it to", ev.ID)
	}
	conn, err := s.client.Connection.Query().
		Where(connection.PlatformEQ(ev.Platform), connection.ExternalID(*ev.Account), connection.DisconnectedAtIsNil()).
		Only(system(ctx))
	if ent.IsNotFound(err) {
		return nil, apperr.Input("id", "webhook event %s is unroutable: %s account %s is not connected", ev.ID, platform.Name(ev.Platform), *ev.Account)
	}
	if err != nil {
		return nil, err
	}
	if _, err := s.requireManager(ctx, conn.CampaignID, "id"); err != nil {
		return nil, err
	}
	if _, err := journal.Reroute(system(ctx), s.client, ev.Platform, *ev.Account, conn.ID, conn.CampaignID, time.Time{}, ev.ID); err != nil {
		return nil, err
	}
	if ev, err = s.client.WebhookEvent.Get(system(ctx), ev.ID); err != nil {
		return nil, err
	}
	if ev.ConnectionID == nil {
		return nil, apperr.Input("id", "webhook event %s is unroutable: connection %s already has the event it carries", ev.ID, conn.ID)
	}
	return ev, nil
}
