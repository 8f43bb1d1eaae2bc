package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard-chat/switchboard/auth"
)

// An event fanned out to a thousand agents watching one campaign would be
// executed and encoded a thousand times, identically when their
// subscriptions are the same document with the same variables: the SPA's.
// Subscriptions of one shape share each event's encoding instead: the first
// to take the event executes it, and those that come to it after it is made
// write its bytes (the others execute their own). Each subscriber's access to the campaign
// is still checked per event before anything is queued for it.
//
// What a subscription may see of the event's campaign is the same for every
// viewer who may see the campaign (ent privacy rules scope every entity to
// its campaign). Users are the exception: a member sees the users it shares
// any campaign with. A subscription that selects users shares only with the
// same user's other sockets.

// encoding is one event's encoded response for one shape.
type encoding struct {
	once    sync.Once
	done    chan struct{}
	payload []byte
	ok      bool
	// Set by its maker when it claims it: the event's fan-out span, the
	// parent of the maker's deliver span (see deliverSpan).
	fanOut trace.SpanContext
	event  int64
}

func (e *encoding) fill(payload []byte, ok bool) {
	e.once.Do(func() {
		e.payload, e.ok = payload, ok
		close(e.done)
	})
}

// ready returns the encoding if it is made already. Nobody waits for one
// being made: waiting chains subscribers into a convoy behind the slowest
// (measured: latency doubled at 10 subscribers × 1,000 msg/s), while
// executing one's own costs only the CPU sharing would have saved.
func (e *encoding) ready() ([]byte, bool) {
	select {
	case <-e.done:
		return e.payload, e.ok
	default:
		return nil, false
	}
}

type encodingKey struct {
	shape string
	event int64
}

// encodings keeps the encodings of the last events.
type encodings struct {
	mu    sync.Mutex
	byKey map[encodingKey]*encoding
	order []encodingKey
}

// keepEncodings bounds the cache: a few thousand recent events' worth.
const keepEncodings = 4096

var sharedEncodings = &encodings{byKey: map[encodingKey]*encoding{}}

// claim returns the event's encoding for the shape, and whether the caller
// is the one to make it.
func (es *encodings) claim(shape string, event int64) (*encoding, bool) {
	k := encodingKey{shape, event}
	es.mu.Lock()
	defer es.mu.Unlock()
	if e, ok := es.byKey[k]; ok {
		return e, false
	}
	e := &encoding{done: make(chan struct{})}
	es.byKey[k] = e
	es.order = append(es.order, k)
	if len(es.order) > keepEncodings {
		delete(es.byKey, es.order[0])
		es.order = es.order[1:]
	}
	return e, true
}

// shapeOf is the key of the subscriptions a subscription may share
// encodings with: its document, operation and variables, whether its viewer
// is an administrator, and, when it selects users, the viewer.
func shapeOf(ctx context.Context, rc *graphql.OperationContext) string {
	v := auth.FromContext(ctx)
	if v == nil || rc.Operation == nil {
		return ""
	}
	vars, err := json.Marshal(rc.Variables) // map keys sorted: stable
	if err != nil {
		return ""
	}
	h := sha256.New()
	for _, part := range []string{rc.RawQuery, rc.OperationName, string(vars)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	if v.Admin {
		h.Write([]byte("admin"))
	}
	if selectsUsers(rc.Doc, rc.Operation.SelectionSet, map[string]bool{}) {
		h.Write([]byte("user:" + string(v.UserID)))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// selectsUsers reports whether a selection reaches a User anywhere.
func selectsUsers(doc *ast.QueryDocument, set ast.SelectionSet, seen map[string]bool) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Definition != nil && isUserType(s.Definition.Type.Name()) {
				return true
			}
			if selectsUsers(doc, s.SelectionSet, seen) {
				return true
			}
		case *ast.InlineFragment:
			if isUserType(s.TypeCondition) || selectsUsers(doc, s.SelectionSet, seen) {
				return true
			}
		case *ast.FragmentSpread:
			if seen[s.Name] {
				continue
			}
			seen[s.Name] = true
			f := s.Definition
			if f == nil && doc != nil {
				f = doc.Fragments.ForName(s.Name)
			}
			if f != nil && (isUserType(f.TypeCondition) || selectsUsers(doc, f.SelectionSet, seen)) {
				return true
			}
		}
	}
	return false
}

func isUserType(name string) bool {
	return name == "User" || name == "UserConnection" || name == "UserEdge"
}
