package graph_test

import (
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/ent/campaignmember"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/user"
)

// inboxPage is the SPA's conversation list as `make bench` asks for it
// (bench/scenarios.go's pageQuery, held equal to the inbox probe's).
const inboxPage = `query($c: ID!) { conversations(first: 50, where: {campaignID: $c}) { totalCount
  edges { cursor node { id status unreadCount lastMessageAt
    contact { id name avatarURL platform } connection { id name platform }
    lastMessage { id text direction sentAt status } } }
  pageInfo { hasNextPage endCursor } } }`

// BenchmarkInboxPage serves the inbox page through the whole server over
// HTTP to one client with a campaign member's token (privacy rules on every
// node): what a page costs in gqlgen, ent and PostgreSQL round trips
// without the concurrency of `make bench`'s inbox row. It reports the SQL
// statements per page, which the issue caps at 7.
func BenchmarkInboxPage(b *testing.B) {
	e, token, vars := inboxEnv(b)
	before := e.statements.Load()
	for b.Loop() {
		e.as(token, inboxPage, vars)
	}
	b.ReportMetric(float64(e.statements.Load()-before)/float64(b.N), "statements/op")
}

// BenchmarkInboxPageParallel serves the page to 25 clients per CPU at once,
// as `make bench`'s inbox row does with 50 on two cores: its ns/op is the
// server's throughput on the page (with PostgreSQL beside it), where
// BenchmarkInboxPage's is one client's latency.
func BenchmarkInboxPageParallel(b *testing.B) {
	e, token, vars := inboxEnv(b)
	b.SetParallelism(25)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r := e.do("Bearer "+token, inboxPage, vars); len(r.Errors) > 0 {
				b.Errorf("the page failed: %+v", r.Errors)
				return
			}
		}
	})
}

// inboxEnv is a campaign member's inbox of 60 conversations, checked once.
func inboxEnv(b *testing.B) (*env, string, map[string]any) {
	e := newEnvWith(b, nil)
	u, token := e.user(user.RoleMEMBER)
	c := e.campaign("inbox")
	e.member(c, u, campaignmember.RoleAGENT)
	conn := e.connection(c, schematype.PlatformTelegram)
	now := time.Now()
	for i := range 60 {
		e.conversation(c, conn, now.Add(-time.Duration(i)*time.Minute))
	}
	vars := map[string]any{"c": string(c.ID)}
	page := e.as(token, inboxPage, vars)
	if n := len(dig(page, "conversations.edges").([]any)); n != 50 {
		b.Fatalf("the page holds %d conversations, want 50", n)
	}
	if total := dig(page, "conversations.totalCount"); total != float64(60) {
		b.Fatalf("totalCount %v, want 60", total)
	}
	return e, token, vars
}
