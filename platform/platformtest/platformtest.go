// Package platformtest holds what every platform adapter's webhook wire
// format must withstand, for each adapter's own tests to run on its own
// fixtures: fuzz targets for the signature check, the splitter and the
// decoder (go test -fuzz; their seed corpora run as ordinary tests), and the
// benchmarks of the same hot paths.
package platformtest

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/switchboard-chat/switchboard/inbound"
	"github.com/switchboard-chat/switchboard/platform"
)

// AnyThread has a Split test's list of fragments leave their threads to
// FuzzWebhook, which holds every fixture's to the contact Decode makes.
var AnyThread cmp.Option = cmpopts.IgnoreFields(inbound.Fragment{}, "Thread")

// Wire is one platform's webhook format as the fuzzers and benchmarks see it.
type Wire struct {
	Channel platform.Channel
	// Key is what Verify is given: the account's webhook key, or the app
	// secret for an AppSigned platform.
	Key string
	// Header is the request header the platform signs in.
	Header string
	// Sign is that header's value for a body, as the platform computes it,
	// or "" where no value is right (a Zalo body whose envelope is unreadable).
	Sign func(body []byte) string
	// Fixtures are webhook bodies as the platform posts them (testdata/*.json).
	Fixtures [][]byte
}

// Fixtures reads every .json file of dir, in name order.
func Fixtures(tb testing.TB, dir string) [][]byte {
	tb.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(names) == 0 {
		tb.Fatalf("no fixtures in %s: %v", dir, err)
	}
	slices.Sort(names)
	out := make([][]byte, 0, len(names))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzVerify checks that Verify never panics and accepts a request only
// when it carries the body's own signature: a forged or altered body is
// refused whatever the header says.
func FuzzVerify(f *testing.F, w Wire) {
	for _, body := range w.Fixtures {
		f.Add(body, w.Sign(body))
		f.Add(body, "")
	}
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		h := http.Header{}
		h.Set(w.Header, sig)
		if err := w.Channel.Verify(h, body, w.Key); err != nil {
			return
		}
		if want := w.Sign(body); want == "" || !strings.EqualFold(sig, want) {
			t.Fatalf("Verify accepted %s: %q over a body whose signature is %q", w.Header, sig, want)
		}
	})
}

// FuzzWebhook feeds a verified body through what the webhook edge and the
// processor do with it (Peek for an AccountRouted platform, Split, then
// Decode of every fragment) and checks that nothing panics, that a decoded
// fragment is an event, that Split named the thread of the customer Decode
// makes the contact, and that the fragments stay in proportion to the
// body: a body's fragments are journaled, so a body that multiplied into
// many copies of itself would be an allocation a sender controls. (The
// journal queues one customer's events in one lane by their thread: a
// thread other than the contact would let two transactions apply one
// conversation's events side by side, out of order.)
func FuzzWebhook(f *testing.F, w Wire) {
	for _, body := range w.Fixtures {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if r, ok := w.Channel.(platform.AccountRouted); ok {
			_, _ = r.Peek(body)
		}
		frags, err := w.Channel.Split(body)
		if err != nil {
			if len(frags) != 0 {
				t.Fatalf("Split failed (%v) and still returned %d fragments", err, len(frags))
			}
			return
		}
		total := 0
		for i, fr := range frags {
			total += len(fr.Raw)
			ev, err := w.Channel.Decode(fr.Raw)
			if err == nil && ev == nil {
				t.Fatalf("fragment %d (%s) decoded to no event and no error", i, fr.Raw)
			}
			if err == nil && !ev.Test && ev.Contact.ExternalID != "" && fr.Thread != ev.Contact.ExternalID {
				t.Fatalf("fragment %d (%s): Split's thread is %q, Decode's contact %q", i, fr.Type, fr.Thread, ev.Contact.ExternalID)
			}
		}
		if limit := 4*len(body) + 256*len(frags); total > limit {
			t.Fatalf("%d fragments hold %d bytes from a body of %d", len(frags), total, len(body))
		}
	})
}

// Bench measures the hot path of an accepted webhook for one body as it
// would arrive: Verify, Split, and Decode of its fragments.
func Bench(b *testing.B, w Wire, body []byte) {
	h := http.Header{}
	h.Set(w.Header, w.Sign(body))
	if err := w.Channel.Verify(h, body, w.Key); err != nil {
		b.Fatalf("the benchmark's body does not verify: %v", err)
	}
	frags, err := w.Channel.Split(body)
	if err != nil || len(frags) == 0 {
		b.Fatalf("the benchmark's body does not split: %v", err)
	}
	b.Run("Verify", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if err := w.Channel.Verify(h, body, w.Key); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Split", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := w.Channel.Split(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, fr := range frags {
				if _, err := w.Channel.Decode(fr.Raw); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
