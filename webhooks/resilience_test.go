package webhooks_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/contact"
	"github.com/switchboard-chat/switchboard/ent/webhookevent"
	"github.com/switchboard-chat/switchboard/inbound"
	"github.com/switchboard-chat/switchboard/ingest"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/platform/zalo"
)

// Ingest must never stop: whatever one event does, the events behind it are
// processed, and whatever one request carries, its neighbours are stored.

// editedUpdate is a Telegram edit of message messageID. Processed by a
// stack with editsWait, it waits for another event, for ever.
func editedUpdate(id int64, chat string, messageID int64, text string) []byte {
	return fmt.Appendf(nil, `{"update_id":%d,"edited_message":{"message_id":%d,"date":1700000000,"edit_date":1700000100,"chat":{"id":%s,"type":"private","first_name":"Lan"},"from":{"id":%s,"is_bot":false,"first_name":"Lan"},"text":%q}}`,
		id, messageID, chat, chat, text)
}

// editsWait makes edits wait for the message they edit, as they did before
// an edit of a message never stored was stored at once: Telegram sends
// nothing else that waits for another event, and these tests need one.
func editsWait(ch platform.Channel) platform.Channel { return waitingEdits{ch} }

type waitingEdits struct{ platform.Channel }

// Decode reads an edit as a read receipt of the edited message, which
// waits until that message is stored.
func (c waitingEdits) Decode(raw []byte) (*inbound.Event, error) {
	ev, err := c.Channel.Decode(raw)
	if err != nil || ev.Kind != inbound.EditMessage {
		return ev, err
	}
	return &inbound.Event{Kind: inbound.Receipt, Contact: ev.Contact, At: ev.At,
		Receipt: &inbound.ReceiptInfo{Status: "READ", MessageIDs: []string{ev.Message.ExternalID}}}, nil
}

// undecodable is a Telegram update that Split accepts and Decode never will:
// its date is not a number.
func undecodable(id int64, chat string) []byte {
	return fmt.Appendf(nil, `{"update_id":%d,"message":{"message_id":%d,"date":"yesterday","chat":{"id":%s,"type":"private"},"text":"x"}}`, id, id, chat)
}

// telegramPoster posts updates to one connection and fails the test on anything but 200.
func (s *stack) telegramPoster(conn *ent.Connection, secret string) func(body []byte) {
	return func(body []byte) {
		s.t.Helper()
		if r := s.post("/webhooks/telegram/"+string(conn.ID), map[string]string{telegram.SecretHeader: secret}, body); r.status != 200 {
			s.t.Fatalf("status %d %s", r.status, r.body)
		}
	}
}

func (s *stack) event(conn *ent.Connection, key string) *ent.WebhookEvent {
	return s.db.WebhookEvent.Query().Where(webhookevent.ConnectionID(conn.ID), webhookevent.DedupKey(key)).OnlyX(sys())
}

// aboutToGiveUp puts an event where MaxAttempts-1 failed attempts leave it:
// due, with one attempt left.
func (s *stack) aboutToGiveUp(conn *ent.Connection, key string) {
	s.db.WebhookEvent.UpdateOne(s.event(conn, key)).SetAttempts(ingest.MaxAttempts - 1).
		SetError("waiting for an earlier event").ClearNextAttemptAt().ExecX(sys())
}

func assertGaveUp(t *testing.T, ev *ent.WebhookEvent) {
	t.Helper()
	if ev.FailedAt == nil || ev.ProcessedAt != nil || ev.NextAttemptAt != nil || ev.Attempts != ingest.MaxAttempts ||
		!strings.Contains(ev.Error, "gave up") {
		t.Fatalf("the event that gave up = %+v, want failed after %d attempts", ev, ingest.MaxAttempts)
	}
}

