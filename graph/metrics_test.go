package graph_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/user"
	"github.com/switchboard-chat/switchboard/internal/testkit"
)

// scrape reads the operator's /metrics.
func (e *env) scrape() map[string]float64 {
	e.t.Helper()
	return testkit.Scrape(e.t, e.AdminHandler())
}

// /metrics shows the live side: open websockets, streaming subscriptions,
// how long an event took from the log to a socket, and each GraphQL
// operation's latency and errors by name.
func TestRealtimeMetrics(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user(user.RoleADMIN)
	c := e.campaign("metrics")
	conv := e.conversation(c, e.connection(c, schematype.PlatformTelegram), time.Now())
	before := e.scrape()
	grew := func(after map[string]float64, series string) float64 { return after[series] - before[series] }

	s := testkit.Open(t, e.wsURL(), tok)
	s.Subscribe("m", `subscription($c: ID!) { messageAdded(campaignID: $c) { text } }`, map[string]any{"c": string(c.ID)})
	s.UntilLive(func(i int) { e.addMessage(c, conv, "metrics "+strconv.Itoa(i)) })
	// The lag is observed once the socket's write returns, which may be
	// after the client has read the message.
	wants := map[string]float64{
		"switchboard_websockets_open":                        1,
		"switchboard_subscriptions_active":                   1,
		"switchboard_fanout_lag_seconds_count":               1,
		"switchboard_fanout_lag_seconds_bucket{le=\"+Inf\"}": 1,
	}
	testkit.Eventually(t, "the live series grown", func() bool {
		after := e.scrape()
		for series, want := range wants {
			if grew(after, series) < want {
				return false
			}
		}
		return true
	})

	s.Send(map[string]any{"id": "m", "type": "complete"})
	testkit.Eventually(t, "the completed subscription is no longer counted", func() bool {
		return grew(e.scrape(), "switchboard_subscriptions_active") == 0
	})

	e.as(tok, `query InboxMetrics { me { id } }`, nil)
	e.do("Bearer "+tok, `query BrokenMetrics { node(id: "nope") { id } }`, nil)
	after := e.scrape()
	if got := grew(after, `switchboard_graphql_operation_seconds_count{operation="InboxMetrics"}`); got != 1 {
		t.Errorf("InboxMetrics counted %v times, want 1", got)
	}
	if got := grew(after, `switchboard_graphql_operation_errors_total{code="NOT_FOUND",operation="BrokenMetrics"}`); got != 1 {
		t.Errorf("BrokenMetrics' NOT_FOUND counted %v times, want 1", got)
	}
}
