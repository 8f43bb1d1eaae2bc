package connections

import (
	"context"
	"errors"
	"strings"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/platform"
)

// SwitchAccount moves a connection to another account of its platform (the
// seed's "Edit → choose another Page/Bot"): the connection keeps its id,
// name, members' view and conversations, and new traffic comes from the new
// account. It is all or nothing: the new account is checked with the
// platform and its webhook registered inside the transaction that stores
// it, and undone if that fails, so a failed switch leaves the connection
// on its old account, still delivering. Only once the switch is committed is
// the old account's webhook removed (best effort, as on disconnect: its
// deliveries no longer verify or route here anyway).
func (s *Service) SwitchAccount(ctx context.Context, id pulid.ID, in platform.SwitchInput) (*ent.Connection, error) {
	c, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Status == connection.StatusINACTIVE {
		return nil, apperr.Input("id", "the connection was disconnected: connect the new account instead")
	}
	ch, old, err := s.Account(c)
	if err != nil {
		return nil, err
	}
	cin, err := ch.SwitchInput(old.Credentials, c.CampaignID, in)
	if err != nil {
		return nil, err
	}
	plan, err := ch.Connect(ctx, cin)
	if err != nil {
		return nil, underInput(err)
	}
	if len(plan.Accounts) != 1 {
		return nil, apperr.Input("input", "choose exactly one %s account to move the connection to", ch.Title())
	}
	a := plan.Accounts[0]
	same := a.ExternalID == c.ExternalID
	if !same {
		if err := s.checkFree(ctx, ch.Platform(), a.ExternalID, a.Title); err != nil {
			return nil, err
		}
	}
	acct := platform.Account{ConnectionID: c.ID, ExternalID: a.ExternalID, Credentials: a.Credentials,
		TokenExpiresAt: a.TokenExpiresAt, WebhookURL: s.WebhookURL(ch.Platform(), c.ID)}
	var undo platform.Undo
	var moved *ent.Connection
	sys := system(ctx)
	err = s.w.Do(sys, func(tx *ent.Tx) ([]events.Event, error) {
		// The row lock keeps a token renewal from writing the old account's
		// credentials back over the new ones.
		locked, err := tx.Connection.Query().Where(connection.ID(c.ID)).ForUpdate().Only(sys)
		if err != nil {
			return nil, err
		}
		if locked.Status == connection.StatusINACTIVE {
			return nil, apperr.Input("id", "the connection was disconnected meanwhile: connect the new account instead")
		}
		sealed, err := s.seal(c.ID, a.Credentials)
		if err != nil {
			return nil, err
		}
		if moved, err = freshAccount(tx.Connection.UpdateOne(locked), a, sealed).SetExternalID(a.ExternalID).Save(sys); err != nil {
			if ent.IsConstraintError(err) {
				return nil, apperr.Conflictf("%s is already connected to a campaign", a.Title)
			}
			return nil, err
		}
		if plan.Register != nil {
			if undo, err = plan.Register(ctx, []platform.Account{acct}); err != nil {
				return nil, err
			}
		}
		return []events.Event{events.Connection(moved)}, nil
	})
	if err != nil {
		s.switchFailed(ctx, ch, old, undo, same)
		return nil, err
	}
	moved = moved.Unwrap()
	// The old account's routes go too: its events must stop reaching the connection at once.
	s.changed(moved, c)
	if !same {
		if err := ch.Unregister(ctx, old); err != nil {
			s.logger.WarnContext(ctx, "removing the old account's webhook after a switch", "connection", c.ID, "account", c.ExternalID, "err", err)
		}
	}
	s.rerouteNew(ctx, moved)
	return moved, nil
}

// switchFailed undoes what a failed switch registered. When the account did
// not change, undoing would remove the very webhook the connection still
// runs on: it is registered again with the old credentials instead.
func (s *Service) switchFailed(ctx context.Context, ch platform.Channel, old platform.Account, undo platform.Undo, same bool) {
	var err error
	switch {
	case undo == nil:
		return
	case same:
		uctx, cancel := platform.UndoContext()
		defer cancel()
		err = ch.Reconnect(uctx, old)
	default:
		err = undo()
	}
	if err != nil {
		s.logger.ErrorContext(ctx, "undoing the platform side of a failed switch", "connection", old.ConnectionID, "err", err)
	}
}

// underInput names a connect's input errors as fields of switchConnectionAccount's input.
func underInput(err error) error {
	var ie *apperr.InputError
	if errors.As(err, &ie) && !strings.HasPrefix(ie.Field, "input") {
		field := ie.Field
		if field == "pageIDs" {
			field = "pageID" // one connection is one page
		}
		return &apperr.InputError{Field: "input." + field, Message: ie.Message, Kind: ie.Kind}
	}
	return err
}
