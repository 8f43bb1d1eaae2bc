package events

import (
	"context"
	"fmt"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/privacy"
)

// Notifier learns that a transaction that appended events committed (the
// Hub, which then reads them).
type Notifier interface{ Committed() }

// Writer is the one path from a change to its event: every change that
// subscribers see is made in a transaction that also appends its events,
// and the hub is told only once that transaction has committed.
type Writer struct {
	client *ent.Client
	notify Notifier
}

// NewWriter returns a writer over client that tells notify of commits.
func NewWriter(client *ent.Client, notify Notifier) *Writer {
	return &Writer{client: client, notify: notify}
}

// Do runs f in a transaction, appends the events f returns in it, commits
// and tells the hub. Nothing is appended or told when f fails.
func (w *Writer) Do(ctx context.Context, f func(tx *ent.Tx) ([]Event, error)) error {
	tx, err := w.client.Tx(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	evs, err := f(tx)
	if err != nil {
		return err
	}
	// The log is written by the system, whoever made the change.
	if err := Append(privacy.DecisionContext(ctx, privacy.Allow), tx.Client(), evs...); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	if len(evs) > 0 {
		w.notify.Committed()
	}
	return nil
}

// Connection is the event of a change to a connection.
func Connection(c *ent.Connection) Event {
	return Event{Type: ConnectionUpdated, CampaignID: c.CampaignID, EntityID: c.ID}
}
