package graph_test

import (
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/ent/campaignmember"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/user"
)

// An agent of campaign A must not see or touch anything of campaign B, by
// listing, by node(id:), or by mutation.
func TestTenancy(t *testing.T) {
	e := newEnv(t)
	a, b := e.campaign(unique("A")), e.campaign(unique("B"))
	agent, agentTok := e.user(user.RoleMEMBER)
	manager, managerTok := e.user(user.RoleMEMBER)
	_, adminTok := e.user(user.RoleADMIN)
	outsider, _ := e.user(user.RoleMEMBER)
	e.member(a, agent, campaignmember.RoleAGENT)
	e.member(a, manager, campaignmember.RoleMANAGER)
	connA, connB := e.connection(a, schematype.PlatformTelegram), e.connection(b, schematype.PlatformFacebook)
	convA, convB := e.conversation(a, connA, time.Now()), e.conversation(b, connB, time.Now())
	msgB := convB.QueryMessages().FirstX(sys())
	contactB := convB.QueryContact().OnlyX(sys())

	t.Run("lists show only own campaign", func(t *testing.T) {
		d := e.as(agentTok, `{
			campaigns { edges { node { id } } }
			connections { edges { node { id } } }
			conversations { edges { node { id } } }
			contacts { edges { node { id } } }
			calls { totalCount }
			webhookEvents { totalCount }
		}`, nil)
		for field, want := range map[string]string{
			"campaigns": string(a.ID), "connections": string(connA.ID), "conversations": string(convA.ID),
		} {
			got := ids(dig(d, field+".edges"))
			if len(got) != 1 || string(got[0]) != want {
				t.Errorf("%s = %v, want only %s", field, got, want)
			}
		}
		for _, c := range ids(dig(d, "contacts.edges")) {
			if c == contactB.ID {
				t.Errorf("contacts lists %s of campaign B", c)
			}
		}
		// The admin sees both campaigns.
		got := ids(dig(e.as(adminTok, `{ campaigns(first: 100) { edges { node { id } } } }`, nil), "campaigns.edges"))
		seen := map[string]bool{}
		for _, id := range got {
			seen[string(id)] = true
		}
		if !seen[string(a.ID)] || !seen[string(b.ID)] {
			t.Errorf("admin campaigns = %v, want both %s and %s", got, a.ID, b.ID)
		}
	})

	t.Run("node(id:) of another campaign is not found", func(t *testing.T) {
		for name, id := range map[string]string{
			"campaign": string(b.ID), "connection": string(connB.ID), "conversation": string(convB.ID),
			"message": string(msgB.ID), "contact": string(contactB.ID),
		} {
			r := e.do("Bearer "+agentTok, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id})
			if r.code() != "NOT_FOUND" || dig(r.Data, "node") != nil {
				t.Errorf("node(%s %s) = %v %+v, want null and NOT_FOUND", name, id, r.Data, r.Errors)
			}
		}
		r := e.do("Bearer "+agentTok, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []string{string(convA.ID), string(convB.ID)}})
		if dig(r.Data, "nodes.0.id") != string(convA.ID) || dig(r.Data, "nodes.1") != nil {
			t.Errorf("nodes = %v, want [A's conversation, null]", r.Data)
		}
		// Own campaign's objects resolve.
		d := e.as(agentTok, `query($id: ID!) { node(id: $id) { ... on Conversation { id contact { id } messages { totalCount } } } }`, map[string]any{"id": string(convA.ID)})
		if dig(d, "node.id") != string(convA.ID) || dig(d, "node.messages.totalCount") != 1.0 {
			t.Errorf("own conversation = %v", d)
		}
	})

	t.Run("edges never cross into another campaign", func(t *testing.T) {
		// A user's memberships of a campaign they share nothing with stay hidden.
		r := e.do("Bearer "+agentTok, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": string(outsider.ID)})
		if r.code() != "NOT_FOUND" {
			t.Errorf("outsider user visible: %v %+v", r.Data, r.Errors)
		}
		d := e.as(agentTok, `query($id: ID!) { node(id: $id) { ... on Campaign { members { user { id } role } } } }`, map[string]any{"id": string(a.ID)})
		if n := len(dig(d, "node.members").([]any)); n != 2 {
			t.Errorf("campaign A members = %v, want the agent and the manager", d)
		}
	})

	mutations := []struct {
		name  string
		query string
		vars  map[string]any
	}{
		{"updateCampaign", `mutation($id: ID!) { updateCampaign(id: $id, input: {name: "hijacked"}) { id } }`, map[string]any{"id": string(b.ID)}},
		{"archiveCampaign", `mutation($id: ID!) { archiveCampaign(id: $id) { id } }`, map[string]any{"id": string(b.ID)}},
		{"addCampaignMember", `mutation($c: ID!, $u: ID!) { addCampaignMember(campaignID: $c, userID: $u, role: MANAGER) { id } }`, map[string]any{"c": string(b.ID), "u": string(agent.ID)}},
		{"removeCampaignMember", `mutation($c: ID!, $u: ID!) { removeCampaignMember(campaignID: $c, userID: $u) }`, map[string]any{"c": string(b.ID), "u": string(outsider.ID)}},
	}
	t.Run("mutations on another campaign are not found", func(t *testing.T) {
		for _, m := range mutations {
			for who, tok := range map[string]string{"agent": agentTok, "manager": managerTok} {
				r := e.do("Bearer "+tok, m.query, m.vars)
				if c := r.code(); c != "NOT_FOUND" {
					t.Errorf("%s by %s of A on B: %v %+v, want NOT_FOUND", m.name, who, r.Data, r.Errors)
				}
			}
		}
		if got := e.db.Campaign.GetX(sys(), b.ID); got.Name != b.Name || got.ArchivedAt != nil {
			t.Errorf("campaign B changed: %+v", got)
		}
		if n := b.QueryMembers().CountX(sys()); n != 0 {
			t.Errorf("campaign B has %d members, want 0", n)
		}
	})

	t.Run("roles within the own campaign", func(t *testing.T) {
		r := e.do("Bearer "+agentTok, `mutation($id: ID!) { updateCampaign(id: $id, input: {name: "renamed"}) { id } }`, map[string]any{"id": string(a.ID)})
		if r.code() != "FORBIDDEN" {
			t.Errorf("agent renaming own campaign: %+v, want FORBIDDEN", r.Errors)
		}
		r = e.do("Bearer "+agentTok, `mutation($c: ID!, $u: ID!) { addCampaignMember(campaignID: $c, userID: $u, role: MANAGER) { id } }`, map[string]any{"c": string(a.ID), "u": string(agent.ID)})
		if r.code() != "FORBIDDEN" {
			t.Errorf("agent promoting itself: %+v, want FORBIDDEN", r.Errors)
		}
		d := e.as(managerTok, `mutation($id: ID!) { updateCampaign(id: $id, input: {name: "renamed by manager"}) { name viewerRole } }`, map[string]any{"id": string(a.ID)})
		if dig(d, "updateCampaign.name") != "renamed by manager" || dig(d, "updateCampaign.viewerRole") != "MANAGER" {
			t.Errorf("manager rename = %v", d)
		}
		r = e.do("Bearer "+managerTok, `mutation { createCampaign(input: {name: "mine"}) { id } }`, nil)
		if r.code() != "FORBIDDEN" {
			t.Errorf("member creating a campaign: %+v, want FORBIDDEN", r.Errors)
		}
		r = e.do("Bearer "+managerTok, `mutation { createUser(input: {email: "x@example.com", name: "X", password: "long enough"}) { id } }`, nil)
		if r.code() != "FORBIDDEN" {
			t.Errorf("member creating a user: %+v, want FORBIDDEN", r.Errors)
		}
	})
}
