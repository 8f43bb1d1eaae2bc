// Package conversations is the agents' workflow on a conversation: read,
// assign, status, tags. Every change is made with its conversationUpdated
// event in one transaction, under the campaign's access rules: AGENTs of
// the campaign may change its conversations, MANAGERs its tags.
package conversations

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/connections"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/campaignmember"
	"github.com/switchboard-chat/switchboard/ent/conversation"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/tag"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/platform"
)

// Service changes conversations and tags.
type Service struct {
	client *ent.Client
	w      *events.Writer
	conns  *connections.Service
	logger *slog.Logger
	now    func() time.Time
}

// New returns the service.
func New(client *ent.Client, w *events.Writer, conns *connections.Service, logger *slog.Logger) *Service {
	return &Service{client: client, w: w, conns: conns, logger: logger, now: time.Now}
}

func system(ctx context.Context) context.Context { return privacy.DecisionContext(ctx, privacy.Allow) }

// get loads a conversation the viewer may see.
func (s *Service) get(ctx context.Context, id pulid.ID) (*ent.Conversation, error) {
	c, err := s.client.Conversation.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, &apperr.InputError{Field: "id", Message: fmt.Sprintf("conversation %s not found", id), Kind: apperr.ErrNotFound}
	}
	return c, err
}

// change updates a conversation with the viewer's rights and announces it.
func (s *Service) change(ctx context.Context, id pulid.ID, set func(*ent.ConversationUpdateOne) error) (*ent.Conversation, error) {
	if _, err := s.get(ctx, id); err != nil {
		return nil, err
	}
	var c *ent.Conversation
	err := s.w.Do(ctx, func(tx *ent.Tx) ([]events.Event, error) {
		upd := tx.Conversation.UpdateOneID(id)
		if err := set(upd); err != nil {
			return nil, err
		}
		var err error
		if c, err = upd.Save(ctx); err != nil {
			return nil, err
		}
		return []events.Event{{Type: events.ConversationUpdated, CampaignID: c.CampaignID, ConversationID: c.ID, EntityID: c.ID}}, nil
	})
	if err != nil {
		return nil, err
	}
	return c.Unwrap(), nil
}

