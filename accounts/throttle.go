package accounts

import (
	"crypto/sha256"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/switchboard-chat/switchboard/apperr"
)

// Lockout policy. The first wait is long enough to make guessing pointless
// (a few tries a minute) yet short enough that a user who mistyped a few
// times is not locked out of their morning; each further failure doubles it,
// up to the cap, so that an attacker who keeps going gets ever slower while
// someone an attacker locks out can still get in within the hour.
const (
	FirstLockout = time.Minute
	MaxLockout   = time.Hour
	// throttleEntries bounds the emails and client networks remembered (each
	// of the two tables, about 200 bytes an entry). Spraying fresh emails
	// evicts the oldest records, which only ever forgives; the per-network
	// table is what bounds such spraying.
	throttleEntries = 65536
	// busyRetry is what a caller refused because other attempts for the same
	// email or network are still being checked is told to wait.
	busyRetry = time.Second
)

// ThrottleLimits configure the sign-in throttle; zero fields take the
// defaults of the configuration (5 failures per email, 20 per network,
// within 15 minutes).
type ThrottleLimits struct {
	EmailFailures int
	IPFailures    int
	Window        time.Duration
}

// loginThrottle slows down password guessing. Failed sign-ins are counted per
// email (whether or not an account has it, so refusals tell nothing about
// which emails exist) and per client network; once either count reaches its
// limit, sign-ins for that email or from that network are refused, the right
// password included, until a lockout has passed. Counts are forgotten after a
// whole window without failures (after the lockout, if there was one), so
// "N failures within the window" means N failures none of which was followed
// by a quiet window.
//
// Attempts being checked count against the limit too: otherwise a burst of
// concurrent requests would all be checked before the first failure was
// recorded. The state lives in this process; replicas count separately.
type loginThrottle struct {
	limits ThrottleLimits
	now    func() time.Time

	mu     sync.Mutex
	emails *simplelru.LRU[[sha256.Size]byte, *strikes]
	nets   *simplelru.LRU[netip.Prefix, *strikes]
}

type strikes struct {
	failures int
	inflight int
	last     time.Time // the last failure
	until    time.Time // refused until then
}

func newLoginThrottle(l ThrottleLimits) *loginThrottle {
	if l.EmailFailures <= 0 {
		l.EmailFailures = 5
	}
	if l.IPFailures <= 0 {
		l.IPFailures = 20
	}
	if l.Window <= 0 {
		l.Window = 15 * time.Minute
	}
	emails, _ := simplelru.NewLRU[[sha256.Size]byte, *strikes](throttleEntries, nil)
	nets, _ := simplelru.NewLRU[netip.Prefix, *strikes](throttleEntries, nil)
	return &loginThrottle{limits: l, now: time.Now, emails: emails, nets: nets}
}

// outcome is how a sign-in attempt ended.
type outcome int

const (
	abandoned outcome = iota // no verdict on the password (a database error)
	failed
	succeeded
)

// attempt is a sign-in let through by begin; end must be called once.
type attempt struct {
	t     *loginThrottle
	email [sha256.Size]byte
	net   netip.Prefix // zero: client unknown
}

// begin lets an attempt for email (normalized) from the client network
// through, or refuses it with an *apperr.ErrTooManyRequests. The email is
// remembered by its hash, so a megabyte "email" costs 32 bytes.
func (t *loginThrottle) begin(email string, network netip.Prefix) (*attempt, error) {
	if t == nil {
		return &attempt{}, nil
	}
	a := &attempt{t: t, email: emailKey(email), net: network}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	e, _ := t.emails.Get(a.email)
	var n *strikes
	if network.IsValid() {
		n, _ = t.nets.Get(network)
	}
	wait := max(t.wait(e, t.limits.EmailFailures, now), t.wait(n, t.limits.IPFailures, now))
	if wait > 0 {
		// No count of failures, no hint whether the email or the network
		// tripped: either would help whoever is guessing.
		return nil, apperr.TooManyRequestsf(wait, "too many sign-in attempts: try again later")
	}
	if e == nil {
		e = &strikes{}
		t.emails.Add(a.email, e)
	}
	e.inflight++
	if network.IsValid() {
		if n == nil {
			n = &strikes{}
			t.nets.Add(network, n)
		}
		n.inflight++
	}
	return a, nil
}

func emailKey(email string) [sha256.Size]byte { return sha256.Sum256([]byte(email)) }

// wait says how long an attempt must wait under s (nil: nothing recorded).
func (t *loginThrottle) wait(s *strikes, limit int, now time.Time) time.Duration {
	if s == nil {
		return 0
	}
	t.forget(s, now)
	switch {
	case now.Before(s.until):
		return s.until.Sub(now)
	case s.failures >= limit && s.inflight > 0:
		// Past the limit, attempts go one at a time: each failure locks again.
		return busyRetry
	case s.failures < limit && s.failures+s.inflight >= limit:
		return busyRetry
	}
	return 0
}

// forget clears counts after a window without failures.
func (t *loginThrottle) forget(s *strikes, now time.Time) {
	quiet := s.last
	if s.until.After(quiet) {
		quiet = s.until
	}
	if s.failures > 0 && now.Sub(quiet) >= t.limits.Window {
		s.failures, s.until = 0, time.Time{}
	}
}

// end records how the attempt went.
func (a *attempt) end(o outcome) {
	t := a.t
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if e, ok := t.emails.Peek(a.email); ok {
		e.inflight = max(e.inflight-1, 0)
		switch o {
		case failed:
			t.fail(e, t.limits.EmailFailures, now)
		case succeeded:
			// Whoever knows the password starts over; the network's count
			// stays, or an attacker could clear it with an account of their own.
			e.failures, e.until = 0, time.Time{}
		}
		if e.failures == 0 && e.inflight == 0 {
			t.emails.Remove(a.email)
		}
	}
	if !a.net.IsValid() {
		return
	}
	if n, ok := t.nets.Peek(a.net); ok {
		n.inflight = max(n.inflight-1, 0)
		if o == failed {
			t.fail(n, t.limits.IPFailures, now)
		}
		if n.failures == 0 && n.inflight == 0 {
			t.nets.Remove(a.net)
		}
	}
}

func (t *loginThrottle) fail(s *strikes, limit int, now time.Time) {
	t.forget(s, now)
	s.failures++
	s.last = now
	if s.failures >= limit {
		s.until = now.Add(lockout(s.failures - limit))
	}
}

// lockout is the wait after the n-th failure past the limit (n from 0).
func lockout(n int) time.Duration {
	d := FirstLockout
	for ; n > 0 && d < MaxLockout; n-- {
		d *= 2
	}
	return min(d, MaxLockout)
}
