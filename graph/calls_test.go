package graph_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/call"
	"github.com/switchboard-chat/switchboard/ent/campaignmember"
	"github.com/switchboard-chat/switchboard/ent/contact"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/user"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/ingest"
)

const callFields = `id uuid direction status remoteNumber sipNumber startedAt answeredAt endedAt duration totalDuration
	endCause answeredElsewhere missed agent { id } contact { id channel platform phone } conversation { id }
	events(first: 100) { totalCount edges { node { event data receivedAt } } }`

const logCall = `mutation($in: LogCallInput!) { logCall(input: $in) { ` + callFields + ` } }`

// sdk builds the SDK's call object the way OmiCall Web SDK 2.0 passes it to
// its callbacks (seed 003), serialised by the SPA: Dates as ISO strings.
type sdk struct {
	uuid, direction, number string
	start                   time.Time
}

func (s sdk) data(status string, extra map[string]any) map[string]any {
	d := map[string]any{
		"uuid": s.uuid, "direction": s.direction, "directionTxt": s.direction, "status": status, "statusTxt": status,
		"remoteNumber": s.number, "sipNumber": "02871001234", "startTime": s.start.Format(time.RFC3339Nano),
		"ping": map[string]any{"rtt": 42, "jitter": 3},
	}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

type step struct {
	event string
	data  map[string]any
}

// callRig is a campaign with an agent who logs calls.
type callRig struct {
	e        *env
	campaign *ent.Campaign
	agent    *ent.User
	tok      string
}

func (e *env) callRig() *callRig {
	c := e.campaign(unique("calls"))
	u, tok := e.user(user.RoleMEMBER)
	e.member(c, u, campaignmember.RoleAGENT)
	return &callRig{e: e, campaign: c, agent: u, tok: tok}
}

func (r *callRig) log(s step, conv *ent.Conversation) result {
	in := map[string]any{"campaignID": string(r.campaign.ID), "event": s.event, "data": s.data}
	if conv != nil {
		in["conversationID"] = string(conv.ID)
	}
	return r.e.do("Bearer "+r.tok, logCall, map[string]any{"in": in})
}

func (r *callRig) replay(steps ...step) map[string]any {
	r.e.t.Helper()
	var last map[string]any
	for _, s := range steps {
		res := r.log(s, nil)
		if len(res.Errors) > 0 {
			r.e.t.Fatalf("%s: %+v", s.event, res.Errors)
		}
		last = dig(res.Data, "logCall").(map[string]any)
	}
	return last
}

func eventNames(c map[string]any) []string {
	var out []string
	for _, e := range dig(c, "events.edges").([]any) {
		out = append(out, dig(e, "node.event").(string))
	}
	return out
}

// Realistic SDK sequences end in the call the agent and the reports expect.
func TestLogCallSequences(t *testing.T) {
	e := newEnv(t)
	r := e.callRig()
	t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	at := func(sec int) string { return t0.Add(time.Duration(sec) * time.Second).Format(time.RFC3339Nano) }

	t.Run("outbound answered", func(t *testing.T) {
		s := sdk{uuid: unique("omi"), direction: "outbound", number: "0912345678", start: t0}
		steps := []step{{"connecting", s.data("connecting", nil)}, {"ringing", s.data("ringing", nil)},
			{"accepted", s.data("connected", map[string]any{"answerTime": at(5)})}}
		const ticks = 6
		for i := 1; i <= ticks; i++ {
			steps = append(steps, step{"incall", s.data("connected", map[string]any{"answerTime": at(5), "duration": i, "durationTxt": fmt.Sprintf("00:%02d", i)})})
		}
		steps = append(steps, step{"ended", s.data("ended", map[string]any{"answerTime": at(5), "endTime": at(5 + ticks),
			"duration": ticks, "totalDuration": 5 + ticks, "endCause": "NORMAL_CLEARING"})})
		c := r.replay(steps...)
		want := map[string]any{"direction": "OUTBOUND", "status": "ENDED", "missed": false, "answeredElsewhere": false,
			"duration": float64(ticks), "totalDuration": float64(5 + ticks), "endCause": "NORMAL_CLEARING",
			"remoteNumber": "+84912345678", "sipNumber": "02871001234", "startedAt": at(0), "answeredAt": at(5), "endedAt": at(5 + ticks)}
		for k, v := range want {
			if got := dig(c, k); !sameTime(got, v) {
				t.Errorf("%s = %v, want %v", k, got, v)
			}
		}
		if dig(c, "agent.id") != string(r.agent.ID) {
			t.Errorf("agent = %v", dig(c, "agent"))
		}
		// The incall ticks move the duration; the history keeps them only every few seconds.
		names := eventNames(c)
		incalls := 0
		for _, n := range names {
			if n == "incall" {
				incalls++
			}
		}
		if incalls >= ticks || len(names) != 4+incalls || names[0] != "connecting" || names[len(names)-1] != "ended" {
			t.Errorf("history = %v: want every callback but most incall ticks", names)
		}
		// The SDK's object is kept as it came.
		first := dig(c, "events.edges.0.node.data").(map[string]any)
		if first["uuid"] != s.uuid || dig(first, "ping.rtt") != 42.0 || first["statusTxt"] != "connecting" {
			t.Errorf("kept data = %v", first)
		}
	})

	t.Run("outbound busy", func(t *testing.T) {
		s := sdk{uuid: unique("omi"), direction: "outbound", number: "+84 98 765 4321", start: t0}
		c := r.replay(step{"connecting", s.data("connecting", nil)}, step{"ringing", s.data("ringing", nil)},
			step{"ended", s.data("ended", map[string]any{"endTime": at(3), "endCause": "BUSY", "duration": 0, "totalDuration": 3})})
		if c["status"] != "ENDED" || c["missed"] != true || c["endCause"] != "BUSY" || c["answeredAt"] != nil || c["duration"] != 0.0 {
			t.Errorf("busy call = %v", c)
		}
	})

	t.Run("inbound missed", func(t *testing.T) {
		s := sdk{uuid: unique("omi"), direction: "inbound", number: "84933222111", start: t0}
		c := r.replay(step{"invite", s.data("ringing", nil)},
			step{"ended", s.data("ended", map[string]any{"endTime": at(30), "endCause": "NO_ANSWER"})})
		if c["direction"] != "INBOUND" || c["status"] != "ENDED" || c["missed"] != true || c["endCause"] != "NO_ANSWER" {
			t.Errorf("missed call = %v", c)
		}
	})

	t.Run("inbound rejected while busy", func(t *testing.T) {
		s := sdk{uuid: unique("omi"), direction: "inbound", number: "0933222112", start: t0}
		c := r.replay(step{"inviteRejected", s.data("ended", nil)})
		if c["status"] != "ENDED" || c["missed"] != true {
			t.Errorf("rejected call = %v", c)
		}
	})

	t.Run("inbound answered on another device", func(t *testing.T) {
		s := sdk{uuid: unique("omi"), direction: "inbound", number: "0933222113", start: t0}
		c := r.replay(step{"invite", s.data("ringing", nil)}, step{"acceptedByOther", s.data("ended", nil)},
			step{"ended", s.data("ended", map[string]any{"endTime": at(4)})})
		if c["status"] != "ENDED" || c["answeredElsewhere"] != true || c["missed"] != false {
			t.Errorf("call taken elsewhere = %v", c)
		}
	})

	t.Run("hold and unhold", func(t *testing.T) {
		s := sdk{uuid: unique("omi"), direction: "outbound", number: "0912000111", start: t0}
		r.replay(step{"connecting", s.data("connecting", nil)}, step{"accepted", s.data("connected", map[string]any{"answerTime": at(2)})})
		hold := func(on bool, want string) {
			t.Helper()
			c := r.replay(step{"holdChanged", map[string]any{"uuid": s.uuid, "hold": on}})
			if c["status"] != want {
				t.Fatalf("hold %v: status %v, want %s", on, c["status"], want)
			}
		}
		hold(true, "HOLD")
		// A tick while on hold leaves it on hold.
		if c := r.replay(step{"incall", s.data("hold", map[string]any{"answerTime": at(2), "duration": 3})}); c["status"] != "HOLD" || c["duration"] != 3.0 {
			t.Fatalf("incall on hold = %v", c)
		}
		hold(false, "CONNECTED")
		hold(true, "HOLD")
		if c := r.replay(step{"ended", s.data("ended", map[string]any{"answerTime": at(2), "endTime": at(20), "duration": 18})}); c["status"] != "ENDED" {
			t.Fatalf("hung up on hold = %v", c)
		}
		// An ended call is not put on hold again.
		if c := r.replay(step{"holdChanged", map[string]any{"uuid": s.uuid, "hold": true}}); c["status"] != "ENDED" || c["missed"] != false || c["duration"] != 18.0 {
			t.Errorf("after hangup = %v", c)
		}
	})

	t.Run("duplicated and reordered", func(t *testing.T) {
		s := sdk{uuid: unique("omi"), direction: "outbound", number: "0912000222", start: t0}
		accepted := step{"accepted", s.data("connected", map[string]any{"answerTime": at(4)})}
		ended := step{"ended", s.data("ended", map[string]any{"answerTime": at(4), "endTime": at(9), "duration": 5})}
		// Accepted before connecting and ringing (another tab was faster).
		r.replay(accepted, step{"connecting", s.data("connecting", nil)})
		c := r.replay(ended)
		before := c["events"].(map[string]any)["totalCount"]
		calls := e.db.Call.Query().Where(call.UUID(s.uuid)).CountX(sys())
		// A late ringing never reopens it; the same ended again changes nothing.
		c = r.replay(step{"ringing", s.data("ringing", nil)}, ended, ended, accepted)
		if c["status"] != "ENDED" || c["missed"] != false || c["duration"] != 5.0 || !sameTime(c["answeredAt"], at(4)) || !sameTime(c["endedAt"], at(9)) {
			t.Errorf("after replays = %v", c)
		}
		if n := e.db.Call.Query().Where(call.UUID(s.uuid)).CountX(sys()); n != 1 || calls != 1 {
			t.Errorf("%d calls for one uuid", n)
		}
		// The late ringing is history; the repeats are not.
		if got := c["events"].(map[string]any)["totalCount"]; got != before.(float64)+1 {
			t.Errorf("history grew from %v to %v; want only the late ringing", before, got)
		}
	})

	t.Run("racing tabs", func(t *testing.T) {
		s := sdk{uuid: unique("omi"), direction: "inbound", number: "0912000333", start: t0}
		errs := make(chan []gqlError, 8)
		for i := range 8 {
			go func() {
				ev := []string{"invite", "accepted"}[i%2]
				errs <- r.log(step{ev, s.data("ringing", map[string]any{"tab": i})}, nil).Errors
			}()
		}
		for range 8 {
			if e := <-errs; len(e) > 0 {
				t.Errorf("racing event: %+v", e)
			}
		}
		if n := e.db.Call.Query().Where(call.UUID(s.uuid)).CountX(sys()); n != 1 {
			t.Errorf("%d calls for one uuid", n)
		}
	})
}

// sameTime compares a JSON time with a wanted RFC 3339 one as instants.
func sameTime(got, want any) bool {
	ws, ok := want.(string)
	if !ok {
		return got == want
	}
	gs, ok := got.(string)
	if !ok {
		return false
	}
	g, err1 := time.Parse(time.RFC3339Nano, gs)
	w, err2 := time.Parse(time.RFC3339Nano, ws)
	if err1 != nil || err2 != nil {
		return gs == ws
	}
	return g.Equal(w)
}

// Bad callbacks are refused, naming what was wrong; nothing is stored.
func TestLogCallValidation(t *testing.T) {
	e := newEnv(t)
	r := e.callRig()
	s := sdk{uuid: unique("omi"), direction: "outbound", number: "0912345678", start: time.Now().Add(-time.Minute)}
	for _, tc := range []struct {
		name, field string
		st          step
	}{
		{"no uuid", "input.data.uuid", step{"connecting", map[string]any{"direction": "outbound", "remoteNumber": "0912345678"}}},
		{"empty uuid", "input.data.uuid", step{"connecting", s.data("connecting", map[string]any{"uuid": "  "})}},
		{"uuid not a string", "input.data.uuid", step{"connecting", s.data("connecting", map[string]any{"uuid": map[string]any{}})}},
		{"unknown event", "input.event", step{"register", s.data("connecting", nil)}},
		{"direction", "input.data.direction", step{"connecting", s.data("connecting", map[string]any{"direction": "sideways"})}},
		{"time", "input.data.startTime", step{"connecting", s.data("connecting", map[string]any{"startTime": "yesterday"})}},
		{"backwards", "input.data.endTime", step{"ended", s.data("ended", map[string]any{"endTime": s.start.Add(-time.Second).Format(time.RFC3339)})}},
		{"negative duration", "input.data.duration", step{"incall", s.data("connected", map[string]any{"duration": -4})}},
		{"negative total", "input.data.totalDuration", step{"ended", s.data("ended", map[string]any{"totalDuration": -1})}},
		{"hold without a flag", "input.data.hold", step{"holdChanged", map[string]any{"uuid": s.uuid}}},
		{"first event without a direction", "input.data.direction", step{"ringing", map[string]any{"uuid": unique("omi")}}},
	} {
		res := r.log(tc.st, nil)
		if res.code() != "BAD_USER_INPUT" || res.Errors[0].Extensions["field"] != tc.field {
			t.Errorf("%s: errors = %+v, want BAD_USER_INPUT on %s", tc.name, res.Errors, tc.field)
		}
	}
	if n := e.db.Call.Query().Where(call.CampaignID(r.campaign.ID)).CountX(sys()); n != 0 {
		t.Errorf("%d calls stored from refused callbacks", n)
	}
	// Times as epoch milliseconds are fine; so is a number given as a number.
	ms := s.start.UnixMilli()
	c := r.replay(step{"ended", s.data("ended", map[string]any{"startTime": ms, "endTime": ms + 1500, "remoteNumber": 912345678})})
	if !sameTime(c["startedAt"], time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)) || !sameTime(c["endedAt"], time.UnixMilli(ms+1500).UTC().Format(time.RFC3339Nano)) || c["remoteNumber"] != "+84912345678" {
		t.Errorf("epoch times = %v", c)
	}
	// Only members of the campaign log its calls.
	_, outsider := e.user(user.RoleMEMBER)
	res := e.do("Bearer "+outsider, logCall, map[string]any{"in": map[string]any{"campaignID": string(r.campaign.ID), "event": "connecting", "data": s.data("connecting", nil)}})
	if res.code() != "NOT_FOUND" {
		t.Errorf("an outsider logging = %+v", res.Errors)
	}
}

