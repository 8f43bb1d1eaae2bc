// Command receiver is the limit probe for webhook acknowledgement: the least
// an HTTP server can do to acknowledge a Telegram webhook durably on this
// machine and this PostgreSQL, with no framework. `make bench` runs it beside
// the real server and reads "webhook ack" as a ratio of it.
//
// Per request it does the essential durable work of the real webhook edge
// (webhooks/webhooks.go, journal/journal.go): check the secret header, read
// the whole body (capped at 1 MiB), read update_id as the dedup key, then
// hand the request to one batcher goroutine that inserts whatever is queued
// (up to -max-batch) with ONE multi-row statement and answers each request
// only after that statement has committed. Commits are as durable as the
// cluster is configured (fsync and synchronous_commit are left alone: no
// asynchronous commit). A failed commit answers 503 to the whole batch.
//
// What it leaves out, on purpose, is what is not essential to a durable
// acknowledgement: connection routing and its cache, logging, health,
// counters, per-request ids. The real edge's overhead over this probe is what
// those, and any inefficiency, cost.
//
//	receiver -addr 127.0.0.1:9101 -db postgres://... -secret s3cret
package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lib/pq"

	"github.com/switchboard-chat/switchboard/bench/probe/probeserve"
)

// maxBody is the real edge's cap (webhooks.MaxBody).
const maxBody = 1 << 20

// secretHeader is where Telegram sends the webhook's secret_token.
const secretHeader = "X-Telegram-Bot-Api-Secret-Token"

// schema is the probe's own table: the columns a journal row needs to be
// replayed (whose connection, which update, the body) and the unique key
// that makes a platform's retry a no-op, as webhook_events has.
const schema = `CREATE TABLE IF NOT EXISTS probe_webhooks (
	id bigserial PRIMARY KEY,
	connection_id text NOT NULL,
	dedup_key text NOT NULL,
	payload bytea NOT NULL,
	received_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (connection_id, dedup_key))`

// insert writes a whole batch in one statement, as the journal does; a
// duplicate (the same update delivered again) adds nothing. Being a single
// statement outside an explicit transaction, it commits when it returns.
const insert = `INSERT INTO probe_webhooks (connection_id, dedup_key, payload)
SELECT c, k, p FROM unnest($1::text[], $2::text[], $3::bytea[]) AS v(c, k, p)
ON CONFLICT (connection_id, dedup_key) DO NOTHING`

func main() {
	addr := flag.String("addr", "", "listen address, host:port (required; port 0 is refused: the harness must know it)")
	dbURL := flag.String("db", "", "PostgreSQL URL (required)")
	secret := flag.String("secret", "", "the X-Telegram-Bot-Api-Secret-Token every request must carry (required)")
	maxBatch := flag.Int("max-batch", 500, "most requests one INSERT takes (the journal's default is 500)")
	flag.Parse()
	if err := run(*addr, *dbURL, *secret, *maxBatch); err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
}

func run(addr, dbURL, secret string, maxBatch int) error {
	if err := probeserve.CheckAddr(addr); err != nil {
		return err
	}
	if dbURL == "" || secret == "" {
		return errors.New("-db and -secret are required")
	}
	if maxBatch < 1 {
		return errors.New("-max-batch must be at least 1")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	rc, err := newReceiver(ctx, db, secret, maxBatch)
	if err != nil {
		return err
	}
	// The batcher outlives the HTTP server: requests still waiting for
	// their batch when shutdown starts are answered before it ends.
	batchCtx, stopBatcher := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rc.run(batchCtx); close(done) }()
	defer func() { stopBatcher(); <-done }()
	return probeserve.Serve(ctx, addr, rc.handler(), nil)
}

// receiver is the handler and its batcher.
type receiver struct {
	db       *sql.DB
	stmt     *sql.Stmt
	secret   [32]byte
	maxBatch int
	queue    chan *pending
}

// pending is one request waiting for its batch to commit.
type pending struct {
	conn, key string
	body      []byte
	done      chan error
}

// newReceiver creates the table when missing and prepares the insert: a
// prepared statement is one round trip per batch instead of two.
func newReceiver(ctx context.Context, db *sql.DB, secret string, maxBatch int) (*receiver, error) {
	// One connection does all the inserting; a second serves the set-up.
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(2)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return nil, fmt.Errorf("creating probe_webhooks: %w", err)
	}
	stmt, err := db.PrepareContext(ctx, insert)
	if err != nil {
		return nil, fmt.Errorf("preparing the insert: %w", err)
	}
	// The queue is as deep as the journal's: requests pile up in it during
	// each commit, which is what makes batches grow under load.
	return &receiver{db: db, stmt: stmt, secret: sha256.Sum256([]byte(secret)), maxBatch: maxBatch,
		queue: make(chan *pending, 4096)}, nil
}

func (rc *receiver) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks/telegram/{connectionID}", rc.receive)
	return mux
}

func (rc *receiver) receive(w http.ResponseWriter, r *http.Request) {
	// Digests compared in constant time, as telegram.Verify does.
	got := sha256.Sum256([]byte(r.Header.Get(secretHeader)))
	if subtle.ConstantTimeCompare(got[:], rc.secret[:]) != 1 {
		http.Error(w, "wrong secret token", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "body over 1 MiB", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading the body", http.StatusBadRequest)
		return
	}
	// The whole body is parsed (validated), as the real edge does to split
	// it; only update_id is kept, as the dedup key.
	var u struct {
		UpdateID json.RawMessage `json:"update_id"`
	}
	if err := json.Unmarshal(body, &u); err != nil || len(u.UpdateID) == 0 || string(u.UpdateID) == "null" {
		http.Error(w, "not a Telegram update (no update_id)", http.StatusBadRequest)
		return
	}
	p := &pending{conn: r.PathValue("connectionID"), key: "update:" + string(u.UpdateID), body: body, done: make(chan error, 1)}
	select {
	case rc.queue <- p:
	case <-r.Context().Done():
		return
	}
	// Wait for the commit even when the client has gone: the batch holds the
	// request either way, and the answer is cheap.
	if err := <-p.done; err != nil {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "not stored", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok")
}

// run is the single batcher: it takes whatever is queued, up to maxBatch,
// without waiting for more (under load requests pile up during each commit,
// so batches grow by themselves with no fixed delay at low load), commits it
// in one statement and answers every request of the batch.
func (rc *receiver) run(ctx context.Context) {
	batch := make([]*pending, 0, rc.maxBatch)
	conns := make([]string, 0, rc.maxBatch)
	keys := make([]string, 0, rc.maxBatch)
	bodies := make([][]byte, 0, rc.maxBatch)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return
		case p := <-rc.queue:
			batch = append(batch, p)
		}
	collect:
		for len(batch) < rc.maxBatch {
			select {
			case p := <-rc.queue:
				batch = append(batch, p)
			default:
				break collect
			}
		}
		conns, keys, bodies = conns[:0], keys[:0], bodies[:0]
		for _, p := range batch {
			conns, keys, bodies = append(conns, p.conn), append(keys, p.key), append(bodies, p.body)
		}
		// Bounded like the journal's commit (5 s), so a stuck database turns
		// into 503s rather than requests that hang.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, err := rc.stmt.ExecContext(cctx, pq.StringArray(conns), pq.StringArray(keys), pq.ByteaArray(bodies))
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "receiver: batch of %d not committed: %v\n", len(batch), err)
		}
		for _, p := range batch {
			p.done <- err
		}
	}
}
