// Package calls keeps the phone calls agents make and take with the OmiCall
// web softphone. The SPA forwards each callback of the SDK (seed 003) to
// logCall as it gets it; the callbacks repeat (retries) and race (several
// tabs, several devices), so a call is one row per OmiCall uuid whose state
// only moves forward, and every callback is kept as it came.
package calls

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/contacts"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/call"
	"github.com/switchboard-chat/switchboard/ent/callevent"
	"github.com/switchboard-chat/switchboard/ent/contact"
	"github.com/switchboard-chat/switchboard/ent/conversation"
	"github.com/switchboard-chat/switchboard/ent/predicate"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/vault"
)

// Service logs calls and keeps softphone credentials.
type Service struct {
	client *ent.Client
	w      *events.Writer
	keys   *vault.Keyring
	now    func() time.Time
	// tick is how often a call's incall ticks go to its history and to
	// subscribers; the ticks between only move its duration.
	tick time.Duration
}

// Options configure the service.
type Options struct {
	Client *ent.Client
	Events *events.Writer
	Keys   *vault.Keyring
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Tick is how often incall ticks are logged (0: 5s).
	Tick time.Duration
}

// New returns the service.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Tick == 0 {
		o.Tick = 5 * time.Second
	}
	return &Service{client: o.Client, w: o.Events, keys: o.Keys, now: o.Now, tick: o.Tick}
}

// LogInput is logCall's input: one SDK callback, forwarded as received.
type LogInput struct {
	CampaignID     pulid.ID       `json:"campaignID"`
	ConversationID *pulid.ID      `json:"conversationID,omitempty"`
	Event          string         `json:"event"`
	Data           map[string]any `json:"data"`
}

// maxData bounds what one callback may store.
const maxData = 16 << 10

// The order calls move in; HOLD and CONNECTED are one step, toggled by holdChanged.
var rank = map[call.Status]int{
	call.StatusCONNECTING: 0, call.StatusRINGING: 1, call.StatusCONNECTED: 2, call.StatusHOLD: 2, call.StatusENDED: 3,
}

// Log applies one softphone callback to its call, which it creates on the
// call's first callback, and returns the call. A callback seen before (the
// same event with the same data) changes nothing.
func (s *Service) Log(ctx context.Context, in LogInput) (*ent.Call, error) {
	v := auth.FromContext(ctx)
	if v == nil {
		return nil, apperr.ErrUnauthenticated
	}
	if in.Data == nil {
		return nil, apperr.Input("input.data", "must be the SDK's call object")
	}
	sc, err := parse(in.Event, in.Data)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(in.Data)
	if err != nil {
		return nil, apperr.Input("input.data", "not storable as JSON: %v", err)
	}
	if len(raw) > maxData {
		return nil, apperr.Input("input.data", "%d bytes; at most %d are kept per event", len(raw), maxData)
	}
	if _, err := s.client.Campaign.Get(ctx, in.CampaignID); err != nil {
		if ent.IsNotFound(err) {
			return nil, &apperr.InputError{Field: "input.campaignID", Message: fmt.Sprintf("campaign %s not found", in.CampaignID), Kind: apperr.ErrNotFound}
		}
		return nil, err
	}
	var conv *ent.Conversation
	if in.ConversationID != nil {
		conv, err = s.client.Conversation.Get(ctx, *in.ConversationID)
		if ent.IsNotFound(err) {
			return nil, &apperr.InputError{Field: "input.conversationID", Message: fmt.Sprintf("conversation %s not found", *in.ConversationID), Kind: apperr.ErrNotFound}
		}
		if err != nil {
			return nil, err
		}
		if conv.CampaignID != in.CampaignID {
			return nil, apperr.Input("input.conversationID", "conversation %s is not in campaign %s", conv.ID, in.CampaignID)
		}
	}
	var out *ent.Call
	err = s.w.Do(ctx, func(tx *ent.Tx) ([]events.Event, error) {
		c, err := s.lock(ctx, tx, in, sc, v.UserID)
		if err != nil {
			return nil, err
		}
		out = c
		// A callback seen before is a retry; holdChanged is not, as its
		// data is the same each time the agent puts the call on hold.
		if in.Event != evHoldChanged {
			dup, err := tx.CallEvent.Query().Where(callevent.CallID(c.ID), callevent.Event(in.Event), sameData(raw)).Exist(ctx)
			if err != nil || dup {
				return nil, err
			}
		}
		now := s.now()
		upd := tx.Call.UpdateOneID(c.ID)
		changed := s.apply(c, upd, in.Event, sc, v.UserID, now)
		linked, err := s.link(ctx, tx, c, upd, conv, sc.Number)
		if err != nil {
			return nil, err
		}
		// An incall tick that only moves the duration is kept and told
		// only every tick; anything else that changes the call is told at
		// once, and every other callback goes to the history.
		dirty := changed.any() || linked
		announce := dirty && (in.Event != evIncall || changed.state || linked ||
			c.AnnouncedAt == nil || now.Sub(*c.AnnouncedAt) >= s.tick)
		if announce {
			upd.SetAnnouncedAt(now)
		}
		if dirty {
			if out, err = upd.Save(ctx); err != nil {
				return nil, err
			}
		}
		if in.Event != evIncall || announce {
			if err := tx.CallEvent.Create().SetCampaignID(c.CampaignID).SetCallID(c.ID).SetEvent(in.Event).
				SetData(in.Data).SetReceivedAt(now).Exec(ctx); err != nil {
				return nil, err
			}
		}
		if !announce {
			return nil, nil
		}
		return []events.Event{{Type: events.CallUpdated, CampaignID: c.CampaignID, EntityID: c.ID}}, nil
	})
	if err != nil {
		return nil, err
	}
	return out.Unwrap(), nil
}