// Calls find their customer by phone number, whatever form it is written in.
func TestCallsFindTheirCustomer(t *testing.T) {
	e := newEnv(t)
	r := e.callRig()
	conn := e.connection(r.campaign, schematype.PlatformTelegram)
	older := e.conversation(r.campaign, conn, time.Now().Add(-2*time.Hour))
	conv := e.conversation(r.campaign, conn, time.Now().Add(-time.Hour))
	// The agent records the customer's phone on the chat contact.
	d := e.as(r.tok, `mutation($id: ID!) { updateContact(id: $id, input: {phone: "091 234 5670", customerID: "CRM-1"}) { phone customerID channel } }`,
		map[string]any{"id": string(conv.ContactID)})
	if dig(d, "updateContact.phone") != "+84912345670" || dig(d, "updateContact.customerID") != "CRM-1" || dig(d, "updateContact.channel") != "TELEGRAM" {
		t.Fatalf("updateContact = %v", d)
	}
	if res := e.do("Bearer "+r.tok, `mutation($id: ID!) { updateContact(id: $id, input: {phone: "call me"}) { phone } }`,
		map[string]any{"id": string(conv.ContactID)}); res.code() != "BAD_USER_INPUT" || res.Errors[0].Extensions["field"] != "input.phone" {
		t.Errorf("a bad phone = %+v", res.Errors)
	}
	e.db.Contact.UpdateOneID(older.ContactID).SetPhone("+84912345670").ExecX(sys())

	s := sdk{uuid: unique("omi"), direction: "inbound", number: "84912345670", start: time.Now()}
	c := r.replay(step{"invite", s.data("ringing", nil)})
	if dig(c, "contact.id") != string(conv.ContactID) || dig(c, "conversation.id") != string(conv.ID) {
		t.Errorf("call from a known number: contact %v conversation %v; want the most recent conversation %s", dig(c, "contact"), dig(c, "conversation"), conv.ID)
	}

	// An unknown number gets a contact of its own, on the phone.
	s = sdk{uuid: unique("omi"), direction: "outbound", number: "+84 90 000 " + digits("")[0:4], start: time.Now()}
	c = r.replay(step{"connecting", s.data("connecting", nil)})
	if dig(c, "contact.channel") != "PHONE" || dig(c, "contact.platform") != nil || dig(c, "contact.phone") != c["remoteNumber"] || c["conversation"] != nil {
		t.Errorf("call from an unknown number = %v", c)
	}
	// The next call from that number finds the same contact.
	s.uuid = unique("omi")
	if c2 := r.replay(step{"connecting", s.data("connecting", nil)}); dig(c2, "contact.id") != dig(c, "contact.id") {
		t.Errorf("second call's contact %v, first's %v", dig(c2, "contact"), dig(c, "contact"))
	}
	phoneContacts := e.db.Contact.Query().Where(contact.CampaignID(r.campaign.ID), contact.ChannelEQ(contact.ChannelPHONE)).CountX(sys())
	if phoneContacts != 1 {
		t.Errorf("%d PHONE contacts", phoneContacts)
	}

	// Called from a conversation: the call is that conversation's, and the
	// contact's phone, unknown until now, is recorded.
	third := e.conversation(r.campaign, conn, time.Now().Add(-3*time.Hour))
	s = sdk{uuid: unique("omi"), direction: "outbound", number: "0977 000 111", start: time.Now()}
	res := r.log(step{"connecting", s.data("connecting", nil)}, third)
	if len(res.Errors) > 0 || dig(res.Data, "logCall.conversation.id") != string(third.ID) || dig(res.Data, "logCall.contact.id") != string(third.ContactID) ||
		dig(res.Data, "logCall.contact.phone") != "+84977000111" {
		t.Errorf("call from a conversation = %s", res.Raw)
	}
	// A conversation of another campaign is refused.
	other := e.callRig()
	if res := other.log(step{"connecting", sdk{uuid: unique("omi"), direction: "outbound", number: "0977000112"}.data("connecting", nil)}, third); res.code() != "NOT_FOUND" && res.code() != "BAD_USER_INPUT" {
		t.Errorf("a conversation of another campaign = %+v", res.Errors)
	}

	// The lists filter calls.
	d = e.as(r.tok, `query($c: ID!, $a: ID!) { node(id: $c) { ... on Campaign {
		inbound: calls(where: {direction: INBOUND}) { totalCount }
		mine: calls(where: {agentID: $a, missed: false, startedAtGTE: "2000-01-01T00:00:00Z"}) { totalCount } } } }`,
		map[string]any{"c": string(r.campaign.ID), "a": string(r.agent.ID)})
	if dig(d, "node.inbound.totalCount") != 1.0 || dig(d, "node.mine.totalCount") != 4.0 {
		t.Errorf("filtered lists = %v", d)
	}
	if d := e.as(r.tok, `query($id: ID!) { node(id: $id) { ... on Contact { calls { totalCount } } } }`, map[string]any{"id": string(conv.ContactID)}); dig(d, "node.calls.totalCount") != 1.0 {
		t.Errorf("contact's calls = %v", d)
	}
}

