package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/switchboard-chat/switchboard/bench/loadgen"
)

// statementsPerPage counts the SQL statements one inbox page costs. The
// cluster is shared and pg_stat_statements needs a restart with
// shared_preload_libraries, so instead a server of its own talks to
// PostgreSQL through a proxy that counts the statements in the wire
// protocol: Query messages (simple protocol) and Execute messages (lib/pq's
// extended protocol, one per statement with arguments). The server runs
// with no ingest or outbox workers to keep background statements out, and
// the count is the least over several pages, since the hub's and the health
// checker's polls may still land in one. It includes authenticating the
// request's token.
func (b *bench) statementsPerPage(ctx context.Context, body []byte) (float64, error) {
	u, err := url.Parse(b.dbURL)
	if err != nil {
		return 0, err
	}
	var count atomic.Int64
	proxy, err := countingProxy(u.Host, &count)
	if err != nil {
		return 0, err
	}
	defer proxy.Close()
	u.Host = proxy.Addr().String()
	s, err := b.startServer(ctx, "statement-count", map[string]string{"DATABASE_URL": u.String(), "INGEST_WORKERS": "0", "OUTBOX_WORKERS": "0"})
	if err != nil {
		return 0, err
	}
	defer s.stop(30 * time.Second)
	g := b.gql(s.url())
	page := func() error {
		status, raw, err := g.Post(ctx, body)
		if err != nil {
			return err
		}
		return loadgen.CheckPage(status, raw)
	}
	// The first pages fill the server's caches (routes, prepared plans,
	// the viewer's memberships): the steady state is what a list costs.
	for range 3 {
		if err := page(); err != nil {
			return 0, err
		}
	}
	least := int64(-1)
	for range 7 {
		before := count.Load()
		if err := page(); err != nil {
			return 0, err
		}
		if n := count.Load() - before; least < 0 || n < least {
			least = n
		}
		time.Sleep(150 * time.Millisecond)
	}
	return float64(least), nil
}

// countingProxy forwards TCP connections to upstream and adds to count
// every statement the clients send.
func countingProxy(upstream string, count *atomic.Int64) (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(c, up); c.Close() }()
				_ = countStatements(io.TeeReader(c, up), count)
			}()
		}
	}()
	return ln, nil
}

// countStatements reads a frontend message stream: the untyped startup
// message, then typed messages (1-byte type, 4-byte length that counts
// itself). It never answers anything; the tee forwards every byte read.
func countStatements(r io.Reader, count *atomic.Int64) error {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:4]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n < 4 {
		return errors.New("bad startup message")
	}
	if _, err := io.CopyN(io.Discard, r, int64(n-4)); err != nil {
		return err
	}
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		if n < 4 {
			return fmt.Errorf("bad length %d for message %q", n, hdr[0])
		}
		switch hdr[0] {
		case 'Q', 'E':
			count.Add(1)
		}
		if _, err := io.CopyN(io.Discard, r, int64(n-4)); err != nil {
			return err
		}
	}
}