// MarkRead sets the conversation read by the viewer, now. Where the platform
// can (Messenger), the customer is shown it was seen; that is best effort.
func (s *Service) MarkRead(ctx context.Context, id pulid.ID) (*ent.Conversation, error) {
	v := auth.FromContext(ctx)
	if v == nil {
		return nil, apperr.ErrUnauthenticated
	}
	c, err := s.change(ctx, id, func(u *ent.ConversationUpdateOne) error {
		u.SetUnreadCount(0).SetReadAt(s.now()).SetReadByID(v.UserID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.markSeen(ctx, c)
	return c, nil
}

func (s *Service) markSeen(ctx context.Context, c *ent.Conversation) {
	ctx = system(ctx)
	conv, err := s.client.Conversation.Query().Where(conversation.ID(c.ID)).WithConnection().WithContact().Only(ctx)
	if err != nil || conv.Edges.Connection.Status == "INACTIVE" {
		return
	}
	ch, acct, err := s.conns.Account(conv.Edges.Connection)
	if err != nil {
		return
	}
	if marker, ok := ch.(platform.SeenMarker); ok {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := marker.MarkSeen(ctx, acct, conv.Edges.Contact.ExternalID); err != nil {
			s.logger.WarnContext(ctx, "showing the customer the conversation was read", "conversation", c.ID, "err", err)
		}
	}
}

// Assign makes a member of the conversation's campaign responsible for it;
// nil unassigns.
func (s *Service) Assign(ctx context.Context, id pulid.ID, assignee *pulid.ID) (*ent.Conversation, error) {
	c, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if assignee != nil {
		member, err := s.client.CampaignMember.Query().
			Where(campaignmember.CampaignID(c.CampaignID), campaignmember.UserID(*assignee)).Exist(system(ctx))
		if err != nil {
			return nil, err
		}
		if !member {
			return nil, apperr.Input("assigneeID", "user %s is not a member of this conversation's campaign", *assignee)
		}
	}
	return s.change(ctx, id, func(u *ent.ConversationUpdateOne) error {
		if assignee == nil {
			u.ClearAssigneeID()
		} else {
			u.SetAssigneeID(*assignee)
		}
		return nil
	})
}

// SetStatus sets OPEN, PENDING or RESOLVED.
func (s *Service) SetStatus(ctx context.Context, id pulid.ID, status conversation.Status) (*ent.Conversation, error) {
	return s.change(ctx, id, func(u *ent.ConversationUpdateOne) error {
		u.SetStatus(status)
		return nil
	})
}

// TagInput is createTag's input.
type TagInput struct {
	CampaignID pulid.ID
	Name       string
	Color      *string
}

// TagUpdate is updateTag's input; nil fields stay.
type TagUpdate struct {
	Name  *string
	Color *string
}

func tagName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", apperr.Input("input.name", "must not be empty")
	}
	return name, nil
}

func tagConflict(err error, name string) error {
	if ent.IsConstraintError(err) {
		return &apperr.InputError{Field: "input.name", Message: fmt.Sprintf("the campaign already has a tag %q", name), Kind: apperr.ErrConflict}
	}
	return err
}

// CreateTag creates a tag of a campaign.
func (s *Service) CreateTag(ctx context.Context, in TagInput) (*ent.Tag, error) {
	name, err := tagName(in.Name)
	if err != nil {
		return nil, err
	}
	if _, err := s.client.Campaign.Get(ctx, in.CampaignID); ent.IsNotFound(err) {
		return nil, &apperr.InputError{Field: "input.campaignID", Message: fmt.Sprintf("campaign %s not found", in.CampaignID), Kind: apperr.ErrNotFound}
	} else if err != nil {
		return nil, err
	}
	create := s.client.Tag.Create().SetCampaignID(in.CampaignID).SetName(name)
	if c := platform.Trimmed(in.Color); c != "" {
		create.SetColor(c)
	}
	t, err := create.Save(ctx)
	return t, tagConflict(err, name)
}

// UpdateTag renames or recolours a tag.
func (s *Service) UpdateTag(ctx context.Context, id pulid.ID, in TagUpdate) (*ent.Tag, error) {
	t, err := s.tag(ctx, id)
	if err != nil {
		return nil, err
	}
	upd := s.client.Tag.UpdateOne(t)
	name := t.Name
	if in.Name != nil {
		if name, err = tagName(*in.Name); err != nil {
			return nil, err
		}
		upd.SetName(name)
	}
	if in.Color != nil {
		upd.SetColor(platform.Or(in.Color, "#9ca3af"))
	}
	t, err = upd.Save(ctx)
	return t, tagConflict(err, name)
}

// DeleteTag deletes a tag, taking it off its conversations, and returns its id.
func (s *Service) DeleteTag(ctx context.Context, id pulid.ID) (pulid.ID, error) {
	t, err := s.tag(ctx, id)
	if err != nil {
		return "", err
	}
	err = s.w.Do(ctx, func(tx *ent.Tx) ([]events.Event, error) {
		convs, err := tx.Conversation.Query().Where(conversation.HasTagsWith(tag.ID(t.ID))).All(ctx)
		if err != nil {
			return nil, err
		}
		if err := tx.Tag.DeleteOne(t).Exec(ctx); err != nil {
			return nil, err
		}
		var evs []events.Event
		for _, c := range convs {
			evs = append(evs, events.Event{Type: events.ConversationUpdated, CampaignID: c.CampaignID, ConversationID: c.ID, EntityID: c.ID})
		}
		return evs, nil
	})
	return t.ID, err
}

func (s *Service) tag(ctx context.Context, id pulid.ID) (*ent.Tag, error) {
	t, err := s.client.Tag.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, &apperr.InputError{Field: "id", Message: fmt.Sprintf("tag %s not found", id), Kind: apperr.ErrNotFound}
	}
	return t, err
}

// AddTags puts tags of the conversation's campaign on it.
func (s *Service) AddTags(ctx context.Context, id pulid.ID, tagIDs []pulid.ID) (*ent.Conversation, error) {
	if err := s.sameCampaign(ctx, id, tagIDs); err != nil {
		return nil, err
	}
	return s.change(ctx, id, func(u *ent.ConversationUpdateOne) error {
		u.AddTagIDs(tagIDs...)
		return nil
	})
}

// RemoveTags takes tags off the conversation.
func (s *Service) RemoveTags(ctx context.Context, id pulid.ID, tagIDs []pulid.ID) (*ent.Conversation, error) {
	if err := s.sameCampaign(ctx, id, tagIDs); err != nil {
		return nil, err
	}
	return s.change(ctx, id, func(u *ent.ConversationUpdateOne) error {
		u.RemoveTagIDs(tagIDs...)
		return nil
	})
}

// sameCampaign checks the tags are the conversation's campaign's.
func (s *Service) sameCampaign(ctx context.Context, id pulid.ID, tagIDs []pulid.ID) error {
	c, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	if len(tagIDs) == 0 {
		return apperr.Input("tagIDs", "name at least one tag")
	}
	n, err := s.client.Tag.Query().Where(tag.IDIn(tagIDs...), tag.CampaignID(c.CampaignID)).Count(system(ctx))
	if err != nil {
		return err
	}
	if n != len(uniq(tagIDs)) {
		return apperr.Input("tagIDs", "every tag must be one of the conversation's campaign")
	}
	return nil
}

func uniq(ids []pulid.ID) map[pulid.ID]bool {
	m := map[pulid.ID]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}
