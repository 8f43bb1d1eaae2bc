package graph_test

import (
	"strings"
	"testing"

	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/user"
)

func TestCampaignLifecycle(t *testing.T) {
	e := newEnv(t)
	_, admin := e.user(user.RoleADMIN)
	agent, agentTok := e.user(user.RoleMEMBER)

	d := e.as(admin, `mutation { createCampaign(input: {name: "  Tết promotion  ", description: "Lunar new year"}) { id name description archivedAt viewerRole } }`, nil)
	id := dig(d, "createCampaign.id").(string)
	if !strings.HasPrefix(id, "cmp_") || dig(d, "createCampaign.name") != "Tết promotion" || dig(d, "createCampaign.archivedAt") != nil {
		t.Fatalf("createCampaign = %v", d)
	}

	d = e.as(admin, `mutation($id: ID!) { updateCampaign(id: $id, input: {description: "changed"}) { name description } }`, map[string]any{"id": id})
	if dig(d, "updateCampaign.name") != "Tết promotion" || dig(d, "updateCampaign.description") != "changed" {
		t.Fatalf("updateCampaign = %v", d)
	}

	d = e.as(admin, `mutation($c: ID!, $u: ID!) { addCampaignMember(campaignID: $c, userID: $u, role: AGENT) { role user { id } campaign { id } } }`,
		map[string]any{"c": id, "u": string(agent.ID)})
	if dig(d, "addCampaignMember.role") != "AGENT" || dig(d, "addCampaignMember.user.id") != string(agent.ID) {
		t.Fatalf("addCampaignMember = %v", d)
	}
	// Adding again changes the role instead of failing.
	d = e.as(admin, `mutation($c: ID!, $u: ID!) { addCampaignMember(campaignID: $c, userID: $u, role: MANAGER) { role } }`,
		map[string]any{"c": id, "u": string(agent.ID)})
	if dig(d, "addCampaignMember.role") != "MANAGER" {
		t.Fatalf("re-adding = %v", d)
	}
	if got := dig(e.as(agentTok, `{ campaigns { totalCount edges { node { viewerRole } } } }`, nil), "campaigns.edges.0.node.viewerRole"); got != "MANAGER" {
		t.Fatalf("member's viewerRole = %v", got)
	}

	// Archiving keeps everything: the campaign, its connections and conversations.
	campaign := e.db.Campaign.GetX(sys(), pulidOf(id))
	conn := e.connection(campaign, schematype.PlatformWhatsApp)
	e.conversation(campaign, conn, campaign.CreatedAt)
	d = e.as(agentTok, `mutation($id: ID!) { archiveCampaign(id: $id) { archivedAt connections { totalCount } conversations { totalCount } } }`, map[string]any{"id": id})
	if dig(d, "archiveCampaign.archivedAt") == nil || dig(d, "archiveCampaign.connections.totalCount") != 1.0 || dig(d, "archiveCampaign.conversations.totalCount") != 1.0 {
		t.Fatalf("archiveCampaign = %v", d)
	}
	d = e.as(agentTok, `{ campaigns(where: {archivedAtIsNil: false}) { totalCount } }`, nil)
	if dig(d, "campaigns.totalCount") != 1.0 {
		t.Fatalf("archived campaigns = %v", d)
	}

	d = e.as(admin, `mutation($c: ID!, $u: ID!) { removeCampaignMember(campaignID: $c, userID: $u) }`, map[string]any{"c": id, "u": string(agent.ID)})
	if dig(d, "removeCampaignMember") != true {
		t.Fatalf("removeCampaignMember = %v", d)
	}
	d = e.as(admin, `mutation($c: ID!, $u: ID!) { removeCampaignMember(campaignID: $c, userID: $u) }`, map[string]any{"c": id, "u": string(agent.ID)})
	if dig(d, "removeCampaignMember") != false {
		t.Fatalf("removing a non-member = %v, want false", d)
	}
	if got := dig(e.as(agentTok, `{ campaigns { totalCount } }`, nil), "campaigns.totalCount"); got != 0.0 {
		t.Fatalf("removed member still sees %v campaigns", got)
	}
}

