package calls

import (
	"context"
	"fmt"
	"strings"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/campaign"
	"github.com/switchboard-chat/switchboard/ent/campaignmember"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
)

// SoftphoneInput is what omiSDK.register needs for a user: the call
// center's domain and the user's extension and its password.
type SoftphoneInput struct {
	Domain   string `json:"domain"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// SoftphoneConfig is the viewer's own registration, password included.
type SoftphoneConfig = SoftphoneInput

// SoftphoneInfo is a user's registration as managers see it: never the password.
type SoftphoneInfo struct {
	Domain     string `json:"domain"`
	Username   string `json:"username"`
	Configured bool   `json:"configured"`
}

func system(ctx context.Context) context.Context { return privacy.DecisionContext(ctx, privacy.Allow) }

// aad binds a sealed password to its user, so it cannot be moved to another.
func aad(id pulid.ID) []byte { return []byte("softphone:" + string(id)) }

// manages reports whether the viewer may manage the user's softphone: an
// administrator, or a manager of a campaign the user belongs to.
func manages(ctx context.Context, client *ent.Client, v *auth.Viewer, id pulid.ID) (bool, error) {
	if v.Admin {
		return true, nil
	}
	return client.CampaignMember.Query().Where(
		campaignmember.UserID(v.UserID), campaignmember.RoleEQ(campaignmember.RoleMANAGER),
		campaignmember.HasCampaignWith(campaign.HasMembersWith(campaignmember.UserID(id))),
	).Exist(system(ctx))
}

// SetSoftphone records the user's softphone registration, the password
// sealed like channel credentials.
func (s *Service) SetSoftphone(ctx context.Context, id pulid.ID, in SoftphoneInput) (*ent.User, error) {
	v := auth.FromContext(ctx)
	if v == nil {
		return nil, apperr.ErrUnauthenticated
	}
	ok, err := manages(ctx, s.client, v, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, apperr.Forbiddenf("only administrators, and managers of a campaign the user belongs to, may set a user's softphone")
	}
	if _, err := s.client.User.Get(system(ctx), id); err != nil {
		if ent.IsNotFound(err) {
			return nil, &apperr.InputError{Field: "userID", Message: fmt.Sprintf("user %s not found", id), Kind: apperr.ErrNotFound}
		}
		return nil, err
	}
	domain, username := strings.TrimSpace(in.Domain), strings.TrimSpace(in.Username)
	for _, f := range []struct{ name, value string }{{"domain", domain}, {"username", username}, {"password", in.Password}} {
		switch {
		case f.value == "":
			return nil, apperr.Input("input."+f.name, "must not be empty")
		case len(f.value) > 255:
			return nil, apperr.Input("input."+f.name, "at most 255 characters")
		}
	}
	if strings.ContainsAny(domain, " /\t\n") {
		return nil, apperr.Input("input.domain", "%q is not a call center domain (the domain OmiCall gave, without scheme or path)", domain)
	}
	sealed, err := s.keys.Seal([]byte(in.Password), aad(id))
	if err != nil {
		return nil, err
	}
	u, err := s.client.User.UpdateOneID(id).SetSoftphoneDomain(domain).SetSoftphoneUsername(username).
		SetSoftphoneSecret(sealed).Save(system(ctx))
	if err != nil {
		return nil, err
	}
	return u, nil
}

// SoftphoneConfig returns the viewer's own registration, for
// omiSDK.register; nil when none is set.
func (s *Service) SoftphoneConfig(ctx context.Context) (*SoftphoneConfig, error) {
	v := auth.FromContext(ctx)
	if v == nil {
		return nil, apperr.ErrUnauthenticated
	}
	u, err := s.client.User.Get(system(ctx), v.UserID)
	if err != nil {
		return nil, err
	}
	if len(u.SoftphoneSecret) == 0 {
		return nil, nil
	}
	plain, err := s.keys.Open(u.SoftphoneSecret, aad(u.ID))
	if err != nil {
		return nil, fmt.Errorf("opening the softphone password of %s: %w", u.ID, err)
	}
	if s.keys.Stale(u.SoftphoneSecret) {
		// Sealed with a retired key: move it to the current one while it is open.
		if sealed, err := s.keys.Seal(plain, aad(u.ID)); err == nil {
			_ = s.client.User.UpdateOneID(u.ID).SetSoftphoneSecret(sealed).Exec(system(ctx))
		}
	}
	return &SoftphoneConfig{Domain: u.SoftphoneDomain, Username: u.SoftphoneUsername, Password: string(plain)}, nil
}

// Softphone returns what the viewer may see of u's registration: the user
// themself and those who may set it see the domain and extension; others nothing.
func (s *Service) Softphone(ctx context.Context, u *ent.User) (*SoftphoneInfo, error) {
	v := auth.FromContext(ctx)
	if v == nil {
		return nil, apperr.ErrUnauthenticated
	}
	if v.UserID != u.ID {
		ok, err := manages(ctx, s.client, v, u.ID)
		if err != nil || !ok {
			return nil, err
		}
	}
	// u may hold only the columns the query asked for.
	u, err := s.client.User.Get(system(ctx), u.ID)
	if err != nil {
		return nil, err
	}
	if len(u.SoftphoneSecret) == 0 && u.SoftphoneUsername == "" {
		return &SoftphoneInfo{}, nil
	}
	return &SoftphoneInfo{Domain: u.SoftphoneDomain, Username: u.SoftphoneUsername, Configured: len(u.SoftphoneSecret) > 0}, nil
}
