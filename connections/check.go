package connections

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/platform"
)

// Health checking: a channel dies silently when the platform drops our
// webhook or revokes a token, and customers notice before anyone else. So
// each connection's platform is asked, in the background and by
// testConnection alike, what it knows; the answer is recorded on the
// connection (health, lastSyncAt), a dropped webhook is registered again,
// and a rejected token puts the connection into ERROR.

// checkTimeout bounds one connection's check: a few platform calls, a
// renewal, a registration and the recording.
const checkTimeout = time.Minute

// checkBatch is how many connections one claim takes.
const checkBatch = 20

// checkJitter spreads each connection's next check over ±10% of the
// interval, so that connections made together (a deploy, a bulk connect)
// drift apart instead of hitting the platforms in step forever.
const checkJitter = 0.1

// Checker runs the background health checks of every replica. Replicas
// share the work through the database: each connection is claimed by one
// of them at a time.
type Checker struct {
	s     *Service
	every time.Duration
}

// Checker returns the health checker that looks at each live connection
// about once every interval (CONNECTION_CHECK_INTERVAL, at least a second).
func (s *Service) Checker(every time.Duration) *Checker {
	return &Checker{s: s, every: max(every, time.Second)}
}

// Run checks due connections until ctx ends. It looks for them ten times
// an interval, at jittered moments so that replicas started together do not
// poll together; the first look is after one such pause, not at start.
func (c *Checker) Run(ctx context.Context) {
	poll := max(c.every/10, 10*time.Millisecond)
	for {
		t := time.NewTimer(poll/2 + rand.N(poll))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if n := c.CheckDue(ctx); n > 0 {
			c.s.logger.DebugContext(ctx, "connections checked", "count", n)
		}
	}
}

// CheckDue checks every live connection that is due, claiming them in
// batches, and returns how many it checked. It returns once nothing is
// due, or once a connection it checked is due again (an interval shorter
// than the round), so a caller always gets it back.
func (c *Checker) CheckDue(ctx context.Context) int {
	done := map[pulid.ID]bool{}
	for ctx.Err() == nil {
		ids, err := c.claim(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.s.logger.ErrorContext(ctx, "claiming connections to check", "err", err)
			}
			break
		}
		again := false
		for _, id := range ids {
			if done[id] {
				again = true
				continue
			}
			done[id] = true
			c.checkOne(ctx, id)
		}
		if again || len(ids) < checkBatch {
			break
		}
	}
	return len(done)
}

// claimSQL takes up to $3 live connections whose check is due and moves
// their next check an interval ($1 seconds, ±$2 of it) ahead, in one
// statement: rows another replica is claiming are skipped, and once the
// statement commits none of them is due for anyone else.
const claimSQL = `
UPDATE connections SET next_check_at = now() + make_interval(secs => $1 * (1 + $2 * (2 * random() - 1)))
WHERE id IN (
	SELECT id FROM connections
	WHERE status <> $4 AND (next_check_at IS NULL OR next_check_at <= now())
	ORDER BY next_check_at NULLS FIRST, id
	LIMIT $3
	FOR UPDATE SKIP LOCKED)
RETURNING id`

func (c *Checker) claim(ctx context.Context) ([]pulid.ID, error) {
	rows, err := c.s.client.QueryContext(ctx, claimSQL, c.every.Seconds(), checkJitter, checkBatch, string(connection.StatusINACTIVE))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []pulid.ID
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, pulid.ID(id))
	}
	return ids, rows.Err()
}

// checkOne checks a claimed connection with its own deadline; failures are
// logged, and the next round tries again.
func (c *Checker) checkOne(ctx context.Context, id pulid.ID) {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	conn, err := c.s.client.Connection.Get(system(ctx), id)
	if ent.IsNotFound(err) {
		return
	}
	if err == nil && conn.Status != connection.StatusINACTIVE {
		_, err = c.s.check(ctx, conn)
	}
	if err != nil && ctx.Err() == nil {
		c.s.logger.WarnContext(ctx, "checking a connection", "connection", id, "err", err)
	}
}

// checked is what a check found, as recorded.
type checked struct {
	// conn is the connection after the check was recorded.
	conn *ent.Connection
	// checks are the platform's lines, for testConnection.
	checks []platform.Check
}

