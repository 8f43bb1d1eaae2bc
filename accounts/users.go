package accounts

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/user"
)

// An account's life after creation: renames, role changes, deactivation and
// password changes. Every change of what a user may see bumps its access
// version, which long-lived sessions (websockets) check before they deliver.

// OnSessionsEnded is told when a user's sessions ended (deactivation, a
// password change), so open websockets of that user are checked at once.
func (s *Service) OnSessionsEnded(f func(ctx context.Context, id pulid.ID)) { s.ended = f }

func (s *Service) sessionsEnded(ctx context.Context, id pulid.ID) {
	s.accessMoved(id)
	if s.ended != nil {
		s.ended(ctx, id)
	}
}

// OnAccessChanged is told which user's access changed (role, activation),
// after the change, so this process's subscriptions re-check at once.
func (s *Service) OnAccessChanged(f func(pulid.ID)) { s.onAccess = f }

func (s *Service) accessMoved(id pulid.ID) {
	if s.onAccess != nil {
		s.onAccess(id)
	}
}

// UserUpdate is updateUser's input; nil fields stay.
type UserUpdate struct {
	Name *string
	Role *user.Role
}

func (s *Service) user(ctx context.Context, id pulid.ID) (*ent.User, error) {
	u, err := s.client.User.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, &apperr.InputError{Field: "id", Message: fmt.Sprintf("user %s not found", id), Kind: apperr.ErrNotFound}
	}
	return u, err
}

func requireAdmin(ctx context.Context) error {
	v := auth.FromContext(ctx)
	switch {
	case v == nil:
		return apperr.ErrUnauthenticated
	case !v.Admin:
		return apperr.Forbiddenf("only administrators may manage users")
	}
	return nil
}

// lastAdmin refuses to leave the system without an active administrator.
func (s *Service) lastAdmin(ctx context.Context, u *ent.User, what string) error {
	if u.Role != user.RoleADMIN || u.DeactivatedAt != nil {
		return nil
	}
	others, err := s.client.User.Query().
		Where(user.RoleEQ(user.RoleADMIN), user.DeactivatedAtIsNil(), user.IDNEQ(u.ID)).Exist(system(ctx))
	if err != nil {
		return err
	}
	if !others {
		return apperr.Preconditionf("%s is the last active administrator and cannot be %s: make another administrator first", u.Email, what)
	}
	return nil
}

// UpdateUser renames a user or changes its role (administrators).
func (s *Service) UpdateUser(ctx context.Context, id pulid.ID, in UserUpdate) (*ent.User, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	u, err := s.user(ctx, id)
	if err != nil {
		return nil, err
	}
	upd := s.client.User.UpdateOne(u)
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if name == "" {
			return nil, apperr.Input("input.name", "must not be empty")
		}
		upd.SetName(name)
	}
	if in.Role != nil && *in.Role != u.Role {
		if err := user.RoleValidator(*in.Role); err != nil {
			return nil, apperr.Input("input.role", "must be ADMIN or MEMBER")
		}
		if *in.Role != user.RoleADMIN {
			if err := s.lastAdmin(ctx, u, "demoted"); err != nil {
				return nil, err
			}
		}
		upd.SetRole(*in.Role).AddAccessVersion(1)
	}
	u, err = upd.Save(ctx)
	if err == nil {
		s.accessMoved(u.ID)
	}
	return u, err
}

// Deactivate stops a user: it cannot sign in, and its tokens and sockets
// stop working at once (administrators).
func (s *Service) Deactivate(ctx context.Context, id pulid.ID) (*ent.User, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	u, err := s.user(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.DeactivatedAt != nil {
		return u, nil
	}
	if err := s.lastAdmin(ctx, u, "deactivated"); err != nil {
		return nil, err
	}
	now := time.Now()
	u, err = s.client.User.UpdateOne(u).SetDeactivatedAt(now).AddSessionEpoch(1).
		SetKeptSession("").AddAccessVersion(1).Save(ctx)
	if err == nil {
		s.sessionsEnded(ctx, u.ID)
	}
	return u, err
}

// Reactivate lets a deactivated user sign in again (administrators); the
// tokens it held stay void.
func (s *Service) Reactivate(ctx context.Context, id pulid.ID) (*ent.User, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	u, err := s.user(ctx, id)
	if err != nil {
		return nil, err
	}
	u, err = s.client.User.UpdateOne(u).ClearDeactivatedAt().AddAccessVersion(1).Save(ctx)
	if err == nil {
		s.accessMoved(u.ID)
	}
	return u, err
}

// ChangePassword replaces the viewer's password after checking the current
// one. Every other session of the user ends; this one stays signed in.
func (s *Service) ChangePassword(ctx context.Context, current, next string) error {
	v := auth.FromContext(ctx)
	if v == nil {
		return apperr.ErrUnauthenticated
	}
	u, err := s.client.User.Get(system(ctx), v.UserID)
	if err != nil {
		return err
	}
	if !auth.CheckPassword(u.PasswordHash, current) {
		return apperr.Input("currentPassword", "is not the current password")
	}
	if err := checkPassword("newPassword", next); err != nil {
		return err
	}
	hash, err := auth.HashPassword(next)
	if err != nil {
		return err
	}
	err = s.client.User.UpdateOne(u).SetPasswordHash(hash).AddSessionEpoch(1).
		SetKeptSession(v.Session).AddAccessVersion(1).Exec(system(ctx))
	if err == nil {
		s.sessionsEnded(ctx, u.ID)
	}
	return err
}

// checkPassword applies the password rules.
func checkPassword(field, password string) error {
	if len([]rune(password)) < auth.MinPasswordLength {
		return apperr.Input(field, "must be at least %d characters", auth.MinPasswordLength)
	}
	if len(password) > 72 {
		// bcrypt ignores everything past 72 bytes; refuse rather than silently truncate.
		return apperr.Input(field, "must be at most 72 bytes")
	}
	return nil
}

// sessionEnded says why a viewer's token no longer works: its user was
// deactivated, or its sessions were ended (all but the kept one) after the
// token was issued.
func sessionEnded(u *ent.User, v *auth.Viewer) error {
	if u.DeactivatedAt != nil {
		return apperr.Unauthenticatedf("the account was deactivated")
	}
	if v.Epoch != u.SessionEpoch && (u.KeptSession == "" || v.Session != u.KeptSession) {
		return apperr.Unauthenticatedf("the session ended (the password was changed): sign in again")
	}
	return nil
}

// Ended reports, for each viewer, whether its session ended since it was
// loaded, reading each user once (open websockets check themselves this way).
func (s *Service) Ended(ctx context.Context, viewers []*auth.Viewer) ([]bool, error) {
	var ids []pulid.ID
	for _, v := range viewers {
		if v != nil {
			ids = append(ids, v.UserID)
		}
	}
	users, err := s.client.User.Query().Where(user.IDIn(ids...)).All(system(ctx))
	if err != nil {
		return nil, err
	}
	byID := map[pulid.ID]*ent.User{}
	for _, u := range users {
		byID[u.ID] = u
	}
	out := make([]bool, len(viewers))
	for i, v := range viewers {
		if v == nil {
			continue
		}
		u := byID[v.UserID]
		out[i] = u == nil || sessionEnded(u, v) != nil
	}
	return out, nil
}