func TestInputErrorsNameTheField(t *testing.T) {
	e := newEnv(t)
	existing, admin := e.user(user.RoleADMIN)
	c := e.campaign(unique("errs"))
	cases := []struct {
		name      string
		query     string
		vars      map[string]any
		code      string
		field     string
		inMessage string
	}{
		{"empty campaign name", `mutation { createCampaign(input: {name: "   "}) { id } }`, nil, "BAD_USER_INPUT", "name", "must not be empty"},
		{"long campaign name", `mutation($n: String!) { createCampaign(input: {name: $n}) { id } }`, map[string]any{"n": strings.Repeat("x", 201)}, "BAD_USER_INPUT", "name", "200"},
		{"bad email", `mutation { createUser(input: {email: "not-an-email", name: "A", password: "long enough"}) { id } }`, nil, "BAD_USER_INPUT", "email", "not an email"},
		{"short password", `mutation { createUser(input: {email: "short@example.com", name: "A", password: "short"}) { id } }`, nil, "BAD_USER_INPUT", "password", "at least 8"},
		{"empty name", `mutation { createUser(input: {email: "noname@example.com", name: " ", password: "long enough"}) { id } }`, nil, "BAD_USER_INPUT", "name", "empty"},
		{"duplicate email in another case", `mutation($e: String!) { createUser(input: {email: $e, name: "A", password: "long enough"}) { id } }`,
			map[string]any{"e": strings.ToUpper(existing.Email)}, "CONFLICT", "email", "already exists"},
		{"unknown user", `mutation($c: ID!) { addCampaignMember(campaignID: $c, userID: "usr_01HZZZZZZZZZZZZZZZZZZZZZZZ", role: AGENT) { id } }`,
			map[string]any{"c": string(c.ID)}, "NOT_FOUND", "userID", "not found"},
		{"unknown campaign", `mutation { updateCampaign(id: "cmp_01HZZZZZZZZZZZZZZZZZZZZZZZ", input: {name: "x"}) { id } }`, nil, "NOT_FOUND", "", ""},
		{"malformed id", `{ node(id: "garbage") { id } }`, nil, "NOT_FOUND", "", ""},
		{"unknown enum value", `mutation($c: ID!, $u: ID!) { addCampaignMember(campaignID: $c, userID: $u, role: OWNER) { id } }`,
			map[string]any{"c": string(c.ID), "u": string(existing.ID)}, "GRAPHQL_VALIDATION_FAILED", "", "OWNER"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("Bearer "+admin, tc.query, tc.vars)
			if len(r.Errors) != 1 {
				t.Fatalf("errors = %+v, want one", r.Errors)
			}
			got := r.Errors[0]
			if got.Extensions["code"] != tc.code || (tc.field != "" && got.Extensions["field"] != tc.field) || !strings.Contains(got.Message, tc.inMessage) {
				t.Fatalf("error = %+v, want code %s field %q message containing %q", got, tc.code, tc.field, tc.inMessage)
			}
		})
	}
	t.Run("a created user can sign in", func(t *testing.T) {
		local := unique("new.agent")
		e.as(admin, `mutation($e: String!) { createUser(input: {email: $e, name: "New Agent", password: "long enough"}) { id email role } }`,
			map[string]any{"e": strings.ToUpper(local) + "@Example.com"})
		r := e.do("", `mutation($e: String!) { login(email: $e, password: "long enough") { user { email role } } }`, map[string]any{"e": local + "@example.com"})
		if len(r.Errors) > 0 || dig(r.Data, "login.user.email") != local+"@example.com" || dig(r.Data, "login.user.role") != "MEMBER" {
			t.Fatalf("login of new user = %v %+v", r.Data, r.Errors)
		}
	})
}
