// Package outbox sends what agents write. sendMessage stores the message
// as PENDING, in the transaction that also announces it, and returns at
// once; workers then send it through the platform's channel and record what
// happened, so the state an agent sees is always the truth: PENDING until the
// platform took it, SENT with the platform's id, FAILED with the platform's
// own words, never a relabelled button. Within a conversation messages leave
// in order; a conversation waiting for a retry holds up no other.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect/sql"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/connections"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/conversation"
	"github.com/switchboard-chat/switchboard/ent/message"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/ingest"
	"github.com/switchboard-chat/switchboard/metrics"
	"github.com/switchboard-chat/switchboard/platform"
)

// Options configure the outbox.
type Options struct {
	Client      *ent.Client
	Connections *connections.Service
	Events      *events.Writer
	Logger      *slog.Logger
	// MaxAttempts is how many times a send that fails for a reason that may
	// pass (a timeout, a 5xx, a rate limit) is tried before it FAILS (OUTBOX_MAX_ATTEMPTS).
	MaxAttempts int
	// Lease is how long an attempt may take before another worker may
	// assume its worker died and try again (default 2 minutes).
	Lease time.Duration
}

// Service stores, sends, retries and cancels outbound messages.
type Service struct {
	opt  Options
	wake chan struct{}
	now  func() time.Time
	// claims counts claim attempts, found or not (tests tell polling from
	// spinning by it).
	claims atomic.Int64
}

// Claims reports how many claims the workers have made.
func (s *Service) Claims() int64 { return s.claims.Load() }

// New returns the outbox.
func New(opt Options) *Service {
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 8
	}
	if opt.Lease <= 0 {
		opt.Lease = 2 * time.Minute
	}
	return &Service{opt: opt, wake: make(chan struct{}, 1), now: time.Now}
}

func system(ctx context.Context) context.Context { return privacy.DecisionContext(ctx, privacy.Allow) }

// AttachmentInput is one attachment of a message to send.
type AttachmentInput struct {
	URL  string
	Kind platform.MediaKind
}

// SendInput is sendMessage's input.
type SendInput struct {
	ConversationID  pulid.ID
	Text            *string
	Attachments     []*AttachmentInput
	ClientMessageID string
}

