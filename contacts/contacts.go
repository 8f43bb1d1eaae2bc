// Package contacts keeps what agents record about customers (a name, a
// phone number, the business's own customer id) and the one form phone
// numbers are stored in, so that a call finds the customer it is with.
package contacts

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/conversation"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/events"
)

// Service changes contacts.
type Service struct {
	client *ent.Client
	w      *events.Writer
}

// New returns the service.
func New(client *ent.Client, w *events.Writer) *Service {
	return &Service{client: client, w: w}
}

// Update is updateContact's input; nil fields stay, an empty phone or
// customer id clears it.
type Update struct {
	Name       *string
	Phone      *string
	CustomerID *string
}

// Limits of what an agent may record.
const (
	maxName       = 200
	maxCustomerID = 200
)

// Update records what an agent learnt about a customer. Every conversation
// with the customer is announced (conversationUpdated), so the agents who
// have it open see the change.
func (s *Service) Update(ctx context.Context, id pulid.ID, in Update) (*ent.Contact, error) {
	if _, err := s.client.Contact.Get(ctx, id); err != nil {
		if ent.IsNotFound(err) {
			return nil, &apperr.InputError{Field: "id", Message: fmt.Sprintf("contact %s not found", id), Kind: apperr.ErrNotFound}
		}
		return nil, err
	}
	var c *ent.Contact
	err := s.w.Do(ctx, func(tx *ent.Tx) ([]events.Event, error) {
		upd := tx.Contact.UpdateOneID(id)
		if in.Name != nil {
			name := strings.TrimSpace(*in.Name)
			switch {
			case name == "":
				return nil, apperr.Input("input.name", "must not be empty")
			case utf8.RuneCountInString(name) > maxName:
				return nil, apperr.Input("input.name", "at most %d characters", maxName)
			}
			upd.SetName(name)
		}
		if in.Phone != nil {
			switch p := strings.TrimSpace(*in.Phone); p {
			case "":
				upd.ClearPhone()
			default:
				e164, ok := NormalizePhone(p)
				if !ok {
					return nil, apperr.Input("input.phone", "%q is not a phone number: give it with its country code (+84 91 234 5678) or as a Vietnamese number (0912345678)", p)
				}
				upd.SetPhone(e164)
			}
		}
		if in.CustomerID != nil {
			switch id := strings.TrimSpace(*in.CustomerID); {
			case id == "":
				upd.ClearCustomerID()
			case utf8.RuneCountInString(id) > maxCustomerID:
				return nil, apperr.Input("input.customerID", "at most %d characters", maxCustomerID)
			default:
				upd.SetCustomerID(id)
			}
		}
		var err error
		if c, err = upd.Save(ctx); err != nil {
			return nil, err
		}
		return Changed(ctx, tx, c.CampaignID, id)
	})
	if err != nil {
		return nil, err
	}
	return c.Unwrap(), nil
}

// Changed returns the events that announce a change to a contact: agents
// see a contact in its conversations, so each of them is updated; a contact
// with none yet has nobody watching it.
func Changed(ctx context.Context, tx *ent.Tx, campaign, id pulid.ID) ([]events.Event, error) {
	convs, err := tx.Conversation.Query().Where(conversation.ContactID(id)).IDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("finding the conversations of contact %s: %w", id, err)
	}
	evs := make([]events.Event, len(convs))
	for i, cv := range convs {
		evs[i] = events.Event{Type: events.ConversationUpdated, CampaignID: campaign, ConversationID: cv, EntityID: cv}
	}
	return evs, nil
}
