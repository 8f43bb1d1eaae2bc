package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/platform"
)

// Some of what customers do keeps their app waiting until the platform
// hears back (inbound.Event.AnswerID: a tapped Telegram button spins). The
// answer is sent only once the event is committed, so no customer is told
// "received" of something a rollback lost, and never on the processing
// path: a slow or failing platform API must not hold up the journal, and
// what the customer did is stored whether or not the answer gets through.

// Accounts opens connections for calls to their platforms (connections.Service).
type Accounts interface {
	Account(conn *ent.Connection) (platform.Channel, platform.Account, error)
}

// AnswerThrough has the platforms that wait for one (platform.Answerer)
// answered through accounts; call it before Run, which sends the answers.
func (p *Processor) AnswerThrough(a Accounts) {
	p.accounts = a
	p.answers = make(chan answer, answerQueue)
}

// answer is an interaction to answer, on the connection it came by.
type answer struct {
	conn *source
	id   string
}

const (
	// answerQueue bounds the answers waiting to be sent. An answer is only
	// worth sending within seconds, so when more wait than one sender gets
	// through in that time, the newest are dropped rather than queued.
	answerQueue = 256
	// answerTimeout bounds one call; a later answer is no use anyway.
	answerTimeout = 10 * time.Second
)

// queueAnswers hands the committed batch's answers to the sender; it never blocks.
func (p *Processor) queueAnswers(ctx context.Context, b *batch) {
	if p.answers == nil {
		return
	}
	for _, a := range b.answers {
		select {
		case p.answers <- a:
		default:
			p.logger.WarnContext(ctx, "too many answers waiting; one is dropped", "connection", a.conn.ID)
		}
	}
}

// runAnswers sends queued answers until ctx ends.
func (p *Processor) runAnswers(ctx context.Context) {
	if p.answers == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-p.answers:
			if err := p.sendAnswer(ctx, a); err != nil && ctx.Err() == nil {
				p.logger.WarnContext(ctx, "answering a customer's interaction; their app may show it pending for a while",
					"connection", a.conn.ID, "err", err)
			}
		}
	}
}

func (p *Processor) sendAnswer(ctx context.Context, a answer) error {
	// Answers are rare, and the one thing processing needs the whole
	// connection for (its credentials): it is loaded here, not per batch.
	conn, err := p.client.Connection.Get(system(ctx), a.conn.ID)
	if err != nil {
		return fmt.Errorf("loading the connection to answer through: %w", err)
	}
	ch, acct, err := p.accounts.Account(conn)
	if err != nil {
		return err
	}
	answerer, ok := ch.(platform.Answerer)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	return answerer.Answer(ctx, acct, a.id)
}
