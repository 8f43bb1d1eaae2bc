package connections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/vault"
)

// RefreshMargin is how long before expiry an access token is renewed.
const RefreshMargin = 30 * time.Minute

// renewTimeout bounds a renewal, waiting for the row lock included.
const renewTimeout = 30 * time.Second

// Renew renews a connection's access token, on a platform whose tokens are
// renewed (platform.TokenRenewer), with its single-use refresh token. The
// row lock serialises renewals of one account across goroutines and
// replicas; whoever waited finds the token fresh and does nothing (unless
// force). The new credentials replace the old in the same transaction. A
// refusal puts the connection into ERROR, and is not an error here.
//
// The caller going away does not stop a renewal: once the platform has
// spent the refresh token, only our commit keeps the new pair, so a client
// disconnecting or a SIGTERM between the two would lose the account. The
// renewal has its own deadline instead.
func (s *Service) Renew(ctx context.Context, id pulid.ID, force bool) (*ent.Connection, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(system(ctx)), renewTimeout)
	defer cancel()
	var c *ent.Connection
	renewed, changed := false, false
	err := s.w.Do(ctx, func(tx *ent.Tx) ([]events.Event, error) {
		var err error
		if c, err = tx.Connection.Query().Where(connection.ID(id)).ForUpdate().Only(ctx); err != nil {
			return nil, fmt.Errorf("locking connection %s: %w", id, err)
		}
		ch, err := s.reg.Get(c.Platform)
		if err != nil {
			return nil, err
		}
		renewer, ok := ch.(platform.TokenRenewer)
		if !ok || c.Status == connection.StatusINACTIVE ||
			!force && c.TokenExpiresAt != nil && c.TokenExpiresAt.After(s.now().Add(RefreshMargin)) {
			return nil, nil
		}
		_, acct, err := s.Account(c)
		if err != nil {
			return nil, err
		}
		creds, expiresAt, err := renewer.Renew(ctx, acct)
		if platform.IsAuth(err) {
			s.logger.WarnContext(ctx, "token renewal refused", "connection", id, "err", err)
			c, err = tx.Connection.UpdateOne(c).SetStatus(connection.StatusERROR).
				SetStatusReason(fmt.Sprintf("%s refused to renew the access token (%s): reconnect the account with a new authorization", ch.Title(), platformMessage(err))).
				Save(ctx)
			if err != nil {
				return nil, err
			}
			changed = true
			return []events.Event{events.Connection(c)}, nil
		}
		if err != nil {
			return nil, err
		}
		renewed = true
		sealed, err := s.seal(c.ID, creds)
		if err != nil {
			return nil, err
		}
		c, err = tx.Connection.UpdateOne(c).
			SetCredentials(sealed).
			SetTokenHint(vault.Hint(creds.Token())).
			SetTokenExpiresAt(expiresAt).
			SetStatus(connection.StatusACTIVE).
			SetStatusReason("").
			Save(ctx)
		if err != nil {
			return nil, err
		}
		changed = true
		return []events.Event{events.Connection(c)}, nil
	})
	if err != nil && renewed {
		// The refresh token is spent and the new pair is lost: say so loudly.
		s.logger.ErrorContext(ctx, "storing renewed tokens failed; the account must be reconnected", "connection", id, "err", err)
	}
	if err != nil {
		return nil, err
	}
	c = c.Unwrap()
	if changed {
		s.changed(c)
	}
	return c, nil
}

func platformMessage(err error) string {
	var pe *platform.Error
	if errors.As(err, &pe) {
		return pe.Message
	}
	return err.Error()
}

// RunRefresher renews expiring tokens every interval until ctx ends. Every
// replica may run it: Renew serialises per account.
func (s *Service) RunRefresher(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	s.ResealStale(ctx)
	for {
		s.RenewDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RenewDue renews every live token that expires within RefreshMargin.
func (s *Service) RenewDue(ctx context.Context) {
	due, err := s.client.Connection.Query().
		Where(
			connection.StatusEQ(connection.StatusACTIVE),
			connection.TokenExpiresAtLT(s.now().Add(RefreshMargin)),
		).
		IDs(system(ctx))
	if err != nil {
		if ctx.Err() == nil {
			s.logger.ErrorContext(ctx, "finding tokens to renew", "err", err)
		}
		return
	}
	for _, id := range due {
		if ctx.Err() != nil {
			return
		}
		if _, err := s.Renew(ctx, id, false); err != nil {
			// Transient: the next round tries again, well before expiry.
			s.logger.WarnContext(ctx, "renewing a token", "connection", id, "err", err)
		}
	}
}

// ResealStale re-encrypts credentials sealed with a retired key
// (ENCRYPTION_OLD_KEYS) with the current one, so the old key can be dropped
// once this has run.
func (s *Service) ResealStale(ctx context.Context) {
	ctx = system(ctx)
	conns, err := s.client.Connection.Query().Where(connection.CredentialsNotNil()).All(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.logger.ErrorContext(ctx, "listing credentials to re-encrypt", "err", err)
		}
		return
	}
	for _, c := range conns {
		if !s.keys.Stale(c.Credentials) {
			continue
		}
		creds, err := s.Credentials(c)
		if err != nil {
			s.logger.ErrorContext(ctx, "opening credentials to re-encrypt", "connection", c.ID, "err", err)
			continue
		}
		sealed, err := s.seal(c.ID, creds)
		if err != nil {
			continue
		}
		// Only if nobody changed them meanwhile (a renewal seals anew itself).
		n, err := s.client.Connection.Update().
			Where(connection.ID(c.ID), connection.UpdatedAt(c.UpdatedAt)).
			SetCredentials(sealed).
			Save(ctx)
		if err != nil {
			s.logger.ErrorContext(ctx, "re-encrypting credentials", "connection", c.ID, "err", err)
		} else if n == 1 {
			s.logger.InfoContext(ctx, "re-encrypted credentials with the current key", "connection", c.ID)
		}
	}
}
