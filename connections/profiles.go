package connections

import (
	"context"
	"sync"
	"time"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/conversation"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
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
func (s *Service) RunProfiles(ctx context.Context, n Notifier) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-s.prof.queue:
			if err := s.fillProfile(ctx, id, n); err != nil {
				s.logger.WarnContext(ctx, "fetching a contact's profile", "contact", id, "err", err)
			}
		}
	}
}

// Notifier learns that events were committed.
type Notifier interface{ Committed() }

func (s *Service) fillProfile(ctx context.Context, id pulid.ID, n Notifier) error {
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
	if conn.Status != "ACTIVE" {
		return nil
	}
	creds, err := s.Credentials(conn)
	if err != nil {
		return err
	}
	var name, avatar string
	switch conn.Platform {
	case schematype.PlatformFacebook:
		p, err := s.p.Facebook.UserProfile(ctx, ct.ExternalID, creds.PageAccessToken)
		if err != nil {
			return s.profileError(ctx, conn, err)
		}
		name, avatar = p.Name, p.AvatarURL
	case schematype.PlatformZalo:
		p, err := s.p.Zalo.UserDetail(ctx, creds.AccessToken, ct.ExternalID)
		if err != nil {
			return s.profileError(ctx, conn, err)
		}
		name, avatar = p.Name, p.AvatarURL
	default:
		return nil
	}
	if name == "" && avatar == "" {
		return nil
	}
	tx, err := s.client.Tx(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	upd := tx.Contact.UpdateOneID(id).SetName(name)
	if avatar != "" {
		upd.SetAvatarURL(avatar)
	}
	if err := upd.Exec(ctx); err != nil {
		return err
	}
	// Lists show the contact through its conversations: tell their watchers.
	convs, err := tx.Conversation.Query().Where(conversation.ContactID(id)).All(ctx)
	if err != nil {
		return err
	}
	var evs []events.Event
	for _, c := range convs {
		evs = append(evs, events.Event{Type: events.ConversationUpdated, CampaignID: c.CampaignID, ConversationID: c.ID, EntityID: c.ID})
	}
	if err := events.Append(ctx, tx.Client(), evs...); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	n.Committed()
	return nil
}

// profileError records a dead token on the connection; other failures only
// mean the name stays unknown for now.
func (s *Service) profileError(ctx context.Context, conn *ent.Connection, err error) error {
	if platform.IsAuth(err) && conn.Platform == schematype.PlatformFacebook {
		return s.MarkAuthFailed(ctx, conn.ID, err)
	}
	return err
}