// givingUp journals, with no process running, an edit whose original was
// never stored (sent before the bot was connected) with one attempt left,
// and a message behind it; it returns the poster for more.
func givingUp(t *testing.T) (*stack, *ent.Connection, func(id int64, text string)) {
	s := newStack(t, stackOptions{noProcessing: true})
	conn, secret := s.telegramBot()
	post, chat := s.telegramPoster(conn, secret), uniqueDigits("9")
	post(editedUpdate(1, chat, 77, "an edit of a message we never saw"))
	s.aboutToGiveUp(conn, "update:1")
	more := func(id int64, text string) { post(update(id, chat, 1700000000+id, text)) }
	more(2, "behind the edit")
	return s, conn, more
}

// The edit gives up; giving up must leave it failed and the queue moving,
// on one replica, on two, and after a restart.
func TestEventThatGivesUpLeavesTheQueueMoving(t *testing.T) {
	for _, replicas := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d replicas", replicas), func(t *testing.T) {
			s, conn, more := givingUp(t)
			more(3, "further behind")
			for range replicas {
				newStack(t, stackOptions{wrap: editsWait})
			}
			testkit.Eventually(t, "the messages behind the edit are processed", func() bool { return len(s.messages(conn)) == 2 })
			assertGaveUp(t, s.event(conn, "update:1"))
		})
	}
	t.Run("after a restart", func(t *testing.T) {
		s, conn, more := givingUp(t)
		t.Run("first process", func(t *testing.T) {
			newStack(t, stackOptions{wrap: editsWait})
			testkit.Eventually(t, "the message behind the edit is processed", func() bool { return len(s.messages(conn)) == 1 })
		})
		more(3, "journaled while no process ran")
		newStack(t, stackOptions{wrap: editsWait})
		testkit.Eventually(t, "the restarted process takes the queue on", func() bool { return len(s.messages(conn)) == 2 })
		assertGaveUp(t, s.event(conn, "update:1"))
	})
}

// Failing events in the queue neither block nor slow the messages around
// them: a decode error fails at once, an event waiting for another is tried
// once and rescheduled, and every ordinary message is stored, in order.
func TestFailingEventsDoNotHoldUpMessages(t *testing.T) {
	s := newStack(t, stackOptions{noProcessing: true})
	conn, secret := s.telegramBot()
	post := s.telegramPoster(conn, secret)
	chats := []string{uniqueDigits("8"), uniqueDigits("8")}
	want := map[string][]string{}
	var waiting, broken []string
	for i := range int64(120) {
		id, chat := i+1, chats[i%2]
		switch i % 10 {
		case 3:
			post(editedUpdate(id, chat, 900000+id, "edit of a message never stored"))
			waiting = append(waiting, fmt.Sprintf("update:%d", id))
		case 7:
			post(undecodable(id, chat))
			broken = append(broken, fmt.Sprintf("update:%d", id))
		default:
			text := fmt.Sprintf("%s #%d", chat, id)
			post(update(id, chat, 1700000000+i, text))
			want[chat] = append(want[chat], text)
		}
	}
	newStack(t, stackOptions{wrap: editsWait})
	testkit.Eventually(t, "every ordinary message is stored", func() bool { return len(s.messages(conn)) == len(want[chats[0]])+len(want[chats[1]]) })
	for _, chat := range chats {
		ct := s.db.Contact.Query().Where(contact.CampaignID(conn.CampaignID), contact.ExternalID(chat)).OnlyX(sys())
		var got []string
		for _, m := range s.messages(conn) {
			if s.db.Conversation.GetX(sys(), m.ConversationID).ContactID == ct.ID {
				got = append(got, m.Text)
			}
		}
		if strings.Join(got, "|") != strings.Join(want[chat], "|") {
			t.Fatalf("chat %s: messages %v, want %v", chat, got, want[chat])
		}
	}
	for _, key := range waiting {
		ev := s.event(conn, key)
		if ev.Attempts != 1 || ev.ProcessedAt != nil || ev.FailedAt != nil || ev.NextAttemptAt == nil || !strings.Contains(ev.Error, "not stored yet") {
			t.Fatalf("waiting event %s = %+v, want tried once and rescheduled", key, ev)
		}
	}
	for _, key := range broken {
		ev := s.event(conn, key)
		if ev.Attempts != 1 || ev.FailedAt == nil || ev.ProcessedAt != nil || ev.NextAttemptAt != nil || !strings.Contains(ev.Error, "decoding") {
			t.Fatalf("undecodable event %s = %+v, want failed at once", key, ev)
		}
	}
}

