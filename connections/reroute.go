package connections

import (
	"context"
	"time"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/journal"
)

// RerouteWindow is how old the unroutable events of a newly connected
// account may be and still be given to its connection: Meta starts
// delivering when a page is subscribed, before the connect commits, and
// never redelivers what was answered 200. Older ones wait for
// replayWebhookEvent.
const RerouteWindow = time.Hour

// rerouteAgain is when a new connection's unroutable events are looked for
// a second time. The first look, right after the commit, cannot see what
// other replicas journal before they learn of the connection (through the
// event log, within about a second), nor requests that found the account
// not connected and were still being journaled (at most the journal's 5 s
// commit timeout).
const rerouteAgain = 10 * time.Second

type rerouteJob struct {
	id  pulid.ID
	due time.Time
}

// rerouteNew gives a new connection the unroutable events of its account,
// now and again once stragglers are journaled.
func (s *Service) rerouteNew(ctx context.Context, c *ent.Connection) {
	// The connection is committed whatever happens to the request now.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	s.reroute(ctx, c)
	select {
	case s.later <- rerouteJob{id: c.ID, due: s.now().Add(rerouteAgain)}:
	default:
		s.logger.WarnContext(ctx, "too many connects at once to look again for their unroutable events", "connection", c.ID)
	}
}

func (s *Service) reroute(ctx context.Context, c *ent.Connection) {
	n, err := journal.Reroute(system(ctx), s.client, c.Platform, c.ExternalID, c.ID, c.CampaignID, s.now().Add(-RerouteWindow), "")
	if err != nil {
		s.logger.ErrorContext(ctx, "routing events that arrived before the connection", "connection", c.ID, "err", err)
		return
	}
	if n > 0 {
		s.logger.InfoContext(ctx, "routed events that arrived before the connection", "connection", c.ID, "events", n)
	}
}

// RunReroutes takes the second look for new connections' unroutable events
// until ctx ends.
func (s *Service) RunReroutes(ctx context.Context) {
	for {
		var job rerouteJob
		select {
		case <-ctx.Done():
			return
		case job = <-s.later:
		}
		if wait := job.due.Sub(s.now()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		c, err := s.client.Connection.Query().Where(connection.ID(job.id), connection.DisconnectedAtIsNil()).Only(system(ctx))
		if ent.IsNotFound(err) {
			continue // disconnected meanwhile: its events have nowhere to go
		}
		if err != nil {
			if ctx.Err() == nil {
				s.logger.ErrorContext(ctx, "loading a new connection to route its early events", "connection", job.id, "err", err)
			}
			continue
		}
		s.reroute(ctx, c)
	}
}
