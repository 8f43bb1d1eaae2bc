package graph_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/campaignmember"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/user"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/internal/testkit"
)

func (e *env) wsURL() string { return "ws" + strings.TrimPrefix(e.url, "http") }

// addMessage stores a customer's message in conv and announces it, as ingest would.
func (e *env) addMessage(c *ent.Campaign, conv *ent.Conversation, text string) {
	e.t.Helper()
	err := e.Events.Do(sys(), func(tx *ent.Tx) ([]events.Event, error) {
		m, err := tx.Message.Create().SetCampaignID(c.ID).SetConversationID(conv.ID).SetConnectionID(conv.ConnectionID).
			SetDirection("INBOUND").SetText(text).SetExternalID(unique("mid")).SetPosition(fmt.Sprintf("%013d|%s", time.Now().UnixMilli(), unique("p"))).Save(sys())
		if err != nil {
			return nil, err
		}
		return []events.Event{{Type: events.MessageAdded, CampaignID: c.ID, ConversationID: conv.ID, EntityID: m.ID}}, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// A socket acts as its user is now, not as when it was opened: a demoted
// administrator can no longer administer over a socket it opened as one.
func TestSocketUsesTheCurrentRole(t *testing.T) {
	e := newEnv(t)
	admin, adminTok := e.user(user.RoleADMIN)
	_, otherAdmin := e.user(user.RoleADMIN)
	s := testkit.Open(t, e.wsURL(), adminTok)
	create := func(id string) map[string]any {
		s.Subscribe(id, `mutation($e: String!) { createUser(input: {email: $e, name: "X", password: "long enough", role: ADMIN}) { id } }`,
			map[string]any{"e": unique("x") + "@example.com"})
		return s.Result(id)
	}
	if m := create("1"); m["type"] != "next" || testkit.Pick(m, "payload", "data", "createUser") == nil {
		t.Fatalf("as an administrator: %v", m)
	}
	e.as(otherAdmin, `mutation($id: ID!) { updateUser(id: $id, input: {role: MEMBER}) { role } }`, map[string]any{"id": string(admin.ID)})
	if m := create("2"); !strings.Contains(fmt.Sprint(m), "FORBIDDEN") {
		t.Fatalf("after the demotion: %v", m)
	}
}

// A member removed from a campaign stops receiving it: the subscription
// ends with FORBIDDEN instead of delivering.
func TestRemovedMemberStopsReceiving(t *testing.T) {
	e := newEnv(t)
	c, managerTok := e.manager()
	agent, agentTok := e.user(user.RoleMEMBER)
	e.member(c, agent, campaignmember.RoleAGENT)
	conv := e.conversation(c, e.connection(c, schematype.PlatformTelegram), time.Now())

	s := testkit.Open(t, e.wsURL(), agentTok)
	s.Subscribe("m", `subscription($c: ID!) { messageAdded(campaignID: $c) { text } }`, map[string]any{"c": string(c.ID)})
	first := s.UntilLive(func(i int) { e.addMessage(c, conv, fmt.Sprint("before ", i)) })
	if !strings.HasPrefix(fmt.Sprint(testkit.Pick(first, "payload", "data", "messageAdded", "text")), "before") {
		t.Fatalf("while a member: %v", first)
	}
	e.as(managerTok, `mutation($c: ID!, $u: ID!) { removeCampaignMember(campaignID: $c, userID: $u) }`, map[string]any{"c": string(c.ID), "u": string(agent.ID)})
	e.addMessage(c, conv, "after the removal")
	for {
		m := s.Next()
		if text := testkit.Pick(m, "payload", "data", "messageAdded", "text"); text == "after the removal" {
			t.Fatalf("a removed member received %v", m)
		}
		if m["type"] == "error" || m["type"] == "complete" {
			if !strings.Contains(fmt.Sprint(m), "FORBIDDEN") {
				t.Fatalf("the subscription ended with %v, want FORBIDDEN", m)
			}
			return
		}
	}
}

// Deactivating a user closes its sockets at once (4403); changing a
// password closes the user's other sockets and keeps the one that changed it.
func TestEndedSessionsCloseSockets(t *testing.T) {
	e := newEnv(t)
	_, adminTok := e.user(user.RoleADMIN)
	u, tok := e.user(user.RoleMEMBER)
	s := testkit.Open(t, e.wsURL(), tok)
	e.as(adminTok, `mutation($id: ID!) { deactivateUser(id: $id) { deactivatedAt } }`, map[string]any{"id": string(u.ID)})
	if code := s.Closed(); code != 4403 {
		t.Fatalf("close code %d after deactivation, want 4403", code)
	}
	if r := e.do("Bearer "+tok, `{ me { id } }`, nil); r.code() != "UNAUTHENTICATED" {
		t.Fatalf("a deactivated user's token: %+v", r.Errors)
	}
	e.as(adminTok, `mutation($id: ID!) { reactivateUser(id: $id) { id } }`, map[string]any{"id": string(u.ID)})

	// New sessions after the reactivation; one of them changes the password.
	login := func() string {
		return dig(e.as("", `mutation($e: String!) { login(email: $e, password: "correct horse battery") { token } }`, map[string]any{"e": u.Email}), "login.token").(string)
	}
	mine, other := login(), login()
	keep, lose := testkit.Open(t, e.wsURL(), mine), testkit.Open(t, e.wsURL(), other)
	keep.Subscribe("p", `mutation { changePassword(currentPassword: "correct horse battery", newPassword: "a better one") }`, nil)
	if m := keep.Result("p"); testkit.Pick(m, "payload", "data", "changePassword") != true {
		t.Fatalf("changePassword = %v", m)
	}
	if code := lose.Closed(); code != 4403 {
		t.Fatalf("the other session's socket closed with %d, want 4403", code)
	}
	keep.Subscribe("me", `{ me { id } }`, nil)
	if m := keep.Result("me"); testkit.Pick(m, "payload", "data", "me", "id") != string(u.ID) {
		t.Fatalf("the session that changed the password: %v", m)
	}
	if r := e.do("Bearer "+other, `{ me { id } }`, nil); r.code() != "UNAUTHENTICATED" {
		t.Fatalf("the other session's token: %+v", r.Errors)
	}
}

// The last active administrator stays one.
func TestLastAdministrator(t *testing.T) {
	e := newEnv(t)
	// Other tests' administrators share the database: deactivate them all but one.
	for _, a := range e.db.User.Query().Where(user.RoleEQ(user.RoleADMIN), user.DeactivatedAtIsNil()).AllX(sys()) {
		e.db.User.UpdateOne(a).SetDeactivatedAt(time.Now()).ExecX(sys())
	}
	last, tok := e.user(user.RoleADMIN)
	for _, q := range []string{
		`mutation($id: ID!) { updateUser(id: $id, input: {role: MEMBER}) { id } }`,
		`mutation($id: ID!) { deactivateUser(id: $id) { id } }`,
	} {
		if r := e.do("Bearer "+tok, q, map[string]any{"id": string(last.ID)}); r.code() != "FAILED_PRECONDITION" {
			t.Fatalf("%s on the last administrator: %+v", q, r.Errors)
		}
	}
}

// A user's sockets and a socket's operations are capped.
func TestWebsocketLimits(t *testing.T) {
	e := newEnvWith(t, map[string]string{"WS_MAX_SOCKETS_PER_USER": "2", "WS_MAX_OPERATIONS_PER_SOCKET": "2"})
	c, tok := e.manager()
	a := testkit.Open(t, e.wsURL(), tok)
	testkit.Open(t, e.wsURL(), tok)
	if code := testkit.Dial(t, e.wsURL(), tok).Closed(); code != 4429 {
		t.Fatalf("a third socket closed with %d, want 4429", code)
	}
	// Operations start concurrently: whichever comes third is refused.
	for _, id := range []string{"1", "2", "3"} {
		a.Subscribe(id, `subscription($c: ID!) { messageAdded(campaignID: $c) { text } }`, map[string]any{"c": string(c.ID)})
	}
	if m := a.Next(); !strings.Contains(fmt.Sprint(m), "TOO_MANY_REQUESTS") {
		t.Fatalf("a third operation on a socket = %v", m)
	}
	// Two still run, so a query is refused too.
	a.Subscribe("q", `{ me { id } }`, nil)
	if m := a.Result("q"); !strings.Contains(fmt.Sprint(m), "TOO_MANY_REQUESTS") {
		t.Fatalf("a query beside two subscriptions = %v", m)
	}
}

// A resume from a cursor too far behind is refused with CURSOR_EXPIRED
// rather than replaying the whole log.
func TestReplayIsBounded(t *testing.T) {
	e := newEnvWith(t, map[string]string{"EVENT_REPLAY_MAX": "3"})
	c, tok := e.manager()
	conv := e.conversation(c, e.connection(c, schematype.PlatformTelegram), time.Now())
	s := testkit.Open(t, e.wsURL(), tok)
	const q = `subscription($c: ID!, $after: String) { campaignEvents(campaignID: $c, after: $after) { cursor } }`
	s.Subscribe("live", q, map[string]any{"c": string(c.ID)})
	first := s.UntilLive(func(i int) { e.addMessage(c, conv, fmt.Sprint("probe ", i)) })
	cursor := testkit.Pick(first, "payload", "data", "campaignEvents", "cursor").(string)
	for i := range 5 {
		e.addMessage(c, conv, fmt.Sprint("missed ", i))
	}
	s.Subscribe("resume", q, map[string]any{"c": string(c.ID), "after": cursor})
	if m := s.Result("resume"); !strings.Contains(fmt.Sprint(m), "CURSOR_EXPIRED") {
		t.Fatalf("resuming 5 events behind with EVENT_REPLAY_MAX=3 = %v", m)
	}
}
