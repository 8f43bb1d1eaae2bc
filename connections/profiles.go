package connections

import (
	"context"
	"sync"
	"time"

	"github.com/switchboard-chat/switchboard/contacts"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/platform"
)

// profiles fills in the names and avatars that Messenger and Zalo webhooks
// do not carry, from the platforms' profile APIs, off the processing path:
// ingest asks, a background worker calls the platform.
type profiles struct {
	queue chan profileWant
	mu    sync.Mutex
	tried map[pulid.ID]time.Time
}

// WantProfile asks for a contact's profile to be fetched through the
// connection it was heard from. It never blocks: when the queue is full the
// request is dropped, and the next event of that contact asks again.
func (s *Service) WantProfile(contactID, connectionID pulid.ID) {
	w := profileWant{Contact: contactID, Connection: connectionID}
	s.prof.mu.Lock()
	if t, ok := s.prof.tried[contactID]; ok && time.Since(t) < 10*time.Minute {
		s.prof.mu.Unlock()
		return
	}
	s.prof.tried[contactID] = time.Now()
	if len(s.prof.tried) > 100000 {
		clear(s.prof.tried)
	}
	s.prof.mu.Unlock()
	select {
	case s.prof.queue <- w:
	default:
	}
}

// RunProfiles fetches requested profiles until ctx ends.
func (s *Service) RunProfiles(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case w := <-s.prof.queue:
			if err := s.fillProfile(ctx, w); err != nil && ctx.Err() == nil {
				s.logger.WarnContext(ctx, "fetching a contact's profile", "contact", w.Contact, "err", err)
			}
		}
	}
}

// profileWant is a contact whose profile to fetch, and the connection to ask.
type profileWant struct{ Contact, Connection pulid.ID }

func (s *Service) fillProfile(ctx context.Context, w profileWant) error {
	ctx = system(ctx)
	id := w.Contact
	ct, err := s.client.Contact.Get(ctx, id)
	if err != nil || ct.Name != "" {
		return err
	}
	// The connection the customer was heard from: a customer who only
	// followed or consented has no conversation yet.
	conn, err := s.client.Connection.Get(ctx, w.Connection)
	if err != nil {
		return err
	}
	if conn.Status != connection.StatusACTIVE {
		return nil
	}
	ch, acct, err := s.Account(conn)
	if err != nil {
		return err
	}
	fetcher, ok := ch.(platform.ProfileFetcher)
	if !ok {
		return nil
	}
	p, err := fetcher.Profile(ctx, acct, ct.ExternalID)
	if err != nil {
		// A dead token is worth recording, unless renewing it may bring it back.
		if _, renews := ch.(platform.TokenRenewer); platform.IsAuth(err) && !renews {
			return s.MarkAuthFailed(ctx, conn.ID, err)
		}
		return err
	}
	if p.Name == "" && p.AvatarURL == "" {
		return nil
	}
	return s.w.Do(ctx, func(tx *ent.Tx) ([]events.Event, error) {
		upd := tx.Contact.UpdateOneID(id).SetName(p.Name)
		if p.AvatarURL != "" {
			upd.SetAvatarURL(p.AvatarURL)
		}
		if err := upd.Exec(ctx); err != nil {
			return nil, err
		}
		return contacts.Changed(ctx, tx, ct.CampaignID, id)
	})
}
