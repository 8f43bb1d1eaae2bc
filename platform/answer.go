package platform

import "context"

// Answerer is a platform on which some of what customers do keeps their app
// waiting until the bot says it was received (Telegram: a tapped inline
// button shows a spinner until answerCallbackQuery). Ingest calls Answer
// with the event's inbound.Event.AnswerID once the event is stored, so the
// customer is never told "received" for something that was not; the call is
// best effort, since what the customer did is kept either way.
type Answerer interface {
	Answer(ctx context.Context, acct Account, answerID string) error
}
