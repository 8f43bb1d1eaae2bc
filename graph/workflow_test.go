package graph_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/campaignmember"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/user"
	"github.com/switchboard-chat/switchboard/events"
)

// The conversation workflow: read, assign, status and tags, each seen by a
// conversationUpdated subscriber; agents work conversations, managers tags.
func TestConversationWorkflow(t *testing.T) {
	e := newEnv(t)
	c, managerTok := e.manager()
	agent, agentTok := e.user(user.RoleMEMBER)
	e.member(c, agent, campaignmember.RoleAGENT)
	stranger, _ := e.user(user.RoleMEMBER)
	conn, _ := e.telegramConnection(c, managerTok)
	conv := e.conversation(c, conn, time.Now())
	id := string(conv.ID)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	updates, err := e.hub.Subscribe(ctx, events.Spec{Campaigns: []pulid.ID{c.ID}, Types: []events.Type{events.ConversationUpdated}})
	if err != nil {
		t.Fatal(err)
	}
	seen := func(what string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case d := <-updates:
				if d.ConversationID == conv.ID {
					return
				}
			case <-timeout:
				t.Fatalf("no conversationUpdated after %s", what)
			}
		}
	}

	d := e.as(agentTok, `mutation($id: ID!) { markConversationRead(id: $id) { unreadCount readAt readBy { id } } }`, map[string]any{"id": id})
	if dig(d, "markConversationRead.unreadCount") != 0.0 || dig(d, "markConversationRead.readAt") == nil || dig(d, "markConversationRead.readBy.id") != string(agent.ID) {
		t.Fatalf("read = %v", d)
	}
	seen("read")

	const assign = `mutation($id: ID!, $a: ID) { assignConversation(id: $id, assigneeID: $a) { assignee { id } } }`
	if d := e.as(agentTok, assign, map[string]any{"id": id, "a": string(agent.ID)}); dig(d, "assignConversation.assignee.id") != string(agent.ID) {
		t.Fatalf("assign = %v", d)
	}
	seen("assign")
	if r := e.do("Bearer "+agentTok, assign, map[string]any{"id": id, "a": string(stranger.ID)}); r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "assigneeID" {
		t.Fatalf("assigning a non-member = %+v", r.Errors)
	}
	if d := e.as(agentTok, assign, map[string]any{"id": id, "a": nil}); dig(d, "assignConversation.assignee") != nil {
		t.Fatalf("unassign = %v", d)
	}
	seen("unassign")

	if d := e.as(agentTok, `mutation($id: ID!) { setConversationStatus(id: $id, status: RESOLVED) { status } }`, map[string]any{"id": id}); dig(d, "setConversationStatus.status") != "RESOLVED" {
		t.Fatalf("status = %v", d)
	}
	seen("status")

	// Tags: managers define them, agents put them on.
	const create = `mutation($c: ID!, $n: String!) { createTag(input: {campaignID: $c, name: $n}) { id name color } }`
	if r := e.do("Bearer "+agentTok, create, map[string]any{"c": string(c.ID), "n": "vip"}); r.code() != "FORBIDDEN" {
		t.Fatalf("an agent creating a tag = %+v", r.Errors)
	}
	d = e.as(managerTok, create, map[string]any{"c": string(c.ID), "n": "vip"})
	tagID := dig(d, "createTag.id").(string)
	if dig(d, "createTag.color") != "#9ca3af" {
		t.Fatalf("tag = %v", d)
	}
	if r := e.do("Bearer "+managerTok, create, map[string]any{"c": string(c.ID), "n": "vip"}); r.code() != "CONFLICT" {
		t.Fatalf("a second tag named vip = %+v", r.Errors)
	}
	if d := e.as(managerTok, `mutation($id: ID!) { updateTag(id: $id, input: {name: "VIP", color: "#f59e0b"}) { name color } }`, map[string]any{"id": tagID}); dig(d, "updateTag.color") != "#f59e0b" {
		t.Fatalf("update tag = %v", d)
	}
	d = e.as(agentTok, `mutation($id: ID!, $t: [ID!]!) { addConversationTags(id: $id, tagIDs: $t) { tags { name } } }`, map[string]any{"id": id, "t": []string{tagID}})
	if dig(d, "addConversationTags.tags.0.name") != "VIP" {
		t.Fatalf("add tags = %v", d)
	}
	seen("add tags")
	d = e.as(agentTok, `query($t: ID!) { conversations(first: 10, where: {hasTagsWith: [{id: $t}]}) { totalCount edges { node { id } } } }`, map[string]any{"t": tagID})
	if dig(d, "conversations.totalCount") != 1.0 || dig(d, "conversations.edges.0.node.id") != id {
		t.Fatalf("filter by tag = %v", d)
	}
	if d := e.as(agentTok, `mutation($id: ID!, $t: [ID!]!) { removeConversationTags(id: $id, tagIDs: $t) { tags { name } } }`, map[string]any{"id": id, "t": []string{tagID}}); len(dig(d, "removeConversationTags.tags").([]any)) != 0 {
		t.Fatalf("remove tags = %v", d)
	}
	seen("remove tags")
	if d := e.as(managerTok, `mutation($id: ID!) { deleteTag(id: $id) }`, map[string]any{"id": tagID}); dig(d, "deleteTag") != tagID {
		t.Fatalf("delete tag = %v", d)
	}
}

