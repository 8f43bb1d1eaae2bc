package webhooks

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/switchboard-chat/switchboard/connections"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/platform"
)

// route is what the edge needs to know of a connection to accept a webhook.
type route struct {
	id         pulid.ID
	campaignID pulid.ID
	platform   schematype.Platform
	externalID string
	live       bool
	// key verifies requests where the account signs them (Credentials.WebhookKey).
	key   string
	creds platform.Credentials
	// state is what the route was made from (see state), to tell whether
	// a change to the connection changes the route.
	state [sha256.Size]byte
}

// state sums what a route is made from. The health writer changes every
// busy connection twice a second, and none of that touches routing.
func state(c *ent.Connection) [sha256.Size]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%t\x00", c.Platform, c.ExternalID, c.CampaignID, c.Status, c.DisconnectedAt == nil)
	h.Write(c.Credentials)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// router finds connections for webhooks. Lookups are cached: at thousands
// of webhooks a second, a database round trip and a decryption per request
// would cost more than the journal write itself. A change to a connection
// drops what is cached of it at once, on this replica through the
// connections service and on the others through the event log (see
// Handler.Run); ttl only bounds how long a change that was somehow missed
// goes unseen.
//
// Keys that name a connection and keys that name none are kept apart, so
// that made-up ids, which anyone can send, cost a bounded amount of memory
// and cannot push out the routes of real connections. Looking up a key
// that is neither is rate-limited per platform where the request is not yet
// verified, since each costs a database query.
type router struct {
	client *ent.Client
	conns  *connections.Service
	ttl    time.Duration
	limit  func() *rate.Limiter

	mu sync.Mutex
	// known holds the keys that name a connection (or did when last
	// looked up): their lookups are never rate-limited, and only their
	// connection's rows bound their number.
	known map[string]*cached
	// misses holds keys that named no connection, with when that was learnt.
	misses   *lru.Cache[string, time.Time]
	limiters map[schematype.Platform]*rate.Limiter
}

type cached struct {
	r *route // nil until loaded
	// at is when r was loaded; zero means it must be loaded again.
	at time.Time
	// dropped is when the key was last invalidated: a load begun before
	// then may have read what changed, and is not cached.
	dropped time.Time
}

// errFlood answers lookups of unknown keys beyond the rate limit.
type errFlood struct{ retryAfter time.Duration }

func (e *errFlood) Error() string {
	return fmt.Sprintf("too many lookups of unknown connections; retry after %s", e.retryAfter)
}

func newRouter(client *ent.Client, conns *connections.Service, ttl time.Duration, maxMisses int, limit func() *rate.Limiter) *router {
	misses, err := lru.New[string, time.Time](maxMisses)
	if err != nil {
		panic(fmt.Sprintf("webhooks: %v", err)) // only a size below 1 fails, and Options has a default
	}
	return &router{client: client, conns: conns, ttl: ttl, limit: limit,
		known: map[string]*cached{}, misses: misses, limiters: map[schematype.Platform]*rate.Limiter{}}
}

func idKey(id pulid.ID) string { return "id:" + string(id) }

func accountKey(p schematype.Platform, externalID string) string {
	return "account:" + string(p) + "/" + externalID
}

// connection returns the connection with this id, or nil. The id comes
// from the URL, before anything is verified.
func (rt *router) connection(ctx context.Context, p schematype.Platform, id string) (*route, error) {
	if pulid.ID(id).Prefix() != "con" {
		return nil, nil
	}
	return rt.lookup(ctx, p, idKey(pulid.ID(id)), true, func(ctx context.Context) (*ent.Connection, error) {
		return rt.client.Connection.Get(ctx, pulid.ID(id))
	})
}

// account returns the live connection of a platform account, or nil.
// unverified says that the account was read from a request not yet verified.
func (rt *router) account(ctx context.Context, p schematype.Platform, externalID string, unverified bool) (*route, error) {
	return rt.lookup(ctx, p, accountKey(p, externalID), unverified, func(ctx context.Context) (*ent.Connection, error) {
		return rt.client.Connection.Query().
			Where(connection.PlatformEQ(p), connection.ExternalID(externalID), connection.DisconnectedAtIsNil()).
			Only(ctx)
	})
}

