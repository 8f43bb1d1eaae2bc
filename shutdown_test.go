package main

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/switchboard-chat/switchboard/internal/dbtest"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/telegram"
	"github.com/switchboard-chat/switchboard/platform/telegram/telegramtest"
)

// SIGTERM in the middle of a stream of webhooks: the server exits 0 within
// SHUTDOWN_TIMEOUT, closes its websockets with 1001 (going away: clients
// reconnect elsewhere), and every webhook it acknowledged is in the
// journal, where the next server processes what this one had not.
func TestSIGTERMUnderLoadLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	tg := telegramtest.NewServer(t)
	e := newE2E(t, tg)
	first := e.startChild(map[string]string{"SHUTDOWN_TIMEOUT": "5s"})
	token, connID, secret := e.connectBot(tg, botID())
	sub := e.websocket(token)
	sub.Subscribe("1", `subscription { messageAdded { text } }`, nil)
	sub.UntilLive(func(attempt int) {
		if st := e.post("/webhooks/telegram/"+connID, map[string]string{telegram.SecretHeader: secret}, tgUpdate(1+attempt, "live")); st != 200 {
			t.Fatalf("webhook %d", st)
		}
	})

	var (
		next     atomic.Int64
		mu       sync.Mutex
		acked    []int
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		hc       = &http.Client{Timeout: 10 * time.Second}
		url      = "http://" + e.addr + "/webhooks/telegram/" + connID
		first200 = make(chan struct{})
		once     sync.Once
	)
	next.Store(1000)
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := int(next.Add(1))
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(tgUpdate(id, "load")))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(telegram.SecretHeader, secret)
				resp, err := hc.Do(req)
				if err != nil {
					time.Sleep(10 * time.Millisecond) // the server is going or gone
					continue
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
					once.Do(func() { close(first200) })
				}
			}
		})
	}
	<-first200
	time.Sleep(300 * time.Millisecond) // well into the stream
	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := sub.Closed(); code != 1001 {
		t.Errorf("the subscriber's socket closed with %d, want 1001", code)
	}
	werr := first.Wait()
	close(stop)
	wg.Wait()
	if werr != nil {
		t.Fatalf("the server did not exit cleanly after SIGTERM: %v", werr)
	}
	if len(acked) < 10 {
		t.Fatalf("only %d webhooks acknowledged before the shutdown: not a stream", len(acked))
	}

	db := dbtest.Open(t)
	var missing int
	keys := make([]string, len(acked))
	for i, id := range acked {
		keys[i] = "update:" + strconv.Itoa(id)
	}
	if err := db.QueryRow(`SELECT count(*) FROM unnest($1::text[]) k WHERE NOT EXISTS (SELECT 1 FROM webhook_events w WHERE w.connection_id = $2 AND w.dedup_key = k)`,
		pq.Array(keys), connID).Scan(&missing); err != nil {
		t.Fatal(err)
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged webhooks are not in the journal", missing, len(acked))
	}
	// The next server processes whatever the first left.
	e.startChild(nil)
	testkit.Eventually(t, "every journaled webhook is processed", func() bool {
		var pending int
		_ = db.QueryRow(`SELECT count(*) FROM webhook_events WHERE connection_id = $1 AND processed_at IS NULL`, connID).Scan(&pending)
		return pending == 0
	})
	var stored int
	if err := db.QueryRow(`SELECT count(*) FROM messages WHERE connection_id = $1 AND text = 'load'`, connID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored < len(acked) {
		t.Fatalf("%d messages stored for %d acknowledged webhooks", stored, len(acked))
	}
}