// A failure nobody planned for (here a decoder that panics) fails that
// event alone.
func TestUnplannedFailureFailsOneEvent(t *testing.T) {
	s := newStack(t, stackOptions{noProcessing: true})
	conn, secret := s.telegramBot()
	post, chat := s.telegramPoster(conn, secret), uniqueDigits("9")
	post(update(1, chat, 1700000001, "before"))
	post(update(2, chat, 1700000002, "boom"))
	post(update(3, chat, 1700000003, "after"))
	newStack(t, stackOptions{wrap: func(ch platform.Channel) platform.Channel { return panicky{ch} }})
	testkit.Eventually(t, "the events around the panic are processed", func() bool { return len(s.messages(conn)) == 2 })
	if got := strings.Join(texts(s.messages(conn)), ","); got != "before,after" {
		t.Fatalf("messages = %s", got)
	}
	testkit.Eventually(t, "the panicking event is failed", func() bool { return s.event(conn, "update:2").FailedAt != nil })
	if ev := s.event(conn, "update:2"); !strings.Contains(ev.Error, "decoder bug") || ev.Attempts != 1 {
		t.Fatalf("panicking event = %+v", ev)
	}
}

// panicky is a channel whose decoder has a bug: it panics on "boom".
type panicky struct{ platform.Channel }

func (p panicky) Decode(raw []byte) (*inbound.Event, error) {
	if bytes.Contains(raw, []byte("boom")) {
		panic("decoder bug")
	}
	return p.Channel.Decode(raw)
}

