package graph_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/ent/campaignmember"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/user"
	"github.com/switchboard-chat/switchboard/ingest"
)

// seedConversations opens n conversations in a fresh campaign, the i-th with
// activity i minutes after base, and returns their ids newest first.
func seedConversations(e *env, n int) (campaignID pulid.ID, token string, newestFirst []pulid.ID) {
	c := e.campaign(unique("lists"))
	u, tok := e.user(user.RoleMEMBER)
	e.member(c, u, campaignmember.RoleAGENT)
	conn := e.connection(c, schematype.PlatformTelegram)
	base := time.Now().Add(-time.Hour)
	for i := 0; i < n; i++ {
		cv := e.conversation(c, conn, base.Add(time.Duration(i)*time.Minute))
		newestFirst = append([]pulid.ID{cv.ID}, newestFirst...)
	}
	return c.ID, tok, newestFirst
}

func TestRelayPaginationBothWays(t *testing.T) {
	e := newEnv(t)
	cid, tok, want := seedConversations(e, 7)
	const q = `query($c: ID!, $first: Int, $after: Cursor, $last: Int, $before: Cursor) {
		node(id: $c) { ... on Campaign { conversations(first: $first, after: $after, last: $last, before: $before) {
			totalCount
			pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
			edges { cursor node { id } } } } } }`

	var forward []pulid.ID
	vars := map[string]any{"c": string(cid), "first": 3}
	for pages := 0; ; pages++ {
		d := e.as(tok, q, vars)
		conn := dig(d, "node.conversations")
		if tc := dig(conn, "totalCount"); tc != 7.0 {
			t.Fatalf("totalCount = %v, want 7", tc)
		}
		forward = append(forward, ids(dig(conn, "edges"))...)
		if dig(conn, "pageInfo.hasNextPage") != true {
			break
		}
		if pages > 5 {
			t.Fatal("forward pagination does not end")
		}
		vars["after"] = dig(conn, "pageInfo.endCursor")
	}
	if !slices.Equal(forward, want) {
		t.Fatalf("forward pages = %v, want newest activity first %v", forward, want)
	}

	var backward []pulid.ID
	vars = map[string]any{"c": string(cid), "last": 3}
	for pages := 0; ; pages++ {
		d := e.as(tok, q, vars)
		conn := dig(d, "node.conversations")
		backward = append(ids(dig(conn, "edges")), backward...)
		if dig(conn, "pageInfo.hasPreviousPage") != true {
			break
		}
		if pages > 5 {
			t.Fatal("backward pagination does not end")
		}
		vars["before"] = dig(conn, "pageInfo.startCursor")
	}
	if !slices.Equal(backward, want) {
		t.Fatalf("backward pages = %v, want %v", backward, want)
	}

	// The top-level list takes the same arguments and default order.
	d := e.as(tok, `{ conversations(first: 2) { edges { node { id } } pageInfo { hasNextPage } } }`, nil)
	if got := ids(dig(d, "conversations.edges")); !slices.Equal(got, want[:2]) {
		t.Fatalf("conversations(first: 2) = %v, want %v", got, want[:2])
	}
	// An explicit order overrides the default.
	d = e.as(tok, `{ conversations(first: 2, orderBy: {field: LAST_MESSAGE_AT, direction: ASC}) { edges { node { id } } } }`, nil)
	if got := ids(dig(d, "conversations.edges")); !slices.Equal(got, []pulid.ID{want[6], want[5]}) {
		t.Fatalf("oldest first = %v, want %v", got, []pulid.ID{want[6], want[5]})
	}
}

func TestMessagesOldestFirstSoLastIsNewest(t *testing.T) {
	e := newEnv(t)
	c := e.campaign(unique("msgs"))
	_, admin := e.user(user.RoleADMIN)
	conn := e.connection(c, schematype.PlatformZalo)
	base := time.Now().Add(-time.Hour)
	cv := e.conversation(c, conn, base)
	var texts []string
	// Insert out of platform-time order: the list must follow sentAt, not insertion.
	for _, minute := range []int{5, 2, 9, 7} {
		at := base.Add(time.Duration(minute) * time.Minute)
		e.db.Message.Create().SetCampaignID(c.ID).SetConversation(cv).SetConnection(conn).
			SetDirection("OUTBOUND").SetText(fmt.Sprintf("m%d", minute)).SetSentAt(at).
			SetPosition(ingest.Position(at, pulid.New("whe"))).ExecX(sys())
	}
	texts = []string{"m5", "m7", "m9"}
	d := e.as(admin, `query($id: ID!) { node(id: $id) { ... on Conversation { messages(last: 3) { totalCount edges { node { text direction } } pageInfo { hasPreviousPage } } } } }`,
		map[string]any{"id": string(cv.ID)})
	var got []string
	for _, edge := range dig(d, "node.messages.edges").([]any) {
		got = append(got, dig(edge, "node.text").(string))
	}
	if !slices.Equal(got, texts) {
		t.Fatalf("messages(last: 3) = %v, want the newest three oldest first %v", got, texts)
	}
	if dig(d, "node.messages.totalCount") != 5.0 || dig(d, "node.messages.pageInfo.hasPreviousPage") != true {
		t.Fatalf("messages page = %v", d)
	}
}

