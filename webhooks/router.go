package webhooks

import (
	"context"
	"sync"
	"time"

	"github.com/switchboard-chat/switchboard/connections"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
)

// route is what the edge needs to know of a connection to accept a webhook.
type route struct {
	id         pulid.ID
	campaignID pulid.ID
	platform   schematype.Platform
	externalID string
	live       bool
	// key verifies requests where the account signs them (Credentials.WebhookKey).
	key string
}

// router finds connections for webhooks. Lookups are cached briefly: at
// thousands of webhooks a second, a database round trip and a decryption
// per request would cost more than the journal write itself. A disconnect
// takes effect here within ttl.
type router struct {
	client *ent.Client
	conns  *connections.Service
	ttl    time.Duration

	mu     sync.Mutex
	byID   map[string]cached
	byAcct map[string]cached
}

type cached struct {
	r  *route // nil: no such connection
	at time.Time
}

func newRouter(client *ent.Client, conns *connections.Service, ttl time.Duration) *router {
	return &router{client: client, conns: conns, ttl: ttl, byID: map[string]cached{}, byAcct: map[string]cached{}}
}

// connection returns the connection with this id, or nil.
func (rt *router) connection(ctx context.Context, id string) (*route, error) {
	if pulid.ID(id).Prefix() != "con" {
		return nil, nil
	}
	return rt.lookup(ctx, rt.byID, id, func(ctx context.Context) (*ent.Connection, error) {
		return rt.client.Connection.Get(ctx, pulid.ID(id))
	})
}

// account returns the live connection of a platform account, or nil.
func (rt *router) account(ctx context.Context, p schematype.Platform, externalID string) (*route, error) {
	return rt.lookup(ctx, rt.byAcct, string(p)+"/"+externalID, func(ctx context.Context) (*ent.Connection, error) {
		return rt.client.Connection.Query().
			Where(connection.PlatformEQ(p), connection.ExternalID(externalID), connection.DisconnectedAtIsNil()).
			Only(ctx)
	})
}

func (rt *router) lookup(ctx context.Context, cache map[string]cached, key string, load func(context.Context) (*ent.Connection, error)) (*route, error) {
	rt.mu.Lock()
	c, ok := cache[key]
	rt.mu.Unlock()
	if ok && time.Since(c.at) < rt.ttl {
		return c.r, nil
	}
	conn, err := load(privacy.DecisionContext(ctx, privacy.Allow))
	var r *route
	switch {
	case ent.IsNotFound(err):
	case err != nil:
		return nil, err
	default:
		r = &route{id: conn.ID, campaignID: conn.CampaignID, platform: conn.Platform, externalID: conn.ExternalID,
			live: conn.DisconnectedAt == nil && conn.Status != connection.StatusINACTIVE}
		if r.live {
			creds, err := rt.conns.Credentials(conn)
			if err != nil {
				return nil, err
			}
			r.key = creds.WebhookKey()
		}
	}
	rt.mu.Lock()
	if len(cache) > 100000 {
		clear(cache) // bounded memory against floods of made-up ids
	}
	cache[key] = cached{r: r, at: time.Now()}
	rt.mu.Unlock()
	return r, nil
}