// sameData matches events whose data is data, as JSON values (key order
// and spacing aside).
func sameData(data []byte) predicate.CallEvent {
	return predicate.CallEvent(func(s *entsql.Selector) {
		s.Where(entsql.P(func(b *entsql.Builder) {
			b.Ident(s.C(callevent.FieldData)).WriteString(" = ").Arg(string(data)).WriteString("::jsonb")
		}))
	})
}

// lock returns the campaign's call with the event's uuid, locked for the
// rest of the transaction, creating it on its first event.
func (s *Service) lock(ctx context.Context, tx *ent.Tx, in LogInput, sc *sdkCall, viewer pulid.ID) (*ent.Call, error) {
	find := func() (*ent.Call, error) {
		return tx.Call.Query().Where(call.CampaignID(in.CampaignID), call.UUID(sc.UUID)).ForUpdate().Only(ctx)
	}
	c, err := find()
	if !ent.IsNotFound(err) {
		return c, err
	}
	dir := sc.Direction
	if dir == "" {
		switch in.Event {
		case evConnecting:
			dir = "OUTBOUND"
		case evInvite, evInviteRejected, evAcceptedByOther:
			dir = "INBOUND"
		case evHoldChanged:
			return nil, &apperr.InputError{Field: field("uuid"), Kind: apperr.ErrNotFound,
				Message: fmt.Sprintf("no call %q to put on or off hold: log its other events first", sc.UUID)}
		default:
			return nil, apperr.Input(field("direction"), "required on a call's first event (inbound or outbound)")
		}
	}
	// Concurrent first events race here: one inserts, the others wait for
	// it on the unique index and then find its call.
	err = tx.Call.Create().SetCampaignID(in.CampaignID).SetUUID(sc.UUID).SetDirection(call.Direction(dir)).
		SetAgentID(viewer).OnConflictColumns(call.FieldCampaignID, call.FieldUUID).DoNothing().Exec(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	return find()
}

type changes struct{ state, fields bool }

func (c changes) any() bool { return c.state || c.fields }

// apply moves the call by one event. The status only moves forward (a late
// ringing never reopens an ended call), except CONNECTED ⇄ HOLD; facts
// (times, durations, numbers) fill in blanks whatever order they come in,
// durations only grow.
func (s *Service) apply(c *ent.Call, u *ent.CallUpdateOne, event string, sc *sdkCall, viewer pulid.ID, now time.Time) changes {
	var ch changes
	status := c.Status
	var target call.Status
	switch event {
	case evConnecting:
		target = call.StatusCONNECTING
	case evInvite, evRinging:
		target = call.StatusRINGING
	case evAccepted, evIncall:
		target = call.StatusCONNECTED
	case evInviteRejected, evEnded:
		target = call.StatusENDED
	case evAcceptedByOther:
		// Someone else took it: for this side the call is over, unless this
		// side answered it.
		if c.AnsweredAt == nil {
			target = call.StatusENDED
		}
	}
	switch {
	case event == evHoldChanged:
		if status == call.StatusCONNECTED || status == call.StatusHOLD {
			status = call.StatusCONNECTED
			if *sc.Hold {
				status = call.StatusHOLD
			}
		}
	case target != "" && rank[target] > rank[status]:
		status = target
	}
	if status != c.Status {
		u.SetStatus(status)
		ch.state = true
	}

	if sc.Direction != "" && call.Direction(sc.Direction) != c.Direction {
		u.SetDirection(call.Direction(sc.Direction))
		ch.fields = true
	}
	if c.RemoteNumber == "" && sc.Number != "" {
		n := sc.Number
		if e164, ok := contacts.NormalizePhone(n); ok {
			n = e164
		}
		u.SetRemoteNumber(n)
		ch.fields = true
	}
	if c.SipNumber == "" && sc.SIPNumber != "" {
		u.SetSipNumber(sc.SIPNumber)
		ch.fields = true
	}
	if sc.Start != nil && (c.StartedAt == nil || sc.Start.Before(*c.StartedAt)) {
		u.SetStartedAt(*sc.Start)
		ch.fields = true
	}
	answered := c.AnsweredAt
	if answered == nil {
		switch {
		case sc.Answer != nil:
			answered = sc.Answer
		case event == evAccepted || event == evIncall:
			answered = &now
		}
		if answered != nil {
			u.SetAnsweredAt(*answered)
			ch.state = true
		}
	}
	if event == evAccepted && (c.AgentID == nil || *c.AgentID != viewer) {
		// The agent of a call is who took it.
		u.SetAgentID(viewer)
		ch.fields = true
	}
	if c.EndedAt == nil && (status == call.StatusENDED || sc.End != nil) {
		end := now
		if sc.End != nil {
			end = *sc.End
		}
		u.SetEndedAt(end)
		ch.fields = true
	}
	if sc.Duration != nil && *sc.Duration > c.Duration {
		u.SetDuration(*sc.Duration)
		ch.fields = true
	}
	if sc.TotalDuration != nil && *sc.TotalDuration > c.TotalDuration {
		u.SetTotalDuration(*sc.TotalDuration)
		ch.fields = true
	}
	if c.EndCause == "" && sc.EndCause != "" {
		u.SetEndCause(sc.EndCause)
		ch.fields = true
	}
	elsewhere := c.AnsweredElsewhere || event == evAcceptedByOther
	if elsewhere != c.AnsweredElsewhere {
		u.SetAnsweredElsewhere(true)
		ch.state = true
	}
	// Missed: it ended (or was rejected) and nobody took it.
	if missed := status == call.StatusENDED && answered == nil && !elsewhere; missed != c.Missed {
		u.SetMissed(missed)
		ch.state = true
	}
	return ch
}

// link ties the call to its customer. Given a conversation, the call is
// that conversation's, and its contact's (whose phone is recorded when it
// had none); otherwise the call is the campaign's contact's with that
// number, in their most recent conversation, and a call from a number no
// contact has makes a contact for the phone.
func (s *Service) link(ctx context.Context, tx *ent.Tx, c *ent.Call, u *ent.CallUpdateOne, conv *ent.Conversation, number string) (bool, error) {
	e164, isPhone := contacts.NormalizePhone(number)
	if conv != nil {
		if c.ConversationID != nil && *c.ConversationID == conv.ID {
			return false, nil
		}
		u.SetConversationID(conv.ID).SetContactID(conv.ContactID)
		if isPhone {
			err := tx.Contact.Update().Where(contact.ID(conv.ContactID), contact.Or(contact.PhoneIsNil(), contact.Phone(""))).
				SetPhone(e164).Exec(ctx)
			if err != nil {
				return false, err
			}
		}
		return true, nil
	}
	if c.ContactID != nil || !isPhone {
		return false, nil
	}
	known, err := tx.Contact.Query().Where(contact.CampaignID(c.CampaignID), contact.Phone(e164)).
		Order(ent.Asc(contact.FieldCreatedAt)).IDs(ctx)
	if err != nil {
		return false, err
	}
	if len(known) > 0 {
		recent, err := tx.Conversation.Query().Where(conversation.ContactIDIn(known...)).
			Order(ent.Desc(conversation.FieldLastMessageAt), ent.Desc(conversation.FieldID)).First(ctx)
		switch {
		case err == nil:
			u.SetContactID(recent.ContactID).SetConversationID(recent.ID)
			return true, nil
		case !ent.IsNotFound(err):
			return false, err
		}
		u.SetContactID(known[0])
		return true, nil
	}
	// A customer known only by this call.
	err = tx.Contact.Create().SetCampaignID(c.CampaignID).SetChannel(contact.ChannelPHONE).SetExternalID(e164).
		SetPhone(e164).SetName(e164).OnConflictColumns(contact.FieldCampaignID, contact.FieldChannel, contact.FieldExternalID).
		DoNothing().Exec(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	id, err := tx.Contact.Query().Where(contact.CampaignID(c.CampaignID), contact.ChannelEQ(contact.ChannelPHONE),
		contact.ExternalID(e164)).OnlyID(ctx)
	if err != nil {
		return false, err
	}
	u.SetContactID(id)
	return true, nil
}
