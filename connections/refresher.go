package connections

import (
	"context"
	"time"

	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
)

// RefreshMargin is how long before expiry a Zalo access token is renewed.
const RefreshMargin = 30 * time.Minute

// RunRefresher renews expiring Zalo tokens every interval until ctx ends.
// Every replica may run it: RefreshZalo serialises per OA.
func (s *Service) RunRefresher(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	s.ResealStale(ctx)
	for {
		s.RefreshDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RefreshDue renews every live Zalo token that expires within RefreshMargin.
func (s *Service) RefreshDue(ctx context.Context) {
	due, err := s.client.Connection.Query().
		Where(
			connection.PlatformEQ(schematype.PlatformZalo),
			connection.StatusEQ(connection.StatusACTIVE),
			connection.TokenExpiresAtLT(s.now().Add(RefreshMargin)),
		).
		IDs(system(ctx))
	if err != nil {
		s.logger.ErrorContext(ctx, "finding zalo tokens to renew", "err", err)
		return
	}
	for _, id := range due {
		if ctx.Err() != nil {
			return
		}
		if _, err := s.RefreshZalo(ctx, id, false); err != nil {
			// Transient: the next round tries again, well before expiry.
			s.logger.WarnContext(ctx, "renewing zalo token", "connection", id, "err", err)
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
		s.logger.ErrorContext(ctx, "listing credentials to re-encrypt", "err", err)
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
		// Only if nobody changed them meanwhile (a refresh seals anew itself).
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
