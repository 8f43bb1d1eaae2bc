package rule_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/campaignmember"
	"github.com/switchboard-chat/switchboard/ent/contact"
	"github.com/switchboard-chat/switchboard/ent/conversation"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/user"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// The rules hold for any code that uses the client, not only for GraphQL.
func TestRulesInTheDataLayer(t *testing.T) {
	client := dbtest.Client(t, nil)
	sys := privacy.DecisionContext(context.Background(), privacy.Allow)
	mkUser := func(email string) *ent.User {
		return client.User.Create().SetEmail(email + time.Now().Format("150405.000000") + "@example.com").
			SetName(email).SetPasswordHash("x").SetRole(user.RoleMEMBER).SaveX(sys)
	}
	a, b := client.Campaign.Create().SetName("A").SaveX(sys), client.Campaign.Create().SetName("B").SaveX(sys)
	agent, manager := mkUser("agent"), mkUser("manager")
	client.CampaignMember.Create().SetCampaign(a).SetUser(agent).SetRole(campaignmember.RoleAGENT).ExecX(sys)
	client.CampaignMember.Create().SetCampaign(a).SetUser(manager).SetRole(campaignmember.RoleMANAGER).ExecX(sys)
	as := func(u *ent.User) context.Context {
		return auth.WithViewer(context.Background(), &auth.Viewer{UserID: u.ID})
	}
	conn := func(c *ent.Campaign) *ent.Connection {
		return client.Connection.Create().SetCampaign(c).SetPlatform(schematype.PlatformTelegram).
			SetExternalID(time.Now().Format("150405.000000000")).SetConnectedAt(time.Now()).SaveX(sys)
	}
	conv := func(c *ent.Campaign, cn *ent.Connection) *ent.Conversation {
		ct := client.Contact.Create().SetCampaign(c).SetChannel(contact.ChannelTELEGRAM).SetPlatform(schematype.PlatformTelegram).SetExternalID(time.Now().Format("150405.000000000")).SaveX(sys)
		return client.Conversation.Create().SetCampaign(c).SetConnection(cn).SetContact(ct).SaveX(sys)
	}
	connA, connB := conn(a), conn(b)
	convA, convB := conv(a, connA), conv(b, connB)

	is := func(err error, kind error) bool { return errors.Is(err, kind) && errors.Is(err, privacy.Deny) }

	t.Run("anonymous reads and writes are refused", func(t *testing.T) {
		if _, err := client.Campaign.Query().All(context.Background()); !is(err, apperr.ErrUnauthenticated) {
			t.Fatalf("anonymous query: %v", err)
		}
		if err := client.Conversation.UpdateOne(convA).SetUnreadCount(1).Exec(context.Background()); !is(err, apperr.ErrUnauthenticated) {
			t.Fatalf("anonymous update: %v", err)
		}
	})
	t.Run("agent updates a conversation of its campaign, not of another", func(t *testing.T) {
		if err := client.Conversation.UpdateOne(convA).SetStatus(conversation.StatusRESOLVED).Exec(as(agent)); err != nil {
			t.Fatalf("own conversation: %v", err)
		}
		if err := client.Conversation.UpdateOneID(convB.ID).SetStatus(conversation.StatusRESOLVED).Exec(as(agent)); !is(err, apperr.ErrNotFound) {
			t.Fatalf("other campaign's conversation: %v, want not found", err)
		}
		if err := client.Conversation.DeleteOne(convA).Exec(as(agent)); !is(err, apperr.ErrForbidden) {
			t.Fatalf("agent deleting: %v, want forbidden", err)
		}
	})
	t.Run("connections are managed by MANAGERs only", func(t *testing.T) {
		if err := client.Connection.UpdateOne(connA).SetName("renamed").Exec(as(agent)); !is(err, apperr.ErrForbidden) {
			t.Fatalf("agent renaming a connection: %v, want forbidden", err)
		}
		if err := client.Connection.UpdateOne(connA).SetName("renamed").Exec(as(manager)); err != nil {
			t.Fatalf("manager renaming a connection: %v", err)
		}
		_, err := client.Connection.Create().SetCampaign(b).SetPlatform(schematype.PlatformZalo).SetExternalID("oa-1").SetConnectedAt(time.Now()).Save(as(manager))
		if !is(err, apperr.ErrNotFound) {
			t.Fatalf("manager of A connecting in B: %v, want not found", err)
		}
	})
	t.Run("bulk changes touch only permitted rows", func(t *testing.T) {
		n, err := client.Conversation.Update().SetUnreadCount(7).Save(as(agent))
		if err != nil || n != 1 {
			t.Fatalf("bulk update by agent changed %d rows (%v), want 1", n, err)
		}
		if got := client.Conversation.GetX(sys, convB.ID).UnreadCount; got == 7 {
			t.Fatal("bulk update reached campaign B")
		}
		if n, err := client.Conversation.Delete().Exec(as(agent)); err != nil || n != 0 {
			t.Fatalf("bulk delete by agent removed %d rows (%v), want 0", n, err)
		}
	})
	t.Run("the webhook journal is written by background work only", func(t *testing.T) {
		_, err := client.WebhookEvent.Create().SetPlatform(schematype.PlatformTelegram).SetEventType("message").
			SetDedupKey("1").SetPayload([]byte("{}")).Save(as(manager))
		if !errors.Is(err, privacy.Deny) {
			t.Fatalf("member writing the journal: %v", err)
		}
	})
}
