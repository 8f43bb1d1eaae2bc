package graph

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/campaign"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/user"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// subscription checks what the viewer may watch and attaches to the hub. A
// campaign or conversation the viewer cannot see is an error for this
// subscription (the socket stays open for the others).
func (r *Resolver) subscription(ctx context.Context, campaignID, conversationID *pulid.ID, after *string, types ...events.Type) (events.Spec, error) {
	v := auth.FromContext(ctx)
	if v == nil {
		return events.Spec{}, apperr.ErrUnauthenticated
	}
	spec := events.Spec{Types: types}
	if conversationID != nil {
		conv, err := r.Client.Conversation.Get(ctx, *conversationID)
		if err != nil {
			return events.Spec{}, &apperr.InputError{Field: "conversationID", Message: fmt.Sprintf("conversation %s not found", *conversationID), Kind: apperr.ErrNotFound}
		}
		if campaignID != nil && *campaignID != conv.CampaignID {
			return events.Spec{}, apperr.Input("conversationID", "conversation %s is not in campaign %s", conv.ID, *campaignID)
		}
		spec.ConversationID = conv.ID
		campaignID = &conv.CampaignID
	}
	switch {
	case campaignID != nil:
		if _, err := r.Client.Campaign.Get(ctx, *campaignID); err != nil {
			return events.Spec{}, &apperr.InputError{Field: "campaignID", Message: fmt.Sprintf("campaign %s not found", *campaignID), Kind: apperr.ErrNotFound}
		}
		spec.Campaigns = []pulid.ID{*campaignID}
	case !v.Admin:
		// The campaigns the viewer may read, by the same rules as queries.
		ids, err := r.Client.Campaign.Query().IDs(ctx)
		if err != nil {
			return events.Spec{}, err
		}
		spec.Campaigns = ids
	default:
		spec.AllCampaigns = true
	}
	if after != nil {
		c, err := events.ParseCursor(*after)
		if err != nil {
			return events.Spec{}, apperr.Input("after", "not a cursor of this stream")
		}
		spec.After = &c
	}
	if spec.After != nil && r.ReplayMax > 0 {
		behind, err := r.Hub.Behind(ctx, *spec.After, spec, r.ReplayMax+1)
		if err != nil {
			return events.Spec{}, err
		}
		if behind > r.ReplayMax {
			return events.Spec{}, &gqlerror.Error{
				Message:    fmt.Sprintf("the cursor is more than %d events behind: reload, then subscribe without after", r.ReplayMax),
				Extensions: map[string]any{"code": "CURSOR_EXPIRED"},
			}
		}
	}
	return spec, nil
}

// stream turns a subscription's deliveries into its field's values, and
// delivers only what the subscriber may still read: when its user's access
// version moved (a role or membership change, a deactivation), each
// campaign is checked again, by the same rules as queries, before its next
// event goes out; a campaign no longer readable ends the subscription with
// FORBIDDEN. Both happen on the hub's goroutine for the subscription
// (events.Stream), which over websockets also writes the value to the
// socket (events.StreamNotify): an idle subscriber's cost is mostly that
// goroutine's stack, and there are thousands of them.
func stream[T any](ctx context.Context, r *Resolver, spec events.Spec, pick func(*events.Delivery) *T) (<-chan *T, error) {
	v := auth.FromContext(ctx)
	// checked holds the campaigns checked again since the access version
	// moved (made only then: most subscriptions never need it).
	version, checked := v.AccessVersion, map[pulid.ID]bool(nil)
	op := operationFrom(ctx)
	conv := func(d *events.Delivery) (*T, bool) {
		u, err := r.Access.user(ctx, v.UserID)
		if err != nil {
			addSubscriptionError(ctx, presentError(ctx, err))
			return nil, false
		}
		if u.AccessVersion != version {
			version, checked = u.AccessVersion, map[pulid.ID]bool{}
		}
		if !checked[d.CampaignID] && version != v.AccessVersion {
			now := &auth.Viewer{UserID: u.ID, Admin: u.Role == user.RoleADMIN, AccessVersion: u.AccessVersion}
			ok := u.DeactivatedAt == nil
			if ok {
				if ok, err = r.Client.Campaign.Query().Where(campaign.ID(d.CampaignID)).Exist(auth.WithViewer(ctx, now)); err != nil {
					addSubscriptionError(ctx, presentError(ctx, err))
					return nil, false
				}
			}
			if !ok {
				addSubscriptionError(ctx, presentError(ctx, apperr.Forbiddenf("you no longer have access to campaign %s", d.CampaignID)))
				return nil, false
			}
			checked[d.CampaignID] = true
		}
		v := pick(d)
		if op != nil && v != nil {
			op.at.Store(d.At.UnixNano())
			op.claim(d.Cursor.ID, d.Trace)
		}
		return v, true
	}
	if op != nil {
		// Over our websocket transport: each value is written from the
		// subscription's goroutine, and nothing else waits on the channel.
		ch, err := events.StreamNotify(ctx, r.Hub, spec, conv, op.ready)
		if err != nil {
			return nil, err
		}
		op.bound = true
		done := ctx.Done() // once: see events' follower.done
		op.skip = func() bool {
			select {
			case _, ok := <-ch:
				return ok
			case <-done:
				return false
			}
		}
		return ch, nil
	}
	return events.Stream(ctx, r.Hub, spec, conv)
}

// Access reads users' access versions for subscriptions, each user at most
// once a second, so a busy stream costs no query per event.
type Access struct {
	client *ent.Client
	mu     sync.Mutex
	seen   map[pulid.ID]accessEntry
}

type accessEntry struct {
	u  *ent.User
	at time.Time
}

// NewAccess returns the reader.
func NewAccess(client *ent.Client) *Access {
	return &Access{client: client, seen: map[pulid.ID]accessEntry{}}
}

// Forget drops what is known of a user's access: it just changed.
func (a *Access) Forget(id pulid.ID) {
	a.mu.Lock()
	delete(a.seen, id)
	a.mu.Unlock()
}

func (a *Access) user(ctx context.Context, id pulid.ID) (*ent.User, error) {
	a.mu.Lock()
	e, ok := a.seen[id]
	a.mu.Unlock()
	if ok && time.Since(e.at) < time.Second {
		return e.u, nil
	}
	u, err := a.client.User.Get(privacy.DecisionContext(ctx, privacy.Allow), id)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if len(a.seen) > 100000 {
		clear(a.seen)
	}
	a.seen[id] = accessEntry{u: u, at: time.Now()}
	a.mu.Unlock()
	return u, nil
}