// Send validates a message, then stores it PENDING (with the viewer as its
// sender) and announces it, in one transaction; a worker sends it. The same
// clientMessageID in the same conversation returns the message stored
// first, so a double click or a network retry never sends twice.
func (s *Service) Send(ctx context.Context, in SendInput) (*ent.Message, error) {
	v := auth.FromContext(ctx)
	if v == nil {
		return nil, apperr.ErrUnauthenticated
	}
	clientID := strings.TrimSpace(in.ClientMessageID)
	if clientID == "" || len(clientID) > 255 {
		return nil, apperr.Input("clientMessageID", "must be 1 to 255 characters: a fresh id per message, the same one when retrying it")
	}
	conv, err := s.conversation(ctx, in.ConversationID, "conversationID")
	if err != nil {
		return nil, err
	}
	if m, err := s.byClientID(ctx, conv.ID, clientID); m != nil || err != nil {
		return m, err
	}
	ch, err := s.check(ctx, conv)
	if err != nil {
		return nil, err
	}
	text := ""
	if in.Text != nil {
		text = *in.Text
	}
	limits := ch.Limits()
	switch {
	case strings.TrimSpace(text) == "" && len(in.Attachments) == 0:
		return nil, apperr.Input("text", "a message needs text or an attachment")
	case utf8.RuneCountInString(text) > limits.Text:
		return nil, apperr.Input("text", "is %d characters long; %s takes at most %d in a message", utf8.RuneCountInString(text), ch.Title(), limits.Text)
	case len(in.Attachments) > 1:
		return nil, apperr.Input("attachments", "at most one attachment per message")
	}
	var attachments []schematype.Attachment
	kind := message.KindTEXT
	if len(in.Attachments) == 1 {
		a := in.Attachments[0]
		if u, err := url.Parse(a.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, apperr.Input("attachments.0.url", "must be an http or https URL the platform can fetch")
		}
		if !slices.Contains(limits.Kinds, a.Kind) {
			return nil, apperr.Input("attachments.0.kind", "%s cannot send %s attachments (it sends %s)", ch.Title(), a.Kind, kinds(limits.Kinds))
		}
		kind = message.Kind(a.Kind)
		attachments = []schematype.Attachment{{Type: strings.ToLower(string(a.Kind)), URL: a.URL}}
	}
	if err := s.window(ctx, ch, conv); err != nil {
		return nil, err
	}
	var m *ent.Message
	err = s.opt.Events.Do(ctx, func(tx *ent.Tx) ([]events.Event, error) {
		id, now := pulid.New("msg"), s.now()
		create := tx.Message.Create().
			SetID(id).
			SetCampaignID(conv.CampaignID).
			SetConversationID(conv.ID).
			SetConnectionID(conv.ConnectionID).
			SetSenderID(v.UserID).
			SetDirection(message.DirectionOUTBOUND).
			SetKind(kind).
			SetText(text).
			SetStatus(message.StatusPENDING).
			SetClientMessageID(clientID).
			SetSentAt(now).
			SetPosition(ingest.Position(now, id))
		if attachments != nil {
			create.SetAttachments(attachments)
		}
		var err error
		if m, err = create.Save(ctx); err != nil {
			return nil, err
		}
		// The newest message leads the conversation in lists.
		if _, err := tx.Conversation.UpdateOneID(conv.ID).SetLastMessageID(m.ID).SetLastMessageAt(now).Save(system(ctx)); err != nil {
			return nil, err
		}
		return []events.Event{
			{Type: events.MessageAdded, CampaignID: m.CampaignID, ConversationID: m.ConversationID, EntityID: m.ID},
			{Type: events.ConversationUpdated, CampaignID: m.CampaignID, ConversationID: m.ConversationID, EntityID: m.ConversationID},
		}, nil
	})
	if ent.IsConstraintError(err) {
		// The same clientMessageID raced in from another request: that one won.
		if won, lerr := s.byClientID(ctx, conv.ID, clientID); won != nil || lerr != nil {
			return won, lerr
		}
	}
	if err != nil {
		return nil, err
	}
	s.Wake()
	return m.Unwrap(), nil
}

func kinds(ks []platform.MediaKind) string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return strings.Join(out, ", ")
}

// conversation loads a conversation the viewer may see, with its connection and contact.
func (s *Service) conversation(ctx context.Context, id pulid.ID, field string) (*ent.Conversation, error) {
	conv, err := s.opt.Client.Conversation.Query().Where(conversation.ID(id)).WithConnection().WithContact().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, &apperr.InputError{Field: field, Message: fmt.Sprintf("conversation %s not found", id), Kind: apperr.ErrNotFound}
	}
	return conv, err
}

