package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const secret = "probe-secret"

var seq atomic.Int64

// start runs the receiver on the package's test database.
func start(t *testing.T) (url string, db *sql.DB) {
	t.Helper()
	db = dbtest.Open(t)
	ctx, cancel := context.WithCancel(context.Background())
	rc, err := newReceiver(ctx, db, secret, 500)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { rc.run(ctx); close(done) }()
	srv := httptest.NewServer(rc.handler())
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	// A second pool for the test's own look-ups, so that they never wait
	// behind the receiver's connections.
	own, err := sql.Open("postgres", dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { own.Close() })
	return srv.URL, own
}

// connection is a connection id no other test uses.
func connection() string { return fmt.Sprintf("con_test_%d_%d", time.Now().UnixNano(), seq.Add(1)) }

func post(t *testing.T, url, conn, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/telegram/"+conn, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set(secretHeader, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func rows(t *testing.T, db *sql.DB, conn string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM probe_webhooks WHERE connection_id = $1`, conn).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func update(id int) string {
	return fmt.Sprintf(`{"update_id":%d,"message":{"message_id":1,"date":1700000000,"chat":{"id":42,"type":"private"},"text":"hi"}}`, id)
}

// The answer comes only once the row is committed: with inserts blocked by
// a lock, the request stays unanswered and its row invisible; once the lock
// goes, the answer is 200 and the row is there for every other session.
func TestAnswersOnlyAfterCommit(t *testing.T) {
	url, db := start(t)
	conn := connection()
	lock, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()
	// SHARE mode conflicts with the ROW EXCLUSIVE lock an INSERT takes.
	if _, err := lock.Exec(`LOCK TABLE probe_webhooks IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status int
		body   string
	}
	answered := make(chan answer, 1)
	go func() {
		s, b := post(t, url, conn, secret, update(1))
		answered <- answer{s, b}
	}()
	select {
	case a := <-answered:
		t.Fatalf("answered %d before the insert could commit", a.status)
	case <-time.After(500 * time.Millisecond):
	}
	if n := rows(t, db, conn); n != 0 {
		t.Fatalf("%d rows visible before the commit", n)
	}
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-answered:
		if a.status != http.StatusOK || a.body != "ok" {
			t.Fatalf("answer %d %q, want 200 ok", a.status, a.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer after the lock was released")
	}
	if n := rows(t, db, conn); n != 1 {
		t.Fatalf("%d rows after the answer, want 1", n)
	}
}

// A batch whose commit fails answers 503, and nothing is stored.
func TestFailedCommitAnswers503(t *testing.T) {
	url, db := start(t)
	conn := connection()
	// NOT VALID skips the existing rows; every new one is refused.
	if _, err := db.Exec(`ALTER TABLE probe_webhooks ADD CONSTRAINT probe_refuse CHECK (false) NOT VALID`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.Exec(`ALTER TABLE probe_webhooks DROP CONSTRAINT IF EXISTS probe_refuse`) })
	if s, _ := post(t, url, conn, secret, update(1)); s != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", s)
	}
	if n := rows(t, db, conn); n != 0 {
		t.Fatalf("%d rows stored by a failed commit", n)
	}
	if _, err := db.Exec(`ALTER TABLE probe_webhooks DROP CONSTRAINT probe_refuse`); err != nil {
		t.Fatal(err)
	}
	if s, _ := post(t, url, conn, secret, update(1)); s != http.StatusOK {
		t.Fatalf("status %d after the database recovered, want 200", s)
	}
}

func TestRefusals(t *testing.T) {
	url, db := start(t)
	conn := connection()
	cases := []struct {
		name, token, body string
		want              int
	}{
		{"wrong secret", "not-the-secret", update(1), http.StatusUnauthorized},
		{"no secret", "", update(1), http.StatusUnauthorized},
		{"no update_id", secret, `{"message":{"text":"hi"}}`, http.StatusBadRequest},
		{"null update_id", secret, `{"update_id":null}`, http.StatusBadRequest},
		{"not JSON", secret, `update_id=1`, http.StatusBadRequest},
		{"over 1 MiB", secret, `{"update_id":1,"pad":"` + strings.Repeat("x", maxBody) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if s, _ := post(t, url, conn, tc.token, tc.body); s != tc.want {
				t.Fatalf("status %d, want %d", s, tc.want)
			}
		})
	}
	if n := rows(t, db, conn); n != 0 {
		t.Fatalf("refused requests stored %d rows", n)
	}
}

// A platform's retry of an update is acknowledged again and adds nothing;
// the same update_id on another connection is another update.
func TestDuplicateAddsNothing(t *testing.T) {
	url, db := start(t)
	conn, other := connection(), connection()
	for i := 0; i < 3; i++ {
		if s, b := post(t, url, conn, secret, update(7)); s != http.StatusOK || b != "ok" {
			t.Fatalf("delivery %d: %d %q, want 200 ok", i, s, b)
		}
	}
	if s, _ := post(t, url, other, secret, update(7)); s != http.StatusOK {
		t.Fatalf("status %d, want 200", s)
	}
	if n := rows(t, db, conn); n != 1 {
		t.Fatalf("%d rows for three deliveries of one update, want 1", n)
	}
	if n := rows(t, db, other); n != 1 {
		t.Fatalf("%d rows on the other connection, want 1", n)
	}
	var payload []byte
	if err := db.QueryRow(`SELECT payload FROM probe_webhooks WHERE connection_id = $1 AND dedup_key = 'update:7'`, conn).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	if string(payload) != update(7) {
		t.Fatalf("stored %q, want the body as sent", payload)
	}
}

// Concurrent requests share batches, and every one of them is stored,
// including duplicates within one batch (which must not fail the batch).
func TestConcurrentBatches(t *testing.T) {
	url, db := start(t)
	conn := connection()
	const n = 200
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			// Every update twice: some duplicates land in the same batch.
			req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/telegram/"+conn, strings.NewReader(update(i/2)))
			req.Header.Set(secretHeader, secret)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := rows(t, db, conn); got != n/2 {
		t.Fatalf("%d rows, want %d", got, n/2)
	}
}
