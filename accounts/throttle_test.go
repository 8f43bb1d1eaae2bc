package accounts

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
)

// clock is a throttle's time, moved by the test.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestThrottle(l ThrottleLimits) (*loginThrottle, *clock) {
	c := &clock{t: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	t := newLoginThrottle(l)
	t.now = c.now
	return t, c
}

var (
	home   = netip.MustParsePrefix("203.0.113.7/32")
	office = netip.MustParsePrefix("198.51.100.0/32")
)

// try runs one attempt through the throttle: the wait it was refused with, or
// 0 when it was let through and ended with o.
func try(t *testing.T, th *loginThrottle, email string, network netip.Prefix, o outcome) time.Duration {
	t.Helper()
	a, err := th.begin(email, network)
	if err != nil {
		var slow *apperr.ErrTooManyRequests
		if !errors.As(err, &slow) || slow.RetryAfter <= 0 {
			t.Fatalf("refusal %v is not a TooManyRequests with a wait", err)
		}
		return slow.RetryAfter
	}
	a.end(o)
	return 0
}

func TestThrottleLocksAnEmailWithDoublingWaits(t *testing.T) {
	th, c := newTestThrottle(ThrottleLimits{EmailFailures: 3, IPFailures: 1000, Window: 15 * time.Minute})
	for i := range 3 {
		if w := try(t, th, "ann@example.com", home, failed); w != 0 {
			t.Fatalf("failure %d refused (%v): the limit is 3", i+1, w)
		}
	}
	// The right password is refused too while the lockout runs.
	if w := try(t, th, "ann@example.com", home, succeeded); w != FirstLockout {
		t.Fatalf("after 3 failures: wait %v, want %v", w, FirstLockout)
	}
	// Other emails, and the same email from elsewhere, are judged on their own.
	if w := try(t, th, "bob@example.com", home, failed); w != 0 {
		t.Fatalf("another email refused: %v", w)
	}
	if w := try(t, th, "ann@example.com", office, succeeded); w == 0 {
		t.Fatal("the locked email got through from another network")
	}
	c.advance(FirstLockout / 2)
	if w := try(t, th, "ann@example.com", home, succeeded); w != FirstLockout/2 {
		t.Fatalf("half way: wait %v, want %v", w, FirstLockout/2)
	}
	// Each failure past the limit doubles the wait, up to the cap.
	want := FirstLockout
	for range 12 {
		c.advance(want)
		want = min(2*want, MaxLockout)
		if w := try(t, th, "ann@example.com", home, failed); w != 0 {
			t.Fatalf("after the lockout: refused (%v)", w)
		}
		if w := try(t, th, "ann@example.com", home, failed); w != want {
			t.Fatalf("next wait %v, want %v", w, want)
		}
	}
	if want != MaxLockout {
		t.Fatalf("the waits never reached the cap (%v)", want)
	}
	// After the lockout and a quiet window, the email starts over.
	c.advance(MaxLockout + 15*time.Minute)
	for i := range 3 {
		if w := try(t, th, "ann@example.com", home, failed); w != 0 {
			t.Fatalf("after a quiet window, failure %d refused (%v)", i+1, w)
		}
	}
}

func TestThrottleSuccessForgetsTheEmailsFailures(t *testing.T) {
	th, _ := newTestThrottle(ThrottleLimits{EmailFailures: 3, IPFailures: 1000, Window: time.Hour})
	for round := range 4 {
		for range 2 {
			if w := try(t, th, "ann@example.com", home, failed); w != 0 {
				t.Fatalf("round %d: refused (%v)", round, w)
			}
		}
		if w := try(t, th, "ann@example.com", home, succeeded); w != 0 {
			t.Fatalf("round %d: right password refused (%v)", round, w)
		}
	}
	if n := th.emails.Len(); n != 0 {
		t.Fatalf("%d email records kept after success, want none", n)
	}
}

func TestThrottleCountsFailuresPerNetwork(t *testing.T) {
	th, c := newTestThrottle(ThrottleLimits{EmailFailures: 1000, IPFailures: 4, Window: 15 * time.Minute})
	for i := range 4 {
		if w := try(t, th, fmt.Sprintf("user%d@example.com", i), home, failed); w != 0 {
			t.Fatalf("failure %d refused (%v)", i+1, w)
		}
	}
	if w := try(t, th, "fresh@example.com", home, succeeded); w != FirstLockout {
		t.Fatalf("a network past its limit: wait %v, want %v", w, FirstLockout)
	}
	if w := try(t, th, "fresh@example.com", office, succeeded); w != 0 {
		t.Fatalf("another network refused (%v)", w)
	}
	// A success from the network does not clear its failures: an attacker
	// would sign in to an account of their own between guesses.
	c.advance(FirstLockout)
	if w := try(t, th, "mine@example.com", home, succeeded); w != 0 {
		t.Fatalf("after the lockout: refused (%v)", w)
	}
	if w := try(t, th, "victim@example.com", home, failed); w != 0 {
		t.Fatalf("one attempt after the lockout refused (%v)", w)
	}
	if w := try(t, th, "victim@example.com", home, failed); w != 2*FirstLockout {
		t.Fatalf("wait %v, want %v", w, 2*FirstLockout)
	}
	// An unknown client (no address in the context) is limited per email only.
	if w := try(t, th, "someone@example.com", netip.Prefix{}, failed); w != 0 {
		t.Fatalf("no network: refused (%v)", w)
	}
}