// The timeline interleaves a conversation's messages and calls by time,
// and pages both ways.
func TestConversationTimeline(t *testing.T) {
	e := newEnv(t)
	r := e.callRig()
	conn := e.connection(r.campaign, schematype.PlatformTelegram)
	t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	conv := e.conversation(r.campaign, conn, t0) // message at t0
	msgAt := func(at time.Time) {
		e.db.Message.Create().SetCampaignID(r.campaign.ID).SetConversation(conv).SetConnectionID(conn.ID).
			SetDirection("INBOUND").SetText("at " + at.Format(time.RFC3339)).SetSentAt(at).SetExternalID(unique("mid")).
			SetPosition(ingest.Position(at, pulid.New("whe"))).ExecX(sys())
	}
	callAt := func(at time.Time) {
		s := sdk{uuid: unique("omi"), direction: "outbound", number: "0912000999", start: at}
		if res := r.log(step{"connecting", s.data("connecting", nil)}, conv); len(res.Errors) > 0 {
			t.Fatal(res.Errors)
		}
	}
	callAt(t0.Add(1 * time.Minute))
	msgAt(t0.Add(2 * time.Minute))
	callAt(t0.Add(3 * time.Minute))
	msgAt(t0.Add(4 * time.Minute))
	callAt(t0.Add(5 * time.Minute))
	want := []string{"Message", "Call", "Message", "Call", "Message", "Call"}

	const q = `query($id: ID!, $first: Int, $after: Cursor, $last: Int, $before: Cursor) { node(id: $id) { ... on Conversation {
		timeline(first: $first, after: $after, last: $last, before: $before) { totalCount
			pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
			edges { cursor node { __typename ... on Message { sentAt } ... on Call { startedAt } } } } } } }`
	page := func(vars map[string]any) (types []string, info map[string]any, total any) {
		t.Helper()
		vars["id"] = string(conv.ID)
		d := e.as(r.tok, q, vars)
		tl := dig(d, "node.timeline").(map[string]any)
		for _, ed := range tl["edges"].([]any) {
			types = append(types, dig(ed, "node.__typename").(string))
		}
		return types, tl["pageInfo"].(map[string]any), tl["totalCount"]
	}
	all, _, total := page(map[string]any{})
	if fmt.Sprint(all) != fmt.Sprint(want) || total != 6.0 {
		t.Fatalf("timeline = %v (total %v), want %v", all, total, want)
	}
	// Forwards, two at a time.
	var got []string
	vars := map[string]any{"first": 2}
	for i := 0; ; i++ {
		types, info, _ := page(vars)
		got = append(got, types...)
		if info["hasNextPage"] != true {
			break
		}
		if i > 5 {
			t.Fatal("paging forwards does not end")
		}
		vars = map[string]any{"first": 2, "after": info["endCursor"]}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("forwards = %v", got)
	}
	// last: 2 are the newest; before walks back.
	types, info, _ := page(map[string]any{"last": 2})
	if fmt.Sprint(types) != fmt.Sprint(want[4:]) || info["hasPreviousPage"] != true || info["hasNextPage"] != false {
		t.Errorf("last 2 = %v %v", types, info)
	}
	types, info, _ = page(map[string]any{"last": 3, "before": info["startCursor"]})
	if fmt.Sprint(types) != fmt.Sprint(want[1:4]) || info["hasPreviousPage"] != true {
		t.Errorf("3 before those = %v %v", types, info)
	}
	if res := e.do("Bearer "+r.tok, q, map[string]any{"id": string(conv.ID), "after": "bm90IGEgY3Vyc29y"}); res.code() != "BAD_USER_INPUT" || res.Errors[0].Extensions["field"] != "after" {
		t.Errorf("a bad cursor = %s", res.Raw)
	}
}

