package graph_test

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard-chat/switchboard/ent/conversation"
	"github.com/switchboard-chat/switchboard/ent/user"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/tracing/tracingtest"
)

// spanIn waits for the ended span of the trace with the name and returns it.
func spanIn(t *testing.T, rec *tracetest.SpanRecorder, id trace.TraceID, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found sdktrace.ReadOnlySpan
	testkit.Eventually(t, "span "+name+" of trace "+id.String()+" ends", func() bool {
		for _, sp := range rec.Ended() {
			if sp.SpanContext().TraceID() == id && sp.Name() == name {
				found = sp
				return true
			}
		}
		return false
	})
	return found
}

func attrs(sp sdktrace.ReadOnlySpan) map[string]string {
	out := map[string]string{}
	for _, kv := range sp.Attributes() {
		out[string(kv.Key)] = kv.Value.String()
	}
	return out
}

// traceparent is the header naming a client's span of a new trace.
func traceparent(id byte) (string, trace.SpanContext) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{0x7a, id, 0x01}, SpanID: trace.SpanID{0x5b, id},
		TraceFlags: trace.FlagsSampled})
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01", sc
}

// A customer's message is one trace from the platform's request to the
// agent's socket: webhook → journal → ingest → fan-out → deliver, each span
// the child of the one before; and an agent's reply is one trace from its
// mutation to the sockets it is fanned out to.
func TestMessageTraceReachesTheSubscriber(t *testing.T) {
	e := newEnvWith(t, map[string]string{"INGEST_WORKERS": "1"})
	rec := tracingtest.Record(t)
	_, tok := e.user(user.RoleADMIN)
	conn, _, secret := e.TelegramBot()
	s := testkit.Open(t, e.wsURL(), tok)
	s.Subscribe("m", `subscription TracedInbox($c: ID!) { messageAdded(campaignID: $c) { text } }`, map[string]any{"c": string(conn.CampaignID)})
	chat := testkit.Digits("8")
	post := func(update int, text string, header map[string]string) {
		body := fmt.Appendf(nil, `{"update_id":%d,"message":{"message_id":%d,"date":%d,"chat":{"id":%s,"type":"private","first_name":"Lan"},"from":{"id":%s,"is_bot":false,"first_name":"Lan"},"text":%q}}`,
			update, update, time.Now().Unix(), chat, chat, text)
		req, _ := http.NewRequest(http.MethodPost, e.Stack.URL+"/webhooks/telegram/"+string(conn.ID), bytes.NewReader(body))
		req.Header.Set(telegram.SecretHeader, secret)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := e.HC.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("webhook answered %d", resp.StatusCode)
		}
	}
	receive := func(text string) {
		for {
			if m := s.Next(); testkit.Pick(m, "payload", "data", "messageAdded", "text") == text {
				return
			}
		}
	}
	s.UntilLive(func(i int) { post(1000+i, "probe", nil) })

	header, sender := traceparent(1)
	post(2000, "traced", map[string]string{"traceparent": header})
	receive("traced")
	webhook := spanIn(t, rec, sender.TraceID(), "webhook telegram")
	journal := spanIn(t, rec, sender.TraceID(), "journal")
	ingest := spanIn(t, rec, sender.TraceID(), "ingest")
	fanOut := spanIn(t, rec, sender.TraceID(), "fan-out")
	deliver := spanIn(t, rec, sender.TraceID(), "deliver subscription TracedInbox")
	chain := []sdktrace.ReadOnlySpan{webhook, journal, ingest, fanOut, deliver}
	if webhook.Parent().SpanID() != sender.SpanID() {
		t.Errorf("the webhook span's parent is %s, want the sender's %s", webhook.Parent().SpanID(), sender.SpanID())
	}
	for i := 1; i < len(chain); i++ {
		if chain[i].Parent().SpanID() != chain[i-1].SpanContext().SpanID() {
			t.Errorf("%s's parent is %s, want %s (%s)", chain[i].Name(), chain[i].Parent().SpanID(), chain[i-1].Name(), chain[i-1].SpanContext().SpanID())
		}
	}
	if a := attrs(deliver); a["graphql.operation.name"] != "TracedInbox" || a["graphql.operation.type"] != "subscription" {
		t.Errorf("deliver's attributes = %v", a)
	}

	// The reply's event carries the mutation's trace to the fan-out.
	conv := e.db.Conversation.Query().Where(conversation.ConnectionID(conn.ID)).OnlyX(sys())
	header, agent := traceparent(2)
	r := e.send(http.MethodPost, map[string]string{"Authorization": "Bearer " + tok, "traceparent": header},
		`mutation SendTraced($in: SendMessageInput!) { sendMessage(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"conversationID": string(conv.ID), "text": "reply", "clientMessageID": unique("c")}})
	if len(r.Errors) > 0 {
		t.Fatal(r.Raw)
	}
	receive("reply")
	mutation := spanIn(t, rec, agent.TraceID(), "mutation SendTraced")
	fanOut = spanIn(t, rec, agent.TraceID(), "fan-out")
	deliver = spanIn(t, rec, agent.TraceID(), "deliver subscription TracedInbox")
	for _, link := range [][2]trace.SpanContext{{mutation.Parent(), agent}, {fanOut.Parent(), mutation.SpanContext()}, {deliver.Parent(), fanOut.SpanContext()}} {
		if link[0].SpanID() != link[1].SpanID() {
			t.Errorf("a parent is %s, want %s", link[0].SpanID(), link[1].SpanID())
		}
	}
}

// Every operation has a span named for its type and name, over HTTP and
// websockets, with its errors; a subscription's span is its subscribe.
func TestOperationSpans(t *testing.T) {
	e := newEnv(t)
	rec := tracingtest.Record(t)
	u, tok := e.user(user.RoleADMIN)
	header, client := traceparent(3)
	e.send(http.MethodPost, map[string]string{"Authorization": "Bearer " + tok, "traceparent": header}, `query TracedMe { me { id } }`, nil)
	me := spanIn(t, rec, client.TraceID(), "query TracedMe")
	if a := attrs(me); me.Parent().SpanID() != client.SpanID() || me.SpanKind() != trace.SpanKindServer ||
		a["graphql.operation.name"] != "TracedMe" || a["graphql.operation.type"] != "query" || me.Status().Code == codes.Error {
		t.Errorf("query TracedMe: parent %s, kind %s, attributes %v, status %v", me.Parent().SpanID(), me.SpanKind(), a, me.Status())
	}

	header, client = traceparent(4)
	e.send(http.MethodPost, map[string]string{"Authorization": "Bearer " + tok, "traceparent": header}, `query TracedBroken { node(id: "nope") { id } }`, nil)
	broken := spanIn(t, rec, client.TraceID(), "query TracedBroken")
	codesSeen := map[string]bool{}
	for _, ev := range broken.Events() {
		for _, kv := range ev.Attributes {
			if kv.Key == "graphql.error.code" {
				codesSeen[kv.Value.String()] = true
			}
		}
	}
	if broken.Status().Code != codes.Error || !codesSeen["NOT_FOUND"] {
		t.Errorf("query TracedBroken: status %v, error codes %v", broken.Status(), codesSeen)
	}

	s := testkit.Open(t, e.wsURL(), tok)
	s.Subscribe("q", `query SocketMe { me { id } }`, nil)
	if m := s.Result("q"); testkit.Pick(m, "payload", "data", "me", "id") != string(u.ID) {
		t.Fatalf("over the socket: %v", m)
	}
	s.Subscribe("s", `subscription SocketInbox { messageAdded { id } }`, nil)
	for _, name := range []string{"query SocketMe", "subscription SocketInbox"} {
		testkit.Eventually(t, "a span "+name, func() bool {
			for _, sp := range rec.Ended() {
				if sp.Name() == name && !sp.Parent().IsValid() {
					return true
				}
			}
			return false
		})
	}
}