func (rt *router) lookup(ctx context.Context, p schematype.Platform, key string, limited bool, load func(context.Context) (*ent.Connection, error)) (*route, error) {
	start := time.Now()
	rt.mu.Lock()
	c, known := rt.known[key]
	switch {
	case known && c.r != nil && !c.at.IsZero() && start.Sub(c.at) < rt.ttl:
		r := c.r
		rt.mu.Unlock()
		return r, nil
	case known:
	default:
		if at, ok := rt.misses.Get(key); ok && start.Sub(at) < rt.ttl {
			rt.mu.Unlock()
			return nil, nil
		}
		if limited {
			if wait := rt.reserve(p, start); wait > 0 {
				rt.mu.Unlock()
				return nil, &errFlood{retryAfter: wait}
			}
		}
	}
	rt.mu.Unlock()

	conn, err := load(privacy.DecisionContext(ctx, privacy.Allow))
	var r *route
	switch {
	case ent.IsNotFound(err):
	case err != nil:
		return nil, err
	default:
		r = &route{id: conn.ID, campaignID: conn.CampaignID, platform: conn.Platform, externalID: conn.ExternalID,
			live: conn.DisconnectedAt == nil && conn.Status != connection.StatusINACTIVE, state: state(conn)}
		if r.live {
			if r.creds, err = rt.conns.Credentials(conn); err != nil {
				return nil, err
			}
			r.key = r.creds.WebhookKey()
		}
	}

	rt.mu.Lock()
	defer rt.mu.Unlock()
	c, known = rt.known[key]
	switch {
	case known && !c.dropped.Before(start):
		// Changed while loading: r may be from before the change.
	case r == nil:
		delete(rt.known, key)
		rt.misses.Add(key, start)
	default:
		if !known {
			c = &cached{}
			rt.known[key] = c
		}
		c.r, c.at = r, start
		rt.misses.Remove(key)
	}
	return r, nil
}

// reserve takes a token of the platform's budget for looking up unknown
// keys, or says how long until one is free. rt.mu is held.
func (rt *router) reserve(p schematype.Platform, now time.Time) time.Duration {
	lim := rt.limiters[p]
	if lim == nil {
		lim = rt.limit()
		rt.limiters[p] = lim
	}
	res := lim.ReserveN(now, 1)
	if !res.OK() {
		return time.Second
	}
	wait := res.DelayFrom(now)
	if wait > 0 {
		res.CancelAt(now) // the request is refused, not queued
	}
	return wait
}

// keys are the cache keys a connection is found by.
func keys(c *ent.Connection) (byID, byAccount string) {
	return idKey(c.ID), accountKey(c.Platform, c.ExternalID)
}

// drop forgets what is cached under key; the key stays known, so that the
// next lookup reloads it whatever the rate limit. rt.mu is held.
func (rt *router) drop(key string, now time.Time) {
	rt.misses.Remove(key)
	c := rt.known[key]
	if c == nil {
		c = &cached{}
		rt.known[key] = c
	}
	c.r, c.at, c.dropped = nil, time.Time{}, now
}

// forget drops the routes of a connection that this replica just changed.
func (rt *router) forget(c *ent.Connection) {
	byID, byAccount := keys(c)
	now := time.Now()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.drop(byID, now)
	rt.drop(byAccount, now)
}

// observe drops the routes a change to a connection, made anywhere, makes
// stale; c is the connection as changed.
func (rt *router) observe(c *ent.Connection) {
	byID, byAccount := keys(c)
	st := state(c)
	now := time.Now()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	current := func(key string) bool {
		e := rt.known[key]
		return e != nil && e.r != nil && !e.at.IsZero() && e.r.id == c.ID && e.r.state == st
	}
	if !current(byID) {
		rt.drop(byID, now)
	}
	// An account routes to its live connection: a connection that is not
	// live says nothing of who holds the account, unless it is the one cached.
	if e := rt.known[byAccount]; !current(byAccount) && (c.DisconnectedAt == nil || e != nil && e.r != nil && e.r.id == c.ID) {
		rt.drop(byAccount, now)
	}
}

// reset drops every cached route, for when changes may have been missed.
func (rt *router) reset() {
	now := time.Now()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for key := range rt.known {
		rt.drop(key, now)
	}
	rt.misses.Purge()
}

// retryAfter is a Retry-After header value: whole seconds, at least one.
func retryAfter(d time.Duration) string {
	return fmt.Sprint(max(1, int(math.Ceil(d.Seconds()))))
}
