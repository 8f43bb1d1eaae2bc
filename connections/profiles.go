package connections

import (
	"context"
	"sync"
	"time"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/conversation"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/platform"
)

// profiles fills in the names and avatars that Messenger and Zalo webhooks
// do not carry, from the platforms' profile APIs, off the processing path:
// ingest asks, a background worker calls the platform.
type profiles struct {
	queue chan pulid.ID
	mu    sync.Mutex
	tried map[pulid.ID]time.Time
}

// WantProfile asks for a contact's profile to be fetched. It never blocks:
// when the queue is full the request is dropped, and the next message of
// that contact asks again.
func (s *Service) WantProfile(contactID pulid.ID) {
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
	case s.prof.queue <- contactID:
	default:
	}
}

// RunProfiles fetches requested profiles until ctx ends.
func (s *Service) RunProfiles(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-s.prof.queue:
			if err := s.fillProfile(ctx, id); err != nil && ctx.Err() == nil {
				s.logger.WarnContext(ctx, "fetching a contact's profile", "contact", id, "err", err)
			}
		}
	}
}

func (s *Service) fillProfile(ctx context.Context, id pulid.ID) error {
	ctx = system(ctx)
	ct, err := s.client.Contact.Get(ctx, id)
	if err != nil || ct.Name != "" {
		return err
	}
	conv, err := s.client.Conversation.Query().Where(conversation.ContactID(id)).WithConnection().First(ctx)
	if err != nil {
		return err
	}
	conn := conv.Edges.Connection
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
		// Lists show the contact through its conversations: tell their watchers.
		convs, err := tx.Conversation.Query().Where(conversation.ContactID(id)).All(ctx)
		if err != nil {
			return nil, err
		}
		var evs []events.Event
		for _, c := range convs {
			evs = append(evs, events.Event{Type: events.ConversationUpdated, CampaignID: c.CampaignID, ConversationID: c.ID, EntityID: c.ID})
		}
		return evs, nil
	})
}
