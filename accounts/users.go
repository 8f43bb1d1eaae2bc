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
	return upd.Save(ctx)
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
	return s.client.User.UpdateOne(u).SetDeactivatedAt(now).SetSessionsValidAfter(now.Truncate(time.Second)).
		SetKeptSession("").AddAccessVersion(1).Save(ctx)
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
	return s.client.User.UpdateOne(u).ClearDeactivatedAt().AddAccessVersion(1).Save(ctx)
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
	// Tokens carry their issue time in whole seconds: one issued later in
	// this second still works.
	return s.client.User.UpdateOne(u).SetPasswordHash(hash).SetSessionsValidAfter(time.Now().Truncate(time.Second)).
		SetKeptSession(v.Session).AddAccessVersion(1).Exec(system(ctx))
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
