package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard-chat/switchboard/contacts"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/contact"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/events"
)

// Events about the customer rather than a message: following the account,
// consenting to be messaged, the platform refusing the business's id for
// them. upsertContacts has found or created the contact (a customer may
// consent on the business's website before ever writing), and with it taken
// the business's id when the contact had none.

// maxSyncError bounds the platform's explanation kept on a contact.
const maxSyncError = 500

// follow records that the customer followed or unfollowed the account.
// Platforms retry with an event's original timestamp, so an older event can
// arrive after a newer one: only an event newer than the state it would
// replace changes it.
func follow(ctx context.Context, tx *ent.Tx, conn *source, ct pulid.ID, following bool, at time.Time) ([]events.Event, error) {
	n, err := tx.Contact.Update().
		Where(contact.ID(ct), contact.Or(contact.FollowingChangedAtIsNil(), contact.FollowingChangedAtLT(at))).
		SetFollowing(following).
		SetFollowingChangedAt(at).
		Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("recording that contact %s follows: %w", ct, err)
	}
	if n == 0 {
		return nil, nil // a newer follow or unfollow is recorded already
	}
	return contacts.Changed(ctx, tx, conn.CampaignID, ct)
}

// consent records when the customer let the account message them: the
// latest grant, whatever order the grants arrive in.
func consent(ctx context.Context, tx *ent.Tx, conn *source, ct pulid.ID, at time.Time) ([]events.Event, error) {
	err := tx.Contact.Update().
		Where(contact.ID(ct), contact.Or(contact.ConsentGrantedAtIsNil(), contact.ConsentGrantedAtLT(at))).
		SetConsentGrantedAt(at).
		Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("recording the consent of contact %s: %w", ct, err)
	}
	// Published even when an earlier grant arrived late: the same event may
	// have given the contact the business's id.
	return contacts.Changed(ctx, tx, conn.CampaignID, ct)
}

// refuseCustomerID records why the platform would not link the business's
// id to the customer, for an agent to sort out with the business.
func refuseCustomerID(ctx context.Context, tx *ent.Tx, conn *source, ct pulid.ID, reason string) ([]events.Event, error) {
	if r := []rune(reason); len(r) > maxSyncError {
		reason = string(r[:maxSyncError])
	}
	if err := tx.Contact.UpdateOneID(ct).SetCustomerIDSyncError(reason).Exec(ctx); err != nil {
		return nil, fmt.Errorf("recording the refused customer id of contact %s: %w", ct, err)
	}
	return contacts.Changed(ctx, tx, conn.CampaignID, ct)
}

// eventAt is when the event happened: the platform's time, or when it
// reached us when the platform gave none.
func eventAt(x incoming) time.Time {
	if x.e.At.IsZero() {
		return x.ev.ReceivedAt
	}
	return x.e.At
}
