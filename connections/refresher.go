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
