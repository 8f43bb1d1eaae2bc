// Package pubsub fans domain events out to in-process subscribers (GraphQL
// subscriptions). Publishing never blocks: each subscriber has a bounded
// buffer, and one that falls behind is told so (its channel closes with
// Lagged set) instead of stalling the publisher or other subscribers.
package pubsub

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
)

// Type names what changed.
type Type string

// Event types.
const (
	MessageAdded        Type = "MESSAGE_ADDED"
	MessageUpdated      Type = "MESSAGE_UPDATED"
	ConversationUpdated Type = "CONVERSATION_UPDATED"
	ConnectionUpdated   Type = "CONNECTION_UPDATED"
	CallUpdated         Type = "CALL_UPDATED"
)

// Event says that an entity changed; subscribers load what they show.
type Event struct {
	Type           Type
	CampaignID     pulid.ID
	ConversationID pulid.ID // for message and conversation events
	EntityID       pulid.ID // the message, conversation, connection or call
}

// Broker is the in-process fan-out.
type Broker struct {
	mu   sync.RWMutex
	subs map[*Subscription]struct{}
}

// New returns an empty broker.
func New() *Broker { return &Broker{subs: map[*Subscription]struct{}{}} }

// Subscription receives the events its filter accepts.
type Subscription struct {
	C      <-chan Event
	c      chan Event
	filter func(Event) bool
	lagged atomic.Bool
	once   sync.Once
}

// Lagged reports whether the subscription was closed for falling behind.
func (s *Subscription) Lagged() bool { return s.lagged.Load() }

// Subscribe registers a subscriber with a buffer of size events; it is
// removed when ctx ends.
func (b *Broker) Subscribe(ctx context.Context, size int, filter func(Event) bool) *Subscription {
	c := make(chan Event, size)
	s := &Subscription{C: c, c: c, filter: filter}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.remove(s)
	}()
	return s
}

func (b *Broker) remove(s *Subscription) {
	b.mu.Lock()
	delete(b.subs, s)
	b.mu.Unlock()
	s.once.Do(func() { close(s.c) })
}

// Publish hands e to every interested subscriber without waiting.
func (b *Broker) Publish(e Event) {
	var lagging []*Subscription
	b.mu.RLock()
	for s := range b.subs {
		if s.filter != nil && !s.filter(e) {
			continue
		}
		select {
		case s.c <- e:
		default:
			lagging = append(lagging, s)
		}
	}
	b.mu.RUnlock()
	for _, s := range lagging {
		s.lagged.Store(true)
		b.remove(s)
	}
}