// callStats counts in SQL, by agent and by day.
func TestCallStats(t *testing.T) {
	e := newEnv(t)
	r := e.callRig()
	other, otherTok := e.user(user.RoleMEMBER)
	e.member(r.campaign, other, campaignmember.RoleAGENT)
	day1 := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	answered := func(tok string, start time.Time, talk int) {
		s := sdk{uuid: unique("omi"), direction: "outbound", number: "0912000555", start: start}
		rr := *r
		rr.tok = tok
		rr.replay(step{"accepted", s.data("connected", map[string]any{"answerTime": start.Add(2 * time.Second).Format(time.RFC3339)})},
			step{"ended", s.data("ended", map[string]any{"answerTime": start.Add(2 * time.Second).Format(time.RFC3339),
				"endTime": start.Add(time.Duration(2+talk) * time.Second).Format(time.RFC3339), "duration": talk})})
	}
	missed := func(tok string, start time.Time) {
		s := sdk{uuid: unique("omi"), direction: "inbound", number: "0912000556", start: start}
		rr := *r
		rr.tok = tok
		rr.replay(step{"invite", s.data("ringing", nil)}, step{"ended", s.data("ended", map[string]any{"endCause": "NO_ANSWER"})})
	}
	answered(r.tok, day1, 60)
	answered(r.tok, day1.Add(time.Hour), 120)
	missed(r.tok, day2)
	answered(otherTok, day2, 30)
	missed(otherTok, day2.Add(time.Hour))
	answered(r.tok, day2.Add(48*time.Hour), 10) // outside the report

	const q = `query($c: ID!, $g: CallStatsGroup!, $tz: String) { callStats(campaignID: $c, from: "2026-11-03T00:00:00Z", to: "2026-11-05T00:00:00Z", groupBy: $g, timeZone: $tz) {
		key agent { id } day total answered missed averageTalkSeconds } }`
	byAgent := map[string]map[string]any{}
	for _, row := range dig(e.as(r.tok, q, map[string]any{"c": string(r.campaign.ID), "g": "AGENT"}), "callStats").([]any) {
		byAgent[dig(row, "key").(string)] = row.(map[string]any)
	}
	mine, theirs := byAgent[string(r.agent.ID)], byAgent[string(other.ID)]
	if len(byAgent) != 2 || mine == nil || theirs == nil {
		t.Fatalf("by agent = %v", byAgent)
	}
	if mine["total"] != 3.0 || mine["answered"] != 2.0 || mine["missed"] != 1.0 || mine["averageTalkSeconds"] != 90.0 || dig(mine, "agent.id") != string(r.agent.ID) {
		t.Errorf("mine = %v", mine)
	}
	if theirs["total"] != 2.0 || theirs["answered"] != 1.0 || theirs["missed"] != 1.0 || theirs["averageTalkSeconds"] != 30.0 {
		t.Errorf("theirs = %v", theirs)
	}
	days := dig(e.as(r.tok, q, map[string]any{"c": string(r.campaign.ID), "g": "DAY"}), "callStats").([]any)
	if len(days) != 2 || dig(days[0], "key") != "2026-11-03" || dig(days[0], "total") != 2.0 || dig(days[1], "key") != "2026-11-04" ||
		dig(days[1], "total") != 3.0 || dig(days[1], "missed") != 2.0 || !sameTime(dig(days[1], "day"), "2026-11-04T00:00:00Z") {
		t.Errorf("by day = %v", days)
	}
	// Days in Vietnam's time zone: 10:00 UTC is 17:00 there, 23:00 UTC the next day.
	days = dig(e.as(r.tok, q, map[string]any{"c": string(r.campaign.ID), "g": "DAY", "tz": "Asia/Ho_Chi_Minh"}), "callStats").([]any)
	if len(days) != 2 || dig(days[1], "key") != "2026-11-04" || !sameTime(dig(days[1], "day"), "2026-11-04T00:00:00+07:00") {
		t.Errorf("by day in Asia/Ho_Chi_Minh = %v", days)
	}
	if res := e.do("Bearer "+r.tok, q, map[string]any{"c": string(r.campaign.ID), "g": "DAY", "tz": "Mars/Olympus"}); res.code() != "BAD_USER_INPUT" || res.Errors[0].Extensions["field"] != "timeZone" {
		t.Errorf("a bad zone = %+v", res.Errors)
	}
	_, outsider := e.user(user.RoleMEMBER)
	if res := e.do("Bearer "+outsider, q, map[string]any{"c": string(r.campaign.ID), "g": "AGENT"}); res.code() != "NOT_FOUND" {
		t.Errorf("an outsider's report = %+v", res.Errors)
	}
}

