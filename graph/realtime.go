package graph

import (
	"context"
	"fmt"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/events"
)

// subscription checks what the viewer may watch and attaches to the hub. A
// campaign or conversation the viewer cannot see is an error for this
// subscription (the socket stays open for the others).
func (r *Resolver) subscription(ctx context.Context, campaignID, conversationID *pulid.ID, after *string, types ...events.Type) (<-chan *events.Delivery, error) {
	v := auth.FromContext(ctx)
	if v == nil {
		return nil, apperr.ErrUnauthenticated
	}
	spec := events.Spec{}
	if len(types) > 0 {
		spec.Types = map[events.Type]bool{}
		for _, t := range types {
			spec.Types[t] = true
		}
	}
	if conversationID != nil {
		conv, err := r.Client.Conversation.Get(ctx, *conversationID)
		if err != nil {
			return nil, &apperr.InputError{Field: "conversationID", Message: fmt.Sprintf("conversation %s not found", *conversationID), Kind: apperr.ErrNotFound}
		}
		if campaignID != nil && *campaignID != conv.CampaignID {
			return nil, apperr.Input("conversationID", "conversation %s is not in campaign %s", conv.ID, *campaignID)
		}
		spec.ConversationID = conv.ID
		campaignID = &conv.CampaignID
	}
	switch {
	case campaignID != nil:
		if _, err := r.Client.Campaign.Get(ctx, *campaignID); err != nil {
			return nil, &apperr.InputError{Field: "campaignID", Message: fmt.Sprintf("campaign %s not found", *campaignID), Kind: apperr.ErrNotFound}
		}
		spec.Campaigns = map[pulid.ID]bool{*campaignID: true}
	case !v.Admin:
		// The campaigns the viewer may read, by the same rules as queries.
		ids, err := r.Client.Campaign.Query().IDs(ctx)
		if err != nil {
			return nil, err
		}
		spec.Campaigns = map[pulid.ID]bool{}
		for _, id := range ids {
			spec.Campaigns[id] = true
		}
	}
	if after != nil {
		c, err := events.ParseCursor(*after)
		if err != nil {
			return nil, apperr.Input("after", "not a cursor of this stream")
		}
		spec.After = &c
	}
	return r.Hub.Subscribe(ctx, spec)
}

// pipe turns deliveries into the values one subscription field streams.
func pipe[T any](ctx context.Context, in <-chan *events.Delivery, pick func(*events.Delivery) *T) <-chan *T {
	out := make(chan *T)
	go func() {
		defer close(out)
		for d := range in {
			v := pick(d)
			if v == nil {
				continue
			}
			select {
			case out <- v:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
