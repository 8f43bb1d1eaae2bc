// Package campaigns holds the rules for campaigns and their members. Access is
// enforced by the ent privacy policies; this package validates and orchestrates.
package campaigns

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/campaignmember"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
)

// Service is the campaigns domain service.
type Service struct {
	client   *ent.Client
	onAccess func(pulid.ID)
}

// New returns the campaigns service.
func New(client *ent.Client) *Service { return &Service{client: client} }

// Create validates and stores a new campaign.
func (s *Service) Create(ctx context.Context, in ent.CreateCampaignInput) (*ent.Campaign, error) {
	name, err := cleanName(in.Name)
	if err != nil {
		return nil, err
	}
	in.Name = name
	return s.client.Campaign.Create().SetInput(in).Save(ctx)
}

// Update changes a campaign's name or description.
func (s *Service) Update(ctx context.Context, id pulid.ID, in ent.UpdateCampaignInput) (*ent.Campaign, error) {
	if in.Name != nil {
		name, err := cleanName(*in.Name)
		if err != nil {
			return nil, err
		}
		in.Name = &name
	}
	return s.client.Campaign.UpdateOneID(id).SetInput(in).Save(ctx)
}

// Archive marks a campaign archived; it keeps all its data. Archiving twice keeps the first time.
func (s *Service) Archive(ctx context.Context, id pulid.ID) (*ent.Campaign, error) {
	c, err := s.client.Campaign.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.ArchivedAt != nil {
		return c, nil
	}
	return s.client.Campaign.UpdateOne(c).SetArchivedAt(time.Now()).Save(ctx)
}

// Unarchive brings an archived campaign back.
func (s *Service) Unarchive(ctx context.Context, id pulid.ID) (*ent.Campaign, error) {
	return s.client.Campaign.UpdateOneID(id).ClearArchivedAt().Save(ctx)
}

// AddMember gives userID the role in campaignID, or changes the role of an existing member.
func (s *Service) AddMember(ctx context.Context, campaignID, userID pulid.ID, role campaignmember.Role) (*ent.CampaignMember, error) {
	if err := campaignmember.RoleValidator(role); err != nil {
		return nil, apperr.Input("role", "must be MANAGER or AGENT")
	}
	// The user must be visible to the caller: admins see everyone, managers
	// only people they already share a campaign with. An admin adds strangers.
	if _, err := s.client.User.Get(ctx, userID); err != nil {
		if ent.IsNotFound(err) {
			return nil, &apperr.InputError{Field: "userID", Message: fmt.Sprintf("user %s not found", userID), Kind: apperr.ErrNotFound}
		}
		return nil, err
	}
	if _, err := s.client.Campaign.Get(ctx, campaignID); err != nil {
		if ent.IsNotFound(err) {
			return nil, &apperr.InputError{Field: "campaignID", Message: fmt.Sprintf("campaign %s not found", campaignID), Kind: apperr.ErrNotFound}
		}
		return nil, err
	}
	id, err := s.client.CampaignMember.Create().
		SetCampaignID(campaignID).
		SetUserID(userID).
		SetRole(role).
		OnConflictColumns(campaignmember.FieldCampaignID, campaignmember.FieldUserID).
		UpdateRole().
		UpdateUpdatedAt().
		ID(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.accessChanged(ctx, userID); err != nil {
		return nil, err
	}
	return s.client.CampaignMember.Get(ctx, id)
}

// RemoveMember takes userID out of campaignID and reports whether it was a member.
func (s *Service) RemoveMember(ctx context.Context, campaignID, userID pulid.ID) (bool, error) {
	m, err := s.client.CampaignMember.Query().
		Where(campaignmember.CampaignID(campaignID), campaignmember.UserID(userID)).
		Only(ctx)
	if ent.IsNotFound(err) {
		// Either not a member, or not visible to the caller: make sure the
		// campaign itself is visible so a stranger learns nothing.
		if _, err := s.client.Campaign.Get(ctx, campaignID); err != nil {
			return false, err
		}
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := s.client.CampaignMember.DeleteOne(m).Exec(ctx); err != nil {
		return false, err
	}
	return true, s.accessChanged(ctx, userID)
}

// accessChanged bumps the user's access version: its open subscriptions
// re-check what it may see before they deliver again.
func (s *Service) accessChanged(ctx context.Context, userID pulid.ID) error {
	err := s.client.User.UpdateOneID(userID).AddAccessVersion(1).Exec(privacy.DecisionContext(ctx, privacy.Allow))
	if err == nil && s.onAccess != nil {
		s.onAccess(userID)
	}
	return err
}

// OnAccessChanged is told which user's access changed, after the change, so
// this process's subscriptions re-check at once (others within a second).
func (s *Service) OnAccessChanged(f func(pulid.ID)) { s.onAccess = f }

// ViewerRole returns the signed-in user's role in the campaign, or nil.
func (s *Service) ViewerRole(ctx context.Context, c *ent.Campaign) (*campaignmember.Role, error) {
	v := auth.FromContext(ctx)
	if v == nil {
		return nil, apperr.ErrUnauthenticated
	}
	m, err := s.client.CampaignMember.Query().
		Where(campaignmember.CampaignID(c.ID), campaignmember.UserID(v.UserID)).
		Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &m.Role, nil
}

func cleanName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", apperr.Input("name", "must not be empty")
	}
	if len([]rune(name)) > 200 {
		return "", apperr.Input("name", "must be at most 200 characters")
	}
	return name, nil
}