// A stuck event is logged once, as an error, however often the queue is polled.
func TestStuckEventIsLoggedOnce(t *testing.T) {
	var logs syncBuffer
	s := newStack(t, stackOptions{noProcessing: true})
	conn, secret := s.telegramBot()
	post, chat := s.telegramPoster(conn, secret), uniqueDigits("9")
	post(undecodable(1, chat))
	post(editedUpdate(2, chat, 77, "never"))
	s.aboutToGiveUp(conn, "update:2")
	w := newStack(t, stackOptions{logs: &logs, wrap: editsWait})
	testkit.Eventually(t, "both events fail", func() bool {
		return s.event(conn, "update:1").FailedAt != nil && s.event(conn, "update:2").FailedAt != nil
	})
	for range 20 {
		if _, err := w.proc.ProcessNext(sys()); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{"update:1", "update:2"} {
		id := string(s.event(conn, key).ID)
		n := 0
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "level=ERROR") && strings.Contains(line, id) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("event %s logged %d errors, want 1:\n%s", key, n, logs.String())
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A NUL (valid JSON, refused by PostgreSQL in text and jsonb) or a key too
// long for an index becomes a stored message, never a stuck event.
func TestTextPostgreSQLRefusesIsStored(t *testing.T) {
	s := newStack(t, stackOptions{})
	conn, secret := s.telegramBot()
	post, chat := s.telegramPoster(conn, secret), uniqueDigits("9")
	withNUL := func(body []byte, field string) []byte {
		return bytes.Replace(body, []byte(field), []byte(strings.Replace(field, "NUL", `\u0000`, 1)), 1)
	}

	t.Run("in the update's key", func(t *testing.T) {
		post(withNUL(bytes.Replace(update(1, chat, 1700000001, "x"), []byte(`"message":`), []byte(`"messNULage":`), 1), "messNULage"))
		testkit.Eventually(t, "the update is processed", func() bool { return s.event(conn, "update:1").ProcessedAt != nil })
		if ev := s.event(conn, "update:1"); ev.EventType != "message" || ev.Error != "" {
			t.Fatalf("event = %+v", ev)
		}
	})
	t.Run("in text and name", func(t *testing.T) {
		body := update(2, chat, 1700000002, "textNULhere")
		body = bytes.Replace(body, []byte(`"first_name":"Lan","last_name"`), []byte(`"first_name":"LNULan","last_name"`), 1)
		post(withNUL(withNUL(body, "textNULhere"), "LNULan"))
		testkit.Eventually(t, "the message is stored", func() bool { return len(s.messages(conn)) == 1 })
		if m := s.messages(conn)[0]; m.Text != "texthere" {
			t.Fatalf("text = %q", m.Text)
		}
		if ct := s.db.Contact.Query().Where(contact.CampaignID(conn.CampaignID), contact.ExternalID(chat)).OnlyX(sys()); ct.Name != "Lan Nguyen" {
			t.Fatalf("name = %q", ct.Name)
		}
	})
	t.Run("in an attachment (jsonb)", func(t *testing.T) {
		body := testkit.Fixture(t, "telegram", "document.json", "10002", "3", "1111111", chat, "invoice-2024-06", `invNULoice`)
		post(withNUL(body, "invNULoice"))
		testkit.Eventually(t, "the document is stored", func() bool { return len(s.messages(conn)) == 2 })
		if m := s.messages(conn)[0]; len(m.Attachments) != 1 || m.Attachments[0].Name != "invoice.pdf" {
			t.Fatalf("attachments = %+v", m.Attachments)
		}
	})
}

// The same holds on Zalo, whose message id is the deduplication key.
func TestZaloKeysPostgreSQLRefusesAreStored(t *testing.T) {
	s := newStack(t, stackOptions{})
	conn := s.zaloOA()
	user := uniqueDigits("24")
	s.zalo.AddUser(conn.ExternalID, user, "Phạm Minh", "https://zalo.example/minh.jpg")
	send := func(msgID, text string, replace ...string) {
		t.Helper()
		body := zaloFixture(t, "user_send_text.json", append([]string{"388613280878808645", conn.ExternalID, "246845883529197922", user,
			`"96d3cdf3af150460909"`, `"` + msgID + `"`, `"text":"message"`, `"text":"` + text + `"`}, replace...)...)
		env, err := zalo.Peek(body)
		if err != nil {
			t.Fatal(err)
		}
		if r := s.post("/webhooks/zalo", map[string]string{zalo.SignatureHeader: zalo.Sign(env.AppID, body, env.Timestamp, oaSecret)}, body); r.status != 200 {
			t.Fatalf("status %d %s", r.status, r.body)
		}
	}
	long := strings.Repeat("9", 5000)
	send(`abc\u0000def`, "nul in id")
	send(long, "long id")
	send(long, "long id") // a redelivery
	send("nul-in-event-name", "x", `"user_send_text"`, `"user_send_te\u0000xt"`)
	testkit.Eventually(t, "both messages are stored", func() bool { return len(s.messages(conn)) == 2 })
	if n := s.db.WebhookEvent.Query().Where(webhookevent.ConnectionID(conn.ID)).CountX(sys()); n != 3 {
		t.Fatalf("journal holds %d entries, want 3 (the redelivery is a duplicate)", n)
	}
	testkit.Eventually(t, "the event with a NUL in its name is settled", func() bool {
		return !s.db.WebhookEvent.Query().Where(webhookevent.ConnectionID(conn.ID), webhookevent.ProcessedAtIsNil(), webhookevent.FailedAtIsNil()).ExistX(sys())
	})
	for _, m := range s.messages(conn) {
		if id := *m.ExternalID; strings.ContainsRune(id, 0) || len(id) > 512 {
			t.Fatalf("message id %q stored", id[:min(len(id), 80)])
		}
	}
}

// One request the journal cannot store fails alone, with 400 (it never will
// be storable, so the platform should not retry it); the requests committed
// with it are stored and answered 200.
func TestUnstorableRequestFailsAlone(t *testing.T) {
	s := newStack(t, stackOptions{journalWait: 300 * time.Millisecond})
	good, goodSecret := s.telegramBot()
	// The database refuses one event of the batch (a trigger stands in for
	// data it cannot take, such as a row of a connection deleted meanwhile).
	chat := uniqueDigits("43")
	s.refuse("BEFORE INSERT", fmt.Sprintf("NEW.connection_id = '%s' AND NEW.dedup_key = 'update:6'", good.ID), "check_violation")

	statuses := make([]int, 11)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Go(func() {
			statuses[i] = s.postURL(s.url+"/webhooks/telegram/"+string(good.ID), map[string]string{telegram.SecretHeader: goodSecret},
				update(int64(i+1), chat, 1700000000+int64(i), fmt.Sprint("batched ", i)))
		})
	}
	wg.Wait()
	for i, st := range statuses {
		if want := map[bool]int{true: 400, false: 200}[i == 5]; st != want {
			t.Fatalf("request %d answered %d, want %d (all: %v)", i, st, want, statuses)
		}
	}
	testkit.Eventually(t, "the others are processed", func() bool { return len(s.messages(good)) == 10 })
}

// Should a batch fail as a whole, outside any one event (here a trigger
// refuses to mark one event processed), its events are taken one by one:
// the others are processed, and the one that fails even alone is failed,
// also when it is replayed.
func TestBatchFailingAsAWholeIsTakenApart(t *testing.T) {
	s := newStack(t, stackOptions{noProcessing: true})
	conn, secret := s.telegramBot()
	post, chat := s.telegramPoster(conn, secret), uniqueDigits("9")
	s.refuse("BEFORE UPDATE", fmt.Sprintf("NEW.connection_id = '%s' AND NEW.dedup_key = 'update:2' AND NEW.processed_at IS NOT NULL", conn.ID), "raise_exception")
	for i := range int64(4) {
		post(update(i+1, chat, 1700000000+i, fmt.Sprint("message ", i+1)))
	}
	w := newStack(t, stackOptions{})
	testkit.Eventually(t, "the other messages are processed", func() bool {
		return s.event(conn, "update:1").ProcessedAt != nil && s.event(conn, "update:3").ProcessedAt != nil && s.event(conn, "update:4").ProcessedAt != nil
	})
	testkit.Eventually(t, "the refused event is failed", func() bool { return s.event(conn, "update:2").FailedAt != nil })
	if ev := s.event(conn, "update:2"); !strings.Contains(ev.Error, "refused by a trigger") {
		t.Fatalf("refused event = %+v", ev)
	}
	ev, err := w.proc.Process(sys(), s.event(conn, "update:2").ID)
	if err != nil || ev.FailedAt == nil || ev.ProcessedAt != nil || !strings.Contains(ev.Error, "refused by a trigger") {
		t.Fatalf("replayed = %+v, %v", ev, err)
	}
}

// refuse makes the database refuse writes to webhook_events (at timing, as
// a trigger) for which condition holds, with the SQLSTATE named errcode,
// until the test ends.
func (s *stack) refuse(timing, condition, errcode string) {
	s.t.Helper()
	name := "refuse_" + uniqueDigits("7")
	for _, stmt := range []string{
		fmt.Sprintf(`CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF %s THEN
		RAISE EXCEPTION 'refused by a trigger' USING ERRCODE = '%s';
	END IF;
	RETURN NEW;
END $$`, name, condition, errcode),
		fmt.Sprintf(`CREATE TRIGGER %[1]s %[2]s ON webhook_events FOR EACH ROW EXECUTE FUNCTION %[1]s()`, name, timing),
	} {
		if _, err := s.sqlDB.Exec(stmt); err != nil {
			s.t.Fatal(err)
		}
	}
	s.t.Cleanup(func() {
		_, _ = s.sqlDB.Exec(fmt.Sprintf(`DROP TRIGGER %[1]s ON webhook_events; DROP FUNCTION %[1]s()`, name))
	})
}
