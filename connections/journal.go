package connections

import (
	"context"
	"time"

	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/webhookevent"
)

// SkipWebhookEvents clears a connection's queue (the seed's "Clear webhook
// queue"): its journal entries received before before that are not applied
// (pending, retrying or failed) are marked skipped. They stay in the log and
// replayWebhookEvent applies one when asked. An entry being processed right
// now is waited for and, once applied, left alone.
func (s *Service) SkipWebhookEvents(ctx context.Context, id pulid.ID, before *time.Time) (int, error) {
	c, err := s.get(ctx, id)
	if err != nil {
		return 0, err
	}
	cut := s.now()
	if before != nil {
		cut = *before
	}
	return s.client.WebhookEvent.Update().
		Where(webhookevent.ConnectionID(c.ID), webhookevent.ProcessedAtIsNil(), webhookevent.SkippedAtIsNil(),
			webhookevent.ReceivedAtLT(cut)).
		SetSkippedAt(s.now()).
		Save(system(ctx))
}