// sendMessage through GraphQL: a PENDING message at once, clear errors on
// input, FAILED_PRECONDITION when the connection cannot send.
func TestSendMessageOverGraphQL(t *testing.T) {
	e := newEnv(t)
	c, managerTok := e.manager()
	conn, connID := e.telegramConnection(c, managerTok)
	conv := e.conversation(c, conn, time.Now())
	const send = `mutation($in: SendMessageInput!) { sendMessage(input: $in) { id status direction text attempts externalIDs sender { id } } }`
	in := map[string]any{"conversationID": string(conv.ID), "text": "Chào bạn", "clientMessageID": "m-1"}
	d := e.as(managerTok, send, map[string]any{"in": in})
	if dig(d, "sendMessage.status") != "PENDING" || dig(d, "sendMessage.direction") != "OUTBOUND" || dig(d, "sendMessage.attempts") != 0.0 ||
		dig(d, "sendMessage.sender.id") == nil || len(dig(d, "sendMessage.externalIDs").([]any)) != 0 {
		t.Fatalf("sendMessage = %v", d)
	}
	r := e.do("Bearer "+managerTok, send, map[string]any{"in": map[string]any{"conversationID": string(conv.ID), "clientMessageID": "m-2",
		"attachments": []any{map[string]any{"url": "https://a/1.jpg", "kind": "IMAGE"}, map[string]any{"url": "https://a/2.jpg", "kind": "IMAGE"}}}})
	if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "attachments" {
		t.Fatalf("two attachments = %+v", r.Errors)
	}
	e.as(managerTok, `mutation($id: ID!) { disconnectConnection(id: $id) { status } }`, map[string]any{"id": connID})
	in["clientMessageID"] = "m-3"
	r = e.do("Bearer "+managerTok, send, map[string]any{"in": in})
	if r.code() != "FAILED_PRECONDITION" || !strings.Contains(r.Errors[0].Message, "disconnected") {
		t.Fatalf("sending on a disconnected connection = %+v", r.Errors)
	}
}

// telegramConnection connects a bot through GraphQL.
func (e *env) telegramConnection(c *ent.Campaign, tok string) (*ent.Connection, string) {
	e.t.Helper()
	token, _ := newBot(e)
	id := dig(e.as(tok, connectTelegram, map[string]any{"in": map[string]any{"campaignID": string(c.ID), "botToken": token}}), "connectTelegram.id").(string)
	return e.db.Connection.GetX(sys(), pulid.ID(id)), id
}