func TestConversationFilters(t *testing.T) {
	e := newEnv(t)
	c := e.campaign(unique("filters"))
	agent, tok := e.user(user.RoleMEMBER)
	e.member(c, agent, campaignmember.RoleAGENT)
	conn1, conn2 := e.connection(c, schematype.PlatformTelegram), e.connection(c, schematype.PlatformFacebook)
	now := time.Now()
	open1 := e.conversation(c, conn1, now)
	resolved := e.db.Conversation.UpdateOne(e.conversation(c, conn1, now)).SetStatus("RESOLVED").SaveX(sys())
	assigned := e.db.Conversation.UpdateOne(e.conversation(c, conn2, now)).SetAssigneeID(agent.ID).SetUnreadCount(3).SaveX(sys())
	pending := e.db.Conversation.UpdateOne(e.conversation(c, conn2, now)).SetStatus("PENDING").SetUnreadCount(1).SaveX(sys())

	cases := []struct {
		name  string
		where map[string]any
		want  []pulid.ID
	}{
		{"status", map[string]any{"status": "RESOLVED"}, []pulid.ID{resolved.ID}},
		{"status in", map[string]any{"statusIn": []string{"OPEN", "PENDING"}}, []pulid.ID{open1.ID, assigned.ID, pending.ID}},
		{"connection", map[string]any{"connectionID": string(conn2.ID)}, []pulid.ID{assigned.ID, pending.ID}},
		{"assignee", map[string]any{"assigneeID": string(agent.ID)}, []pulid.ID{assigned.ID}},
		{"unassigned", map[string]any{"assigneeIDIsNil": true}, []pulid.ID{open1.ID, resolved.ID, pending.ID}},
		{"unread", map[string]any{"unreadCountGT": 0}, []pulid.ID{assigned.ID, pending.ID}},
		{"combined", map[string]any{"unreadCountGT": 0, "status": "PENDING", "connectionID": string(conn2.ID)}, []pulid.ID{pending.ID}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := e.as(tok, `query($where: ConversationWhereInput) { conversations(first: 50, where: $where) { totalCount edges { node { id } } } }`,
				map[string]any{"where": tc.where})
			got := ids(dig(d, "conversations.edges"))
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) || dig(d, "conversations.totalCount") != float64(len(want)) {
				t.Fatalf("got %v (total %v), want %v", got, dig(d, "conversations.totalCount"), want)
			}
		})
	}
}

// A page of conversations with contact, connection and last message costs the
// same few SQL statements whether it holds 5 or 50 conversations.
func TestConversationPageStatementCount(t *testing.T) {
	e := newEnv(t)
	cid, tok, _ := seedConversations(e, 50)
	const q = `query($c: ID!, $n: Int) { node(id: $c) { ... on Campaign {
		conversations(first: $n) { totalCount edges { node {
			id status unreadCount lastMessageAt
			contact { id name }
			connection { id name platform }
			lastMessage { id text direction sentAt }
		} } } } } }`
	count := func(n int) int64 {
		before := e.statements.Load()
		d := e.as(tok, q, map[string]any{"c": string(cid), "n": n})
		edges := dig(d, "node.conversations.edges").([]any)
		if len(edges) != n {
			t.Fatalf("page has %d conversations, want %d", len(edges), n)
		}
		for _, edge := range edges {
			if dig(edge, "node.contact.id") == nil || dig(edge, "node.connection.id") == nil || dig(edge, "node.lastMessage.id") == nil {
				t.Fatalf("incomplete conversation %v", edge)
			}
		}
		return e.statements.Load() - before
	}
	small, large := count(5), count(50)
	t.Logf("statements: %d for 5 conversations, %d for 50", small, large)
	if small != large {
		t.Fatalf("statement count grows with the page: %d for 5, %d for 50", small, large)
	}
	if large > 8 {
		t.Fatalf("a page costs %d statements, want a small constant (<= 8)", large)
	}
}