func (s *Service) byClientID(ctx context.Context, conv pulid.ID, clientID string) (*ent.Message, error) {
	m, err := s.opt.Client.Message.Query().Where(message.ConversationID(conv), message.ClientMessageID(clientID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return m, err
}

// check refuses to send on a connection that cannot: disconnected, or in
// ERROR (its token is dead: sending would fail anyway).
func (s *Service) check(ctx context.Context, conv *ent.Conversation) (platform.Channel, error) {
	conn := conv.Edges.Connection
	ch, _, err := s.channel(conn)
	if err != nil {
		return nil, err
	}
	switch conn.Status {
	case connection.StatusINACTIVE:
		return nil, apperr.Preconditionf("the conversation's %s connection %q was disconnected: connect the account again to reply", ch.Title(), conn.Name)
	case connection.StatusERROR:
		return nil, apperr.Preconditionf("the conversation's %s connection %q needs attention (%s): reconnect it to reply", ch.Title(), conn.Name, conn.StatusReason)
	}
	return ch, nil
}

func (s *Service) channel(conn *ent.Connection) (platform.Channel, platform.Account, error) {
	if conn.Status == connection.StatusINACTIVE {
		ch, err := s.opt.Connections.Channel(conn.Platform)
		return ch, platform.Account{}, err
	}
	return s.opt.Connections.Account(conn)
}

// window refuses a reply outside the platform's messaging window, counted
// from the customer's last message.
func (s *Service) window(ctx context.Context, ch platform.Channel, conv *ent.Conversation) error {
	limits := ch.Limits()
	if limits.Window == 0 {
		return nil
	}
	last, err := s.opt.Client.Message.Query().
		Where(message.ConversationID(conv.ID), message.DirectionEQ(message.DirectionINBOUND)).
		Order(message.BySentAt(sql.OrderDesc())).First(system(ctx))
	if err != nil && !ent.IsNotFound(err) {
		return err
	}
	if last == nil {
		return apperr.Preconditionf("%s: the customer has not written in this conversation yet", limits.WindowRule)
	}
	if since := s.now().Sub(last.SentAt); since > limits.Window {
		return apperr.Preconditionf("%s: the customer last wrote %s ago (%s)", limits.WindowRule, since.Round(time.Minute), last.SentAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// Retry sends a FAILED outbound message again, for real: it goes back to
// PENDING with its attempts counted afresh.
func (s *Service) Retry(ctx context.Context, id pulid.ID) (*ent.Message, error) {
	m, conv, err := s.outbound(ctx, id)
	if err != nil {
		return nil, err
	}
	if m.Status != message.StatusFAILED {
		return nil, apperr.Preconditionf("only a FAILED message can be retried; this one is %s", m.Status)
	}
	ch, err := s.check(ctx, conv)
	if err != nil {
		return nil, err
	}
	if err := s.window(ctx, ch, conv); err != nil {
		return nil, err
	}
	m, err = s.change(ctx, m.ID, func(u *ent.MessageUpdateOne) {
		u.SetStatus(message.StatusPENDING).SetAttempts(0).ClearNextAttemptAt().ClearClaimedAt().SetError("")
	}, message.StatusFAILED)
	if err != nil {
		return nil, err
	}
	s.Wake()
	return m, nil
}

// Cancel stops a PENDING message that is not being sent right now.
func (s *Service) Cancel(ctx context.Context, id pulid.ID) (*ent.Message, error) {
	m, _, err := s.outbound(ctx, id)
	if err != nil {
		return nil, err
	}
	if m.Status != message.StatusPENDING {
		return nil, apperr.Preconditionf("only a PENDING message can be canceled; this one is %s", m.Status)
	}
	if s.inFlight(m) {
		return nil, apperr.Preconditionf("the message is being sent right now; it can no longer be canceled")
	}
	return s.change(ctx, m.ID, func(u *ent.MessageUpdateOne) {
		u.SetStatus(message.StatusCANCELED).ClearNextAttemptAt()
	}, message.StatusPENDING)
}

func (s *Service) inFlight(m *ent.Message) bool {
	return m.ClaimedAt != nil && m.NextAttemptAt != nil && m.NextAttemptAt.After(s.now())
}

// outbound loads a message the viewer may change: an outbound one of a
// campaign the viewer is a member of.
func (s *Service) outbound(ctx context.Context, id pulid.ID) (*ent.Message, *ent.Conversation, error) {
	m, err := s.opt.Client.Message.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, nil, &apperr.InputError{Field: "id", Message: fmt.Sprintf("message %s not found", id), Kind: apperr.ErrNotFound}
	}
	if err != nil {
		return nil, nil, err
	}
	if m.Direction != message.DirectionOUTBOUND {
		return nil, nil, apperr.Preconditionf("the message is INBOUND: only messages sent to customers can be retried or canceled")
	}
	conv, err := s.conversation(ctx, m.ConversationID, "id")
	return m, conv, err
}

// change updates a message, if its status is still one of from, and
// announces it. It runs with the caller's context, so the campaign's access
// rules decide who may.
func (s *Service) change(ctx context.Context, id pulid.ID, set func(*ent.MessageUpdateOne), from ...message.Status) (*ent.Message, error) {
	var m *ent.Message
	err := s.opt.Events.Do(ctx, func(tx *ent.Tx) ([]events.Event, error) {
		cur, err := tx.Message.Query().Where(message.ID(id)).ForUpdate().Only(ctx)
		if err != nil {
			return nil, err
		}
		if len(from) > 0 && !slices.Contains(from, cur.Status) {
			return nil, apperr.Preconditionf("the message became %s meanwhile", cur.Status)
		}
		upd := tx.Message.UpdateOne(cur)
		set(upd)
		if m, err = upd.Save(ctx); err != nil {
			return nil, err
		}
		return []events.Event{{Type: events.MessageUpdated, CampaignID: m.CampaignID, ConversationID: m.ConversationID, EntityID: m.ID}}, nil
	})
	if err != nil {
		return nil, err
	}
	return m.Unwrap(), nil
}

// Wake tells an idle worker there is something to send.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run starts workers that send until ctx ends. Besides being woken by new
// messages, they poll, so retries come due and messages stored by other
// replicas (or before a crash) go out.
func (s *Service) Run(ctx context.Context, workers int, poll time.Duration) {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var lastErr string
			for ctx.Err() == nil {
				did, err := s.SendNext(ctx)
				if err != nil && ctx.Err() == nil {
					if msg := err.Error(); msg != lastErr {
						s.opt.Logger.ErrorContext(ctx, "sending from the outbox; retrying", "err", err)
						lastErr = msg
					}
					pause(ctx, time.Second)
					continue
				}
				lastErr = ""
				if did {
					// More may be waiting: an idle peer helps. A wake-up
					// is passed on only after a send, never after an empty
					// claim: two idle workers handing one back and forth
					// claimed in a loop (60% of a core with nothing to send).
					s.Wake()
					continue
				}
				select {
				case <-ctx.Done():
				case <-s.wake:
				case <-time.After(poll):
				}
			}
		})
	}
	wg.Wait()
}

func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// claimSQL finds the oldest message that is due and first in its
// conversation's queue. A message whose attempt is under way counts as not
// due until its lease ends, and keeps the messages behind it waiting, so a
// conversation's messages leave in order whatever the number of workers.
// Each conversation's head comes from one ordered pass over the pending
// index (DISTINCT ON), linear in the pending messages whatever the
// statistics say. The NOT EXISTS it replaces ("no earlier pending message
// in the conversation") became a nested loop over every pending message
// for each one when a burst of sends outran ANALYZE: 972 ms per claim with
// 2,600 pending sends, against 0.8 ms now (PERFORMANCE.md). The outer
// conditions are on m itself so that, when another worker changed the row
// (sent it, leased it) after this statement's snapshot, PostgreSQL checks
// them again on the row as it now is before locking it.
const claimSQL = `
SELECT m.id FROM (
	SELECT DISTINCT ON (conversation_id) id, position, next_attempt_at FROM messages
	WHERE direction = 'OUTBOUND' AND status = 'PENDING'
	ORDER BY conversation_id, position
) head JOIN messages m ON m.id = head.id
WHERE m.direction = 'OUTBOUND' AND m.status = 'PENDING' AND (m.next_attempt_at IS NULL OR m.next_attempt_at <= $1)
ORDER BY head.position
LIMIT 1
FOR UPDATE OF m SKIP LOCKED`

// SendNext sends the next due message, and reports whether there was one.
// The attempt is recorded (with a lease) before the platform is called and
// its result right after, so the only window in which a crash sends twice
// is between the platform taking the message and that second commit.
func (s *Service) SendNext(ctx context.Context) (bool, error) {
	ctx = system(ctx)
	s.claims.Add(1)
	var m *ent.Message
	err := s.opt.Events.Do(ctx, func(tx *ent.Tx) ([]events.Event, error) {
		rows, err := tx.QueryContext(ctx, claimSQL, s.now())
		if err != nil {
			return nil, fmt.Errorf("claiming from the outbox: %w", err)
		}
		var id string
		found := rows.Next()
		if found {
			err = rows.Scan(&id)
		}
		rows.Close()
		if err != nil || !found {
			return nil, err
		}
		now := s.now()
		m, err = tx.Message.UpdateOneID(pulid.ID(id)).AddAttempts(1).SetClaimedAt(now).SetNextAttemptAt(now.Add(s.opt.Lease)).Save(ctx)
		return nil, err
	})
	if err != nil || m == nil {
		return false, err
	}
	m = m.Unwrap()
	sent, account, sendErr := s.deliver(ctx, m)
	return true, s.record(ctx, m, sent, account, sendErr)
}

// deliver sends a claimed message through its channel, and says which
// account of the platform sent it (the platform's message ids are that
// account's). A token the platform rejects is renewed once, where the
// platform renews tokens, and the send tried again.
func (s *Service) deliver(ctx context.Context, m *ent.Message) (platform.Sent, string, error) {
	conv, err := s.opt.Client.Conversation.Query().Where(conversation.ID(m.ConversationID)).WithConnection().WithContact().Only(ctx)
	if err != nil {
		return platform.Sent{}, "", err
	}
	conn := conv.Edges.Connection
	if conn.Status == connection.StatusINACTIVE {
		return platform.Sent{}, "", &platform.Error{Platform: "switchboard", Op: "send", Kind: platform.Permanent, Message: "the connection was disconnected"}
	}
	ch, acct, err := s.opt.Connections.Account(conn)
	if err != nil {
		return platform.Sent{}, "", err
	}
	out := platform.Outbound{To: conv.Edges.Contact.ExternalID, Text: m.Text, Done: len(m.ExternalIds)}
	if len(m.Attachments) > 0 {
		out.Media = &platform.Media{URL: m.Attachments[0].URL, Kind: platform.MediaKind(m.Kind)}
	}
	sent, err := send(ctx, ch, acct, out)
	if _, renews := ch.(platform.TokenRenewer); renews && platform.IsAuth(err) {
		rc, rerr := s.opt.Connections.Renew(ctx, conn.ID, true)
		if rerr != nil || rc.Status == connection.StatusERROR {
			return sent, acct.ExternalID, err
		}
		if _, acct, rerr = s.opt.Connections.Account(rc); rerr != nil {
			return sent, acct.ExternalID, err
		}
		out.Done += len(sent.IDs)
		more, err := send(ctx, ch, acct, out)
		return platform.Sent{IDs: append(sent.IDs, more.IDs...)}, acct.ExternalID, err
	}
	return sent, acct.ExternalID, err
}

// send is one attempt, counted by platform, and by kind when it fails.
func send(ctx context.Context, ch platform.Channel, acct platform.Account, out platform.Outbound) (platform.Sent, error) {
	p := string(ch.Platform())
	metrics.SendAttempts.WithLabelValues(p).Inc()
	sent, err := ch.Send(ctx, acct, out)
	if err != nil {
		metrics.SendFailures.WithLabelValues(p, platform.KindOf(err).String()).Inc()
	}
	return sent, err
}

// record writes the result of an attempt: SENT with the platform's ids, a
// retry later, or FAILED with the platform's words; a dead token also puts
// the connection into ERROR.
func (s *Service) record(ctx context.Context, m *ent.Message, sent platform.Sent, account string, sendErr error) error {
	// The connection shows the dead token by the time the message shows
	// its failure.
	if platform.IsAuth(sendErr) {
		if err := s.opt.Connections.MarkAuthFailed(ctx, m.ConnectionID, sendErr); err != nil {
			return err
		}
	}
	err := s.opt.Events.Do(ctx, func(tx *ent.Tx) ([]events.Event, error) {
		cur, err := tx.Message.Query().Where(message.ID(m.ID)).ForUpdate().Only(ctx)
		if err != nil {
			return nil, err
		}
		upd := tx.Message.UpdateOne(cur).ClearClaimedAt()
		if len(sent.IDs) > 0 {
			ids := append(slices.Clone(cur.ExternalIds), sent.IDs...)
			// An echo stored before the send was recorded is this message.
			if _, err := tx.Message.Delete().Where(message.ConnectionID(cur.ConnectionID), message.Account(account),
				message.ExternalIDIn(sent.IDs...), message.IDNEQ(cur.ID)).Exec(ctx); err != nil {
				return nil, err
			}
			upd.SetExternalIds(ids)
			if cur.ExternalID == nil {
				// The rest of a send resumed after a switch has the new
				// account's ids; the message keeps the first part's.
				upd.SetExternalID(ids[0]).SetAccount(account)
			}
		}
		switch kind := platform.KindOf(sendErr); {
		case sendErr != nil && cur.Status == message.StatusCANCELED:
			upd.SetError(reason(sendErr)) // canceled while under way, and not sent: it stays canceled
		case sendErr == nil:
			// A cancel that raced the send loses: the platform took it.
			upd.SetStatus(message.StatusSENT).SetError("").ClearNextAttemptAt().SetSentAt(s.now())
		case kind.Passing() && cur.Attempts < s.opt.MaxAttempts && cur.Status == message.StatusPENDING:
			upd.SetError(reason(sendErr)).SetNextAttemptAt(s.now().Add(backoff(cur.Attempts, sendErr)))
		default:
			msg := reason(sendErr)
			if kind.Passing() {
				msg = fmt.Sprintf("gave up after %d attempts: %s", cur.Attempts, msg)
			}
			upd.SetStatus(message.StatusFAILED).SetError(msg).ClearNextAttemptAt()
		}
		if m, err = upd.Save(ctx); err != nil {
			return nil, err
		}
		return []events.Event{{Type: events.MessageUpdated, CampaignID: m.CampaignID, ConversationID: m.ConversationID, EntityID: m.ID}}, nil
	})
	if err != nil {
		return fmt.Errorf("recording the send of %s: %w", m.ID, err)
	}
	if sendErr != nil {
		s.opt.Logger.WarnContext(ctx, "sending a message failed", "message", m.ID, "attempt", m.Attempts, "status", m.Status, "err", sendErr)
	}
	return nil
}

// reason is a failure as the agent reads it: the platform's own words.
func reason(err error) string {
	var pe *platform.Error
	if errors.As(err, &pe) {
		return platform.Redact(pe.Message)
	}
	return platform.Redact(err.Error())
}

// backoff is how long to wait before attempt n+1: about 1 s, 2 s, 4 s …
// capped at 5 minutes, with jitter, and never less than the platform asked.
func backoff(attempts int, err error) time.Duration {
	d := min(time.Second<<min(max(attempts-1, 0), 9), 5*time.Minute)
	d += time.Duration(rand.Int64N(int64(d/4) + 1))
	var pe *platform.Error
	if errors.As(err, &pe) && pe.RetryAfter > d {
		d = pe.RetryAfter
	}
	return d
}

// probeWait bounds how long a test message is waited for.
const probeWait = 20 * time.Second

// Probe sends a test message to a conversation of the connection through
// the outbox, as an agent's would go, and reports how it went as the
// connection test's "message sent" check.
func (s *Service) Probe(ctx context.Context, connectionID, conversationID pulid.ID) platform.Check {
	failed := func(format string, args ...any) platform.Check {
		return platform.Check{Name: "message sent", OK: false, Detail: fmt.Sprintf(format, args...)}
	}
	conv, err := s.conversation(ctx, conversationID, "sendTo")
	if err != nil {
		return failed("%v", err)
	}
	if conv.ConnectionID != connectionID {
		return failed("conversation %s is not one of this connection's", conversationID)
	}
	text := "Switchboard test message: the Integration tab is checking that replies reach you."
	m, err := s.Send(ctx, SendInput{ConversationID: conversationID, Text: &text, ClientMessageID: "test-" + string(pulid.New("tst"))})
	if err != nil {
		return failed("%v", err)
	}
	deadline := time.Now().Add(probeWait)
	for {
		cur, err := s.opt.Client.Message.Get(system(ctx), m.ID)
		if err != nil {
			return failed("%v", err)
		}
		switch cur.Status {
		case message.StatusSENT, message.StatusDELIVERED, message.StatusREAD:
			return platform.Check{Name: "message sent", OK: true, Detail: fmt.Sprintf("%s took the test message (%s)", conv.Edges.Connection.Platform, deref(cur.ExternalID))}
		case message.StatusFAILED, message.StatusCANCELED:
			return failed("the test message %s: %s", strings.ToLower(string(cur.Status)), cur.Error)
		}
		if time.Now().After(deadline) {
			detail := "the test message is still waiting to be sent"
			if cur.Error != "" {
				detail += "; the last attempt failed: " + cur.Error
			}
			return failed("%s", detail)
		}
		pause(ctx, 50*time.Millisecond)
		if ctx.Err() != nil {
			return failed("%v", ctx.Err())
		}
	}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