func TestThrottleForgetsAfterAQuietWindow(t *testing.T) {
	th, c := newTestThrottle(ThrottleLimits{EmailFailures: 3, IPFailures: 1000, Window: 15 * time.Minute})
	for range 2 {
		try(t, th, "ann@example.com", home, failed)
	}
	c.advance(15 * time.Minute)
	for i := range 2 {
		if w := try(t, th, "ann@example.com", home, failed); w != 0 {
			t.Fatalf("failure %d after a quiet window refused (%v)", i+1, w)
		}
	}
	c.advance(14 * time.Minute)
	if w := try(t, th, "ann@example.com", home, failed); w != 0 {
		t.Fatalf("third failure refused (%v)", w)
	}
	if w := try(t, th, "ann@example.com", home, succeeded); w == 0 {
		t.Fatal("three failures, none followed by a quiet window, did not lock the email")
	}
}

// Attempts still being checked count: a burst of concurrent guesses cannot
// all start before the first failure is recorded.
func TestThrottleCountsAttemptsInFlight(t *testing.T) {
	th, c := newTestThrottle(ThrottleLimits{EmailFailures: 3, IPFailures: 1000, Window: 15 * time.Minute})
	var running []*attempt
	for i := range 3 {
		a, err := th.begin("ann@example.com", home)
		if err != nil {
			t.Fatalf("attempt %d refused: %v", i+1, err)
		}
		running = append(running, a)
	}
	if _, err := th.begin("ann@example.com", home); err == nil {
		t.Fatal("a 4th concurrent attempt was let through with a limit of 3")
	}
	for _, a := range running {
		a.end(failed)
	}
	if w := try(t, th, "ann@example.com", home, succeeded); w != FirstLockout {
		t.Fatalf("wait %v, want %v", w, FirstLockout)
	}
	// Past the limit, attempts go one at a time.
	c.advance(FirstLockout)
	a, err := th.begin("ann@example.com", home)
	if err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
	if _, err := th.begin("ann@example.com", home); err == nil {
		t.Fatal("two attempts at once past the limit")
	}
	a.end(abandoned) // a database error says nothing about the password
	if w := try(t, th, "ann@example.com", home, succeeded); w != 0 {
		t.Fatalf("after an abandoned attempt: refused (%v)", w)
	}
}

// Refusals are worded alike whatever tripped them, and say no counts.
func TestThrottleRefusalsTellNothing(t *testing.T) {
	th, _ := newTestThrottle(ThrottleLimits{EmailFailures: 1, IPFailures: 1, Window: time.Hour})
	try(t, th, "ann@example.com", home, failed)
	_, byEmail := th.begin("ann@example.com", office)
	_, byNetwork := th.begin("bob@example.com", home)
	if byEmail == nil || byNetwork == nil || byEmail.Error() != byNetwork.Error() {
		t.Fatalf("refusals %q and %q, want the same words", byEmail, byNetwork)
	}
}

// Memory is bounded whatever is sprayed at it, a megabyte "email" included.
func TestThrottleMemoryIsBounded(t *testing.T) {
	th, _ := newTestThrottle(ThrottleLimits{EmailFailures: 5, IPFailures: 1 << 30, Window: time.Hour})
	for i := range throttleEntries + 100 {
		var a [4]byte
		a[0], a[1], a[2], a[3] = 10, byte(i>>16), byte(i>>8), byte(i)
		try(t, th, fmt.Sprint(i, "@example.com"), netip.PrefixFrom(netip.AddrFrom4(a), 32), failed)
	}
	if th.emails.Len() > throttleEntries || th.nets.Len() > throttleEntries {
		t.Fatalf("tables hold %d emails and %d networks, bound %d", th.emails.Len(), th.nets.Len(), throttleEntries)
	}
	huge := make([]byte, 1<<20)
	for i := range huge {
		huge[i] = 'a'
	}
	try(t, th, string(huge), home, failed)
	if _, ok := th.emails.Peek(emailKey(string(huge))); !ok {
		t.Fatal("a long email was not recorded")
	}
}
