package webhooks_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/contact"
	"github.com/switchboard-chat/switchboard/ent/domainevent"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/webhookevent"
	"github.com/switchboard-chat/switchboard/internal/testkit"
)

// Zalo's interaction widget and follows, through the whole pipeline: the
// signed webhook is journaled once, processed once, and recorded on the
// contact, which it creates when the OA has not met the customer yet.
func TestZaloConsentWebhooks(t *testing.T) {
	s := newStack(t, stackOptions{})
	conn := s.zaloOA()
	// The fixtures share another app, OA and user: point them at ours.
	event := func(name, user string, at time.Time, replace ...string) []byte {
		replace = append(replace, "2847561930475829163", zaloAppID, "4318291638716923456", conn.ExternalID, "7204918273645501928", user)
		return stamped(testkit.Fixture(t, "zalo", name+".json", replace...), at)
	}
	send := func(body []byte, secret string) int {
		t.Helper()
		return s.post("/webhooks/zalo", signedZalo(t, body, secret), body).status
	}
	contactOf := func(user string) *ent.Contact {
		ct, err := s.db.Contact.Query().Where(contact.CampaignID(conn.CampaignID), contact.ExternalID(user)).Only(sys())
		if ent.IsNotFound(err) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return ct
	}
	settled := func(what string) {
		t.Helper()
		testkit.Eventually(t, what, func() bool { return s.pending(conn) == 0 })
	}
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)

	t.Run("a consent with a bad signature is refused and changes nothing", func(t *testing.T) {
		user := uniqueDigits("72")
		body := event("widget_interaction_accepted", user, base)
		if status := send(body, "not-the-oa-secret"); status != 401 {
			t.Fatalf("wrong secret: %d, want 401", status)
		}
		if r := s.post("/webhooks/zalo", nil, body); r.status != 401 {
			t.Fatalf("unsigned: %d, want 401", r.status)
		}
		if n := s.journaled(conn, "widget_interaction_accepted:"+user+":"+stampOf(base)); n != 0 {
			t.Fatalf("journaled %d refused events", n)
		}
		if ct := contactOf(user); ct != nil {
			t.Fatalf("a refused event made contact %+v", ct)
		}
	})

	user := uniqueDigits("72")
	s.zalo.AddUser(conn.ExternalID, user, "Trần Thị Bình", "https://zalo.example/binh.jpg")
	t.Run("a consent creates the contact the OA has not met, with the business's id", func(t *testing.T) {
		if status := send(event("widget_interaction_accepted", user, base), oaSecret); status != 200 {
			t.Fatalf("status %d", status)
		}
		settled("the consent processed")
		ct := contactOf(user)
		if ct == nil {
			t.Fatal("no contact for the consenting user")
		}
		if ct.Channel != contact.ChannelZALO || ct.Platform == nil || *ct.Platform != schematype.PlatformZalo || ct.CustomerID != "KH-000123" ||
			ct.ConsentGrantedAt == nil || !ct.ConsentGrantedAt.Equal(base) || ct.CustomerIDSyncError != "" {
			t.Fatalf("contact = %+v", ct)
		}
		// Consent carries no name: it is looked up through the OA, though
		// the customer has no conversation yet.
		testkit.Eventually(t, "the consenting user's name", func() bool { return contactOf(user).Name == "Trần Thị Bình" })
	})

	t.Run("a redelivery is journaled and applied once", func(t *testing.T) {
		body := event("widget_interaction_accepted", user, base)
		for range 2 {
			if status := send(body, oaSecret); status != 200 {
				t.Fatalf("redelivery: %d, want 200", status)
			}
		}
		settled("the redeliveries answered")
		evs := s.db.WebhookEvent.Query().Where(webhookevent.ConnectionID(conn.ID),
			webhookevent.DedupKey("widget_interaction_accepted:"+user+":"+stampOf(base))).AllX(sys())
		if len(evs) != 1 || evs[0].Attempts != 1 || evs[0].ProcessedAt == nil {
			t.Fatalf("journal = %+v, want one entry processed in one attempt", evs)
		}
	})

	t.Run("a later consent keeps the customer id already set", func(t *testing.T) {
		later := base.Add(time.Minute)
		if status := send(event("widget_interaction_accepted", user, later, "KH-000123", "KH-999999"), oaSecret); status != 200 {
			t.Fatalf("status %d", status)
		}
		settled("the second consent processed")
		if ct := contactOf(user); ct.CustomerID != "KH-000123" || !ct.ConsentGrantedAt.Equal(later) {
			t.Fatalf("contact = %+v, want KH-000123 kept and the consent time moved to %s", ct, later)
		}
		// An earlier grant arriving late does not move the time back.
		if status := send(event("widget_interaction_accepted", user, base.Add(-time.Minute)), oaSecret); status != 200 {
			t.Fatalf("status %d", status)
		}
		settled("the late consent processed")
		if ct := contactOf(user); !ct.ConsentGrantedAt.Equal(later) {
			t.Fatalf("consent time = %s, want %s", ct.ConsentGrantedAt, later)
		}
	})

	t.Run("a failed sync is recorded on the contact and listed in the webhook log", func(t *testing.T) {
		at := base.Add(2 * time.Minute)
		if status := send(event("widget_failed_to_sync_user_external_id", user, at), oaSecret); status != 200 {
			t.Fatalf("status %d", status)
		}
		settled("the sync failure processed")
		if ct := contactOf(user); ct.CustomerIDSyncError != "user already has user_external_id" || ct.CustomerID != "KH-000123" {
			t.Fatalf("contact = %+v", ct)
		}
		ev := s.db.WebhookEvent.Query().Where(webhookevent.ConnectionID(conn.ID),
			webhookevent.EventType("widget_failed_to_sync_user_external_id")).OnlyX(sys())
		if ev.ProcessedAt == nil || ev.Error != "" || ev.DedupKey != "widget_failed_to_sync_user_external_id:"+user+":"+stampOf(at) {
			t.Fatalf("journal entry = %+v", ev)
		}
	})

	t.Run("an event naming its OA by recipient.id rather than oa_id", func(t *testing.T) {
		other := uniqueDigits("72")
		body := event("widget_interaction_accepted", other, base)
		body = []byte(strings.Replace(string(body), `"oa_id":"`+conn.ExternalID+`"`, `"recipient":{"id":"`+conn.ExternalID+`"}`, 1))
		if !strings.Contains(string(body), `"recipient"`) {
			t.Fatalf("fixture has no oa_id to replace: %s", body)
		}
		if status := send(body, oaSecret); status != 200 {
			t.Fatalf("status %d", status)
		}
		settled("the consent processed")
		if ct := contactOf(other); ct == nil || ct.ConsentGrantedAt == nil || ct.CustomerID != "KH-000123" {
			t.Fatalf("contact = %+v", ct)
		}
	})

	t.Run("follow and unfollow: the newest event wins whatever the order", func(t *testing.T) {
		follower := uniqueDigits("72")
		cv := s.Customer(conn, follower, base)
		steps := []struct {
			name      string
			at        time.Time
			following bool // the state after the step
			changedAt time.Time
		}{
			{"follow", base.Add(time.Second), true, base.Add(time.Second)},
			{"unfollow", base.Add(3 * time.Second), false, base.Add(3 * time.Second)},
			{"follow", base.Add(2 * time.Second), false, base.Add(3 * time.Second)}, // late: older than the unfollow
			{"follow", base.Add(4 * time.Second), true, base.Add(4 * time.Second)},
		}
		for i, st := range steps {
			if status := send(event(st.name, follower, st.at), oaSecret); status != 200 {
				t.Fatalf("step %d (%s): %d", i, st.name, status)
			}
			settled(st.name + " processed")
			ct := contactOf(follower)
			if ct.Following == nil || *ct.Following != st.following || ct.FollowingChangedAt == nil || !ct.FollowingChangedAt.Equal(st.changedAt) {
				t.Fatalf("after step %d (%s at %s): following %v since %v, want %v since %s", i, st.name, st.at, ct.Following, ct.FollowingChangedAt, st.following, st.changedAt)
			}
		}
		// Agents see the contact through its conversation, which is announced.
		announced := s.db.DomainEvent.Query().Where(domainevent.TypeEQ(domainevent.TypeCONVERSATION_UPDATED), domainevent.EntityID(cv.ID)).CountX(sys())
		if announced != 3 {
			t.Fatalf("%d conversation updates announced, want one per follow or unfollow that changed the contact (3)", announced)
		}
	})
}

// stampOf is a time as Zalo's timestamp writes it: milliseconds.
func stampOf(at time.Time) string { return strconv.FormatInt(at.UnixMilli(), 10) }