// check asks the connection's platform what it knows and records it: the
// health (always), lastSyncAt (when the check went through), a webhook
// registered again when the platform had lost it, and ERROR when the
// platform rejects the token. Where tokens are renewed, a rejected one is
// renewed once before it counts as rejected: an access token dies early
// when another is minted. The error is only for what kept the check from
// being made or recorded; what the platform said is in the record.
func (s *Service) check(ctx context.Context, c *ent.Connection) (*checked, error) {
	ch, acct, err := s.Account(c)
	if err != nil {
		return nil, err
	}
	rep, err := ask(ctx, ch, acct)
	refused := false // the renewal was refused, and Renew said so
	if _, renews := ch.(platform.TokenRenewer); renews && platform.IsAuth(err) {
		rc, rerr := s.Renew(ctx, c.ID, true)
		switch {
		case rerr != nil:
			rep.Checks, err = []platform.Check{platform.Failed("token valid", rerr)}, rerr
		case rc.Status == connection.StatusERROR:
			rep.Checks = []platform.Check{{Name: "token valid", OK: false, Detail: rc.StatusReason}}
			c, refused = rc, true
		default:
			c = rc
			if _, acct, err = s.Account(c); err != nil {
				return nil, err
			}
			rep, err = ask(ctx, ch, acct)
		}
	}
	if ctx.Err() != nil {
		// Cut short (a shutdown, a client gone): what was learned is partial.
		return nil, ctx.Err()
	}

	checks := rep.Checks
	status, reason := c.Status, c.StatusReason
	switch {
	case refused:
	case platform.IsAuth(err):
		status, reason = connection.StatusERROR, s.authReason(err)
	case rep.Reregister != "" && c.Status == connection.StatusACTIVE:
		r := s.reregister(ctx, ch, acct, c, rep.Reregister)
		status, reason = r.status, r.reason
		if r.rep != nil {
			rep, err = r.rep, r.err
			checks = rep.Checks
			if status == connection.StatusACTIVE {
				checks = append(checks, platform.Check{Name: "webhook registered again", OK: true, Detail: reason})
			}
		}
	}

	now := s.now()
	health := rep.Health
	health.CheckedAt = now
	if status == connection.StatusERROR && (c.Status != status || c.StatusReason != reason) {
		s.logger.WarnContext(ctx, "connection needs attention", "connection", c.ID, "reason", reason)
	}
	synced := err == nil && !refused
	rec, err := s.change(ctx, c.ID, func(u *ent.ConnectionUpdateOne) {
		// A connection disconnected or moved to other credentials while
		// it was being checked is not given findings about the old ones.
		u.Where(connection.StatusNEQ(connection.StatusINACTIVE), connection.CredentialsEQ(c.Credentials)).SetHealth(health)
		if synced {
			u.SetLastSyncAt(now)
		}
		if status != c.Status || reason != c.StatusReason {
			u.SetStatus(status).SetStatusReason(reason)
			if status != connection.StatusERROR {
				// Only ERROR may overrule what happened meanwhile (an
				// outbox send finding the token dead, say).
				u.Where(connection.StatusEQ(c.Status))
			}
		}
	})
	if ent.IsNotFound(err) {
		if rec, err = s.client.Connection.Get(system(ctx), c.ID); err != nil {
			return nil, err
		}
		return &checked{conn: rec, checks: checks}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("recording the check of connection %s: %w", c.ID, err)
	}
	return &checked{conn: rec, checks: checks}, nil
}

// repair is what registering a lost webhook again came to.
type repair struct {
	// rep and err are the platform's answer when asked again after
	// registering; rep is nil when nothing was registered.
	rep *platform.Report
	err error
	// status and reason are the connection's from now on.
	status connection.Status
	reason string
}

// reregister registers the webhook the check found missing (or registered
// with other settings) again, and asks the platform once more, so that the
// health recorded is what the platform says now. A registration refused for
// a passing reason is tried again at the next check; one refused for good
// leaves the connection in ERROR saying why.
func (s *Service) reregister(ctx context.Context, ch platform.Channel, acct platform.Account, c *ent.Connection, found string) repair {
	unchanged := repair{status: c.Status, reason: c.StatusReason}
	// Disconnected or given other credentials since the check read it:
	// registering the old account again would undo that.
	cur, err := s.client.Connection.Get(system(ctx), c.ID)
	if err != nil || cur.Status != connection.StatusACTIVE || !bytes.Equal(cur.Credentials, c.Credentials) {
		return unchanged
	}
	if err := ch.Reconnect(ctx, acct); err != nil {
		var pe *platform.Error
		switch {
		case platform.IsAuth(err):
			return repair{status: connection.StatusERROR, reason: s.authReason(err)}
		case ctx.Err() != nil, errors.As(err, &pe) && pe.Kind.Passing():
			s.logger.WarnContext(ctx, "registering a lost webhook again failed; the next check tries again",
				"connection", c.ID, "found", found, "err", err)
			return unchanged
		}
		return repair{status: connection.StatusERROR,
			reason: fmt.Sprintf("%s and registering it again failed (%s): reconnect the account", found, platform.Redact(err.Error()))}
	}
	s.logger.WarnContext(ctx, "webhook registered again", "connection", c.ID, "platform", ch.Platform(), "found", found)
	r := repair{status: connection.StatusACTIVE, reason: fmt.Sprintf("%s and registered again at %s", found, s.now().UTC().Format(time.RFC3339))}
	r.rep, r.err = ask(ctx, ch, acct)
	if platform.IsAuth(r.err) {
		r.status, r.reason = connection.StatusERROR, s.authReason(r.err)
	}
	return r
}

// ask runs the channel's check; a report always comes back, whatever the
// channel (or a wrapper of it in tests) answered.
func ask(ctx context.Context, ch platform.Channel, acct platform.Account) (*platform.Report, error) {
	rep, err := ch.Check(ctx, acct)
	if rep == nil {
		rep = &platform.Report{}
	}
	return rep, err
}