// A softphone password reaches its own user only.
func TestSoftphoneCredentials(t *testing.T) {
	e := newEnv(t)
	c, managerTok := e.manager()
	agent, agentTok := e.user(user.RoleMEMBER)
	e.member(c, agent, campaignmember.RoleAGENT)
	colleague, colleagueTok := e.user(user.RoleMEMBER)
	e.member(c, colleague, campaignmember.RoleAGENT)
	const set = `mutation($u: ID!, $p: String!) { setSoftphoneCredentials(userID: $u, input: {domain: "acme", username: "101", password: $p}) {
		id softphone { domain username configured } } }`
	const secret = "s3cret-extension-password"
	if res := e.do("Bearer "+colleagueTok, set, map[string]any{"u": string(agent.ID), "p": secret}); res.code() != "FORBIDDEN" {
		t.Errorf("an agent setting a colleague's softphone = %+v", res.Errors)
	}
	if res := e.do("Bearer "+managerTok, set, map[string]any{"u": string(agent.ID), "p": ""}); res.code() != "BAD_USER_INPUT" || res.Errors[0].Extensions["field"] != "input.password" {
		t.Errorf("an empty password = %+v", res.Errors)
	}
	d := e.as(managerTok, set, map[string]any{"u": string(agent.ID), "p": secret})
	if dig(d, "setSoftphoneCredentials.softphone.configured") != true || dig(d, "setSoftphoneCredentials.softphone.username") != "101" {
		t.Fatalf("set = %v", d)
	}
	// Stored sealed.
	u := e.db.User.GetX(sys(), agent.ID)
	if len(u.SoftphoneSecret) == 0 || bytes.Contains(u.SoftphoneSecret, []byte(secret)) {
		t.Errorf("stored secret %q", u.SoftphoneSecret)
	}
	const cfg = `{ softphoneConfig { domain username password } }`
	if d := e.as(agentTok, cfg, nil); dig(d, "softphoneConfig.password") != secret || dig(d, "softphoneConfig.domain") != "acme" {
		t.Errorf("the agent's own config = %v", d)
	}
	for name, tok := range map[string]string{"manager": managerTok, "colleague": colleagueTok} {
		if d := e.as(tok, cfg, nil); dig(d, "softphoneConfig") != nil {
			t.Errorf("%s's softphoneConfig = %v", name, d)
		}
	}
	const info = `query($id: ID!) { node(id: $id) { ... on User { softphone { domain username configured } } } }`
	if d := e.as(managerTok, info, map[string]any{"id": string(agent.ID)}); dig(d, "node.softphone.configured") != true {
		t.Errorf("the manager's view = %v", d)
	}
	if d := e.as(colleagueTok, info, map[string]any{"id": string(agent.ID)}); dig(d, "node") == nil || dig(d, "node.softphone") != nil {
		t.Errorf("a colleague's view = %v", d)
	}
	// No GraphQL field carries the password but softphoneConfig.
	if res := e.do("Bearer "+managerTok, `query($id: ID!) { node(id: $id) { ... on User { softphone { password } } } }`, map[string]any{"id": string(agent.ID)}); res.code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Errorf("asking for the password = %+v", res.Errors)
	}
}

// Every change to a call reaches callUpdated subscribers.
func TestCallUpdatedEvents(t *testing.T) {
	e := newEnv(t)
	r := e.callRig()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	updates, err := e.hub.Subscribe(ctx, events.Spec{Campaigns: []pulid.ID{r.campaign.ID}, Types: []events.Type{events.CallUpdated}})
	if err != nil {
		t.Fatal(err)
	}
	s := sdk{uuid: unique("omi"), direction: "outbound", number: "0912000777", start: time.Now()}
	want := []string{"CONNECTING", "RINGING", "CONNECTED", "ENDED"}
	ended := step{"ended", s.data("ended", map[string]any{"duration": 1})}
	r.replay(step{"connecting", s.data("connecting", nil)}, step{"ringing", s.data("ringing", nil)},
		step{"accepted", s.data("connected", nil)}, ended, ended)
	// One update per change. Each carries the call as the hub read it when
	// delivering, so changes that follow each other quickly may show a
	// later status already: the statuses seen only move forward, and the
	// last is the call's last.
	seen := 0
	for n := range want {
		select {
		case d := <-updates:
			if d.Call == nil {
				t.Fatalf("update without the call: %+v", d)
			}
			at := slices.Index(want, string(d.Call.Status))
			if at < seen {
				t.Fatalf("update = %+v after %s: a status went back", d.Call, want[seen])
			}
			seen = at
		case <-time.After(10 * time.Second):
			t.Fatalf("%d callUpdated, want %d", n, len(want))
		}
	}
	if want[seen] != "ENDED" {
		t.Fatalf("the last update shows %s, want ENDED", want[seen])
	}
	// The repeated ended was not announced: the next update is a later change.
	r.replay(step{"holdChanged", map[string]any{"uuid": s.uuid, "hold": true}}, step{"ringing", s.data("ringing", nil)})
	s2 := sdk{uuid: unique("omi"), direction: "outbound", number: "0912000778", start: time.Now()}
	r.replay(step{"connecting", s2.data("connecting", nil)})
	select {
	case d := <-updates:
		if d.Call == nil || d.Call.UUID != s2.uuid {
			t.Errorf("after the repeats, an update of %+v", d.Call)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no callUpdated for the second call")
	}
}
