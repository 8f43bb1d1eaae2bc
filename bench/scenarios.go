package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-chat/switchboard/bench/loadgen"
	"github.com/switchboard-chat/switchboard/bench/telegramfake"
)

// camp is a seeded campaign with its one Telegram connection.
type camp struct {
	ID, Conn, Token, Secret string
}

// hook is the connection's webhook on the server (or probe) at base.
func (c camp) hook(base string) loadgen.Hook {
	return loadgen.Hook{URL: base + "/webhooks/telegram/" + c.Conn, Secret: c.Secret}
}

// seeds are the campaigns the scenarios use. Each scenario has its own, so
// that one's conversations never change another's figures (the inbox page's
// totalCount, a subscription's traffic).
type seeds struct {
	load, live, fanout, inbox, outbound, memory camp
	outConvs                                    []string
	real                                        []camp
}

// chats is how many distinct customers the load comes from: each chat is a
// contact and a conversation, as on a busy campaign.
const chats = 1000

func chat(i int) int64 { return int64(i%chats) + 1 }

const (
	subscription = `subscription($campaignID: ID) { messageAdded(campaignID: $campaignID) { text } }`
	// pageQuery is the inbox: the SPA's conversation list, exactly as the
	// inbox probe (bench/probe/inbox) answers it, so the two are compared
	// on the same page. The probe reads the campaign from variables.c.
	pageQuery = `query($c: ID!) { conversations(first: 50, where: {campaignID: $c}) { totalCount
	  edges { cursor node { id status unreadCount lastMessageAt
	    contact { id name avatarURL platform } connection { id name platform }
	    lastMessage { id text direction sentAt status } } }
	  pageInfo { hasNextPage endCursor } } }`
	sendMutation = `mutation($c: ID!, $t: String!, $k: String!) { sendMessage(input: {conversationID: $c, text: $t, clientMessageID: $k}) { id } }`
)

func (b *bench) gql(base string) *loadgen.GraphQL {
	return &loadgen.GraphQL{URL: base + "/graphql", Token: b.token, HC: b.hc}
}

// setup makes the database, the fake, the server, the admin's token and
// every campaign the selected scenarios need.
func (b *bench) setup(ctx context.Context) error {
	url, db, err := b.freshDatabase(b.cfg.dbName)
	if err != nil {
		return err
	}
	b.dbURL, b.db = url, db
	_ = b.db.QueryRowContext(ctx, "SHOW server_version").Scan(&b.pg)
	b.fake = telegramfake.New()
	fakeURL, _, err := b.fake.Listen()
	if err != nil {
		return err
	}
	b.email, b.password = "bench@example.com", randomSecret(18)
	b.serverEnv = map[string]string{
		"DATABASE_URL":             b.dbURL,
		"JWT_SECRET":               randomSecret(48),
		"ENCRYPTION_KEY":           randomSecret(32),
		"BOOTSTRAP_ADMIN_EMAIL":    b.email,
		"BOOTSTRAP_ADMIN_PASSWORD": b.password,
		"TELEGRAM_API_URL":         fakeURL,
		// One admin holds every socket of the bench.
		"WS_MAX_SOCKETS_PER_USER": strconv.Itoa(max(b.cfg.sockets, b.cfg.fanSubs, b.cfg.realSubs, b.cfg.liveSubs) + 100),
	}
	for _, kv := range b.cfg.env {
		k, v, _ := strings.Cut(kv, "=")
		b.serverEnv[k] = v
	}
	log.Printf("database %s, Telegram fake at %s, logs in %s", b.cfg.dbName, fakeURL, b.cfg.out)
	if b.main, err = b.startServer(ctx, "main", nil); err != nil {
		return err
	}
	var login struct {
		Login struct{ Token string }
	}
	anon := &loadgen.GraphQL{URL: b.main.gqlURL(), HC: b.hc}
	if err := anon.Do(ctx, `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`,
		map[string]any{"e": b.email, "p": b.password}, &login); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	b.token = login.Login.Token

	bot := int64(7_000_000_000)
	seed := func(name string) (camp, error) {
		bot++
		return b.seedCampaign(ctx, name, bot)
	}
	for _, s := range []struct {
		c    *camp
		name string
	}{{&b.seeds.load, "load"}, {&b.seeds.live, "live"}, {&b.seeds.fanout, "fanout"}, {&b.seeds.inbox, "inbox"}, {&b.seeds.outbound, "outbound"}, {&b.seeds.memory, "memory"}} {
		if *s.c, err = seed("bench " + s.name); err != nil {
			return err
		}
	}
	if b.cfg.wants("realistic") {
		for i := range b.cfg.realCamps {
			c, err := seed(fmt.Sprintf("bench realistic %d", i))
			if err != nil {
				return err
			}
			b.seeds.real = append(b.seeds.real, c)
		}
	}
	// The inbox page and the outbound sends need conversations: one per
	// customer writing in.
	for _, s := range []struct {
		c *camp
		n int
	}{{&b.seeds.inbox, b.cfg.inboxConvs}, {&b.seeds.outbound, 50}} {
		for i := range s.n {
			if st, err := loadgen.Post(ctx, b.hc, s.c.hook(b.main.url()), loadgen.TelegramUpdate(int64(i+1), fmt.Sprintf("hello from customer %d", i+1))); err != nil || st != 200 {
				return fmt.Errorf("seeding conversations: HTTP %d %v", st, err)
			}
		}
	}
	if err := b.waitDrained(ctx); err != nil {
		return err
	}
	rows, err := b.db.QueryContext(ctx, `SELECT id FROM conversations WHERE campaign_id = $1`, b.seeds.outbound.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		b.seeds.outConvs = append(b.seeds.outConvs, id)
	}
	if len(b.seeds.outConvs) < 50 {
		return fmt.Errorf("seeding: %d conversations in the outbound campaign, want 50", len(b.seeds.outConvs))
	}
	log.Printf("seeded %d campaigns", 6+len(b.seeds.real))
	return rows.Err()
}

// seedCampaign creates a campaign and connects a fake bot to it through the
// API, as an administrator would; the fake then knows the webhook secret.
func (b *bench) seedCampaign(ctx context.Context, name string, botID int64) (camp, error) {
	g := b.gql(b.main.url())
	var cc struct {
		CreateCampaign struct{ ID string }
	}
	if err := g.Do(ctx, `mutation($n: String!) { createCampaign(input: {name: $n}) { id } }`, map[string]any{"n": name}, &cc); err != nil {
		return camp{}, fmt.Errorf("createCampaign: %w", err)
	}
	token := telegramfake.Token(botID)
	var ct struct {
		ConnectTelegram struct{ ID string }
	}
	if err := g.Do(ctx, `mutation($c: ID!, $t: String!) { connectTelegram(input: {campaignID: $c, botToken: $t}) { id } }`,
		map[string]any{"c": cc.CreateCampaign.ID, "t": token}, &ct); err != nil {
		return camp{}, fmt.Errorf("connectTelegram: %w", err)
	}
	secret := b.fake.Secret(token)
	if secret == "" {
		return camp{}, errors.New("connectTelegram set no webhook secret on the fake")
	}
	return camp{ID: cc.CreateCampaign.ID, Conn: ct.ConnectTelegram.ID, Token: token, Secret: secret}, nil
}

const pendingSQL = `SELECT count(*) FROM webhook_events WHERE processed_at IS NULL AND failed_at IS NULL AND skipped_at IS NULL`

func (b *bench) pending(ctx context.Context) (int64, error) {
	var n int64
	err := b.db.QueryRowContext(ctx, pendingSQL).Scan(&n)
	return n, err
}

// waitDrained waits until the journal holds nothing pending, so that a
// phase never pays for the previous one's backlog.
func (b *bench) waitDrained(ctx context.Context) error {
	deadline := time.Now().Add(b.cfg.settle)
	for {
		n, err := b.pending(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d journal rows still pending after %s", n, b.cfg.settle)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// sendStats are the answers to a batch of webhooks.
type sendStats struct {
	ok, bad  atomic.Int64
	firstErr atomic.Pointer[string]
	start    time.Time
	elapsed  time.Duration
}

func (s *sendStats) record(status int, err error) {
	if err == nil && status == 200 {
		s.ok.Add(1)
		return
	}
	s.bad.Add(1)
	msg := fmt.Sprintf("HTTP %d", status)
	if err != nil {
		msg = err.Error()
	}
	s.firstErr.CompareAndSwap(nil, &msg)
}

func (s *sendStats) rate() float64 { return float64(s.ok.Load()) / s.elapsed.Seconds() }

func (s *sendStats) problem() string {
	if s.bad.Load() == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d webhooks not acknowledged (first: %s)", s.bad.Load(), s.bad.Load()+s.ok.Load(), *s.firstErr.Load())
}

// warm opens n keep-alive connections to the server (or probe) at base
// with one webhook each, so that a measured phase starts in steady state
// rather than paying TCP handshakes and first-request costs in its first
// fraction of a second. The webhooks go to the load campaign, where no
// subscriber watches, and are processed before warm returns, so the phase
// after it starts with an empty journal.
func (b *bench) warm(ctx context.Context, base string, n int) {
	b.burst(ctx, base, n)
	_ = b.waitDrained(ctx)
}

// burst opens n HTTP connections to base with a webhook each.
func (b *bench) burst(ctx context.Context, base string, n int) {
	h := b.seeds.load.hook(base)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, _ = loadgen.Post(ctx, b.hc, h, loadgen.TelegramUpdate(chat(i), "warm-up")) })
	}
	wg.Wait()
}

// flatOut sends webhooks to h from senders goroutines, each as soon as the
// previous one was answered, for d.
func (b *bench) flatOut(ctx context.Context, h loadgen.Hook, senders int, d time.Duration, text string) *sendStats {
	base, _, _ := strings.Cut(h.URL, "/webhooks/")
	b.warm(ctx, base, senders)
	st := &sendStats{start: time.Now()}
	st.elapsed = loadgen.ClosedLoop(ctx, senders, d, func(ctx context.Context, _ int) {
		st.record(loadgen.Post(ctx, b.hc, h, loadgen.TelegramUpdate(int64(rand.IntN(chats))+1, text)))
	})
	return st
}

// openLoopWorkers bounds the webhooks in flight in an open-loop phase. Due
// sends beyond it wait, and their wait counts in their latency.
const openLoopWorkers = 256

// paced sends rate webhooks per second for d on a fixed schedule; send i
// goes to hookFor(i) with the text text(i, due). bases are the servers the
// hooks point at, warmed first. It returns the acknowledgement latencies,
// each from the send's due time.
func (b *bench) paced(ctx context.Context, bases []string, rate float64, d time.Duration, hookFor func(i int) loadgen.Hook, text func(i int, due time.Time) string, okSend func(i int)) (loadgen.Dist, *sendStats) {
	for _, base := range bases {
		b.warm(ctx, base, openLoopWorkers)
	}
	return b.openLoop(ctx, rate, d, hookFor, text, okSend)
}

// openLoop is paced without the warm-up.
func (b *bench) openLoop(ctx context.Context, rate float64, d time.Duration, hookFor func(i int) loadgen.Hook, text func(i int, due time.Time) string, okSend func(i int)) (loadgen.Dist, *sendStats) {
	var lat loadgen.Recorder
	st := &sendStats{start: time.Now()}
	loadgen.OpenLoop(ctx, rate, d, openLoopWorkers, func(ctx context.Context, i int, due time.Time) {
		status, err := loadgen.Post(ctx, b.hc, hookFor(i), loadgen.TelegramUpdate(chat(i), text(i, due)))
		lat.Add(time.Since(due))
		st.record(status, err)
		if err == nil && status == 200 && okSend != nil {
			okSend(i)
		}
	})
	st.elapsed = time.Since(st.start)
	return lat.Dist(), st
}

// ack: acknowledgements per second with 64 senders flat out, and how many
// messages processing stored meanwhile; then the same load on the minimal
// group-commit receiver.
func (b *bench) ack(ctx context.Context, run int) error {
	st := b.flatOut(ctx, b.seeds.load.hook(b.main.url()), b.cfg.senders, b.cfg.dur, "flat out")
	end := st.start.Add(st.elapsed)
	b.results.add("ack.rate", run, st.rate())
	if p := st.problem(); p != "" {
		b.results.note("ack", p)
	}
	var processed int64
	if err := b.db.QueryRowContext(ctx, `SELECT count(*) FROM webhook_events WHERE processed_at >= $1 AND processed_at < $2`, st.start, end).Scan(&processed); err != nil {
		return err
	}
	b.results.add("ack.processed", run, float64(processed)/st.elapsed.Seconds())
	if err := b.waitDrained(ctx); err != nil {
		return err
	}
	p, err := b.probe(ctx, "receiver", "-db", b.dbURL, "-secret", b.seeds.load.Secret)
	if err != nil || p == nil {
		return err
	}
	ps := b.flatOut(ctx, b.seeds.load.hook(p.url()), b.cfg.senders, b.cfg.dur, "flat out")
	b.results.add("ack.probe.rate", run, ps.rate())
	if pr := ps.problem(); pr != "" {
		b.results.note("ack", "probe: "+pr)
	}
	return nil
}

// p99: acknowledgement latency at a fixed rate, open loop, and the journal's
// backlog the moment the load stops; then the receiver probe at that rate.
func (b *bench) p99(ctx context.Context, run int) error {
	text := func(int, time.Time) string { return "paced" }
	h := b.seeds.load.hook(b.main.url())
	lat, st := b.paced(ctx, []string{b.main.url()}, b.cfg.rate, b.cfg.dur, func(int) loadgen.Hook { return h }, text, nil)
	backlog, err := b.pending(ctx)
	if err != nil {
		return err
	}
	b.results.add("p99.p50", run, loadgen.Ms(lat.Percentile(50)))
	b.results.add("p99.p99", run, loadgen.Ms(lat.Percentile(99)))
	b.results.add("p99.backlog", run, float64(backlog))
	if p := st.problem(); p != "" {
		b.results.note("p99", p)
	}
	if err := b.waitDrained(ctx); err != nil {
		return err
	}
	// The same load on a replica that only journals: what acknowledging
	// costs without processing beside it on the same cores.
	if err := b.journalOnly(ctx, func(j *server) error {
		// Warmed without waiting for a drain that cannot come here: the
		// main server processes the warm-up with the rest afterwards.
		b.burst(ctx, j.url(), openLoopWorkers)
		h := b.seeds.load.hook(j.url())
		lat, st := b.openLoop(ctx, b.cfg.rate, b.cfg.dur, func(int) loadgen.Hook { return h }, text, nil)
		b.results.add("p99.journal.p99", run, loadgen.Ms(lat.Percentile(99)))
		if p := st.problem(); p != "" {
			b.results.note("p99", "journal-only: "+p)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := b.waitDrained(ctx); err != nil {
		return err
	}
	p, err := b.probe(ctx, "receiver", "-db", b.dbURL, "-secret", b.seeds.load.Secret)
	if err != nil || p == nil {
		return err
	}
	ph := b.seeds.load.hook(p.url())
	plat, pst := b.paced(ctx, []string{p.url()}, b.cfg.rate, b.cfg.dur, func(int) loadgen.Hook { return ph }, text, nil)
	b.results.add("p99.probe.p50", run, loadgen.Ms(plat.Percentile(50)))
	b.results.add("p99.probe.p99", run, loadgen.Ms(plat.Percentile(99)))
	if pr := pst.problem(); pr != "" {
		b.results.note("p99", "probe: "+pr)
	}
	return nil
}

// drain: processing alone. A replica with INGEST_WORKERS=0 journals
// drain-n webhooks and stops; a normal one starts and processes them with
// nothing else to do. The rate is the rows over the time from the first
// batch's transaction to the last one's (processed_at is now() of the
// batch).
func (b *bench) drain(ctx context.Context, run int) error {
	var t0 time.Time
	var st *sendStats
	err := b.journalOnly(ctx, func(j *server) error {
		t0 = time.Now()
		h := b.seeds.load.hook(j.url())
		st = &sendStats{start: t0}
		var seq atomic.Int64
		var wg sync.WaitGroup
		for range b.cfg.senders {
			wg.Go(func() {
				for seq.Add(1) <= int64(b.cfg.drainN) && ctx.Err() == nil {
					st.record(loadgen.Post(ctx, b.hc, h, loadgen.TelegramUpdate(int64(rand.IntN(chats))+1, "backlog")))
				}
			})
		}
		wg.Wait()
		st.elapsed = time.Since(t0)
		return nil
	})
	if err != nil {
		return err
	}
	// The same flat-out load as the ack phase, on a replica that only
	// journals: acknowledging without processing beside it.
	b.results.add("drain.ack", run, st.rate())
	if p := st.problem(); p != "" {
		b.results.note("drain", p)
	}
	if err := b.waitDrained(ctx); err != nil {
		return err
	}
	var (
		n    int64
		span sql.NullFloat64
	)
	if err := b.db.QueryRowContext(ctx, `SELECT count(*), EXTRACT(EPOCH FROM max(processed_at) - min(processed_at))
		FROM webhook_events WHERE received_at >= $1 AND processed_at IS NOT NULL`, t0).Scan(&n, &span); err != nil {
		return err
	}
	if n < st.ok.Load() {
		b.results.note("drain", fmt.Sprintf("run %d: %d of %d journaled webhooks processed", run, n, st.ok.Load()))
	}
	if !span.Valid || span.Float64 <= 0 {
		return errors.New("no processing time measured")
	}
	b.results.add("drain.rate", run, float64(n)/span.Float64)
	return nil
}

// journalOnly stops the main server, runs load against a replica with
// INGEST_WORKERS=0 (nothing processes what it journals), and starts the
// main server again, which then processes the backlog.
func (b *bench) journalOnly(ctx context.Context, load func(j *server) error) error {
	b.main.stop(30 * time.Second)
	j, err := b.startServer(ctx, "journal-only", map[string]string{"INGEST_WORKERS": "0"})
	if err != nil {
		return err
	}
	loadErr := load(j)
	j.stop(30 * time.Second)
	if b.main, err = b.startServer(ctx, "main", nil); err != nil {
		return err
	}
	return loadErr
}

// delivery measures webhook → subscriber latency: subs subscribers open
// (target(i) says where and to which campaign), are primed (poke sends one
// event everyone receives), then rate webhooks per second go out on a fixed
// schedule, each stamped with its due time; every arrival records its
// latency. fanout(i) is how many subscribers message i reaches.
type delivery struct {
	tag    string
	bases  []string // the servers the hooks point at
	subs   int
	target func(i int) loadgen.Target
	poke   func() error
	rate   float64
	hook   func(i int) loadgen.Hook
	fanout func(i int) int
}

func (b *bench) deliver(ctx context.Context, d delivery) (loadgen.Dist, string, error) {
	var rec loadgen.Recorder
	on := rec.Stamped(d.tag)
	fleet, err := loadgen.OpenFleet(ctx, d.subs, 50, subscription, d.target, func(int) loadgen.OnText { return on })
	if err != nil {
		return nil, "", err
	}
	defer fleet.Close()
	if err := fleet.Prime(ctx, 60*time.Second, 2*time.Second, d.poke); err != nil {
		return nil, "", fmt.Errorf("priming subscribers: %w", err)
	}
	var expected atomic.Int64
	_, st := b.paced(ctx, d.bases, d.rate, b.cfg.dur, d.hook, func(_ int, due time.Time) string { return loadgen.Stamp(d.tag, due) },
		func(i int) { expected.Add(int64(d.fanout(i))) })
	// Wait for the stragglers: until everything arrived, or nothing more
	// arrives for 5 s.
	last, lastAt := rec.Len(), time.Now()
	for int64(rec.Len()) < expected.Load() && time.Since(lastAt) < 5*time.Second && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		if n := rec.Len(); n != last {
			last, lastAt = n, time.Now()
		}
	}
	problem := st.problem()
	if missing := expected.Load() - int64(rec.Len()); missing > 0 {
		problem += fmt.Sprintf("%d of %d deliveries never arrived (not in the percentiles)", missing, expected.Load())
	}
	if err := fleet.Err(); err != nil {
		problem += " " + err.Error()
	}
	return rec.Dist(), problem, nil
}

// everyone returns the subscriber count for a phase where every message
// reaches every subscriber.
func everyone(n int) func(int) int { return func(int) int { return n } }

func (b *bench) live(ctx context.Context, run int) error {
	c := b.seeds.live
	h := c.hook(b.main.url())
	dist, problem, err := b.deliver(ctx, delivery{
		tag:   fmt.Sprintf("live%d", run),
		bases: []string{b.main.url()},
		subs:  b.cfg.liveSubs,
		target: func(int) loadgen.Target {
			return loadgen.Target{URL: b.main.wsURL(), Token: b.token, Vars: map[string]any{"campaignID": c.ID}}
		},
		poke:   b.poker(h),
		rate:   b.cfg.liveRate,
		hook:   func(int) loadgen.Hook { return h },
		fanout: everyone(b.cfg.liveSubs),
	})
	if err != nil {
		return err
	}
	b.results.add("live.p50", run, loadgen.Ms(dist.Percentile(50)))
	b.results.add("live.p99", run, loadgen.Ms(dist.Percentile(99)))
	if problem != "" {
		b.results.note("live", fmt.Sprintf("run %d: %s", run, problem))
	}
	return b.waitDrained(ctx)
}

// poker sends one warm-up webhook to each of hooks.
func (b *bench) poker(hooks ...loadgen.Hook) func() error {
	return func() error {
		for _, h := range hooks {
			st, err := loadgen.Post(context.Background(), b.hc, h, loadgen.TelegramUpdate(1, loadgen.Stamp("warm", time.Now())))
			if err != nil {
				return err
			}
			if st != 200 {
				return fmt.Errorf("warm-up webhook: HTTP %d", st)
			}
		}
		return nil
	}
}

// fanout: one campaign, many subscribers, on the server and on the
// broadcaster probe (websockets, no database).
func (b *bench) fanout(ctx context.Context, run int) error {
	c := b.seeds.fanout
	measure := func(base, ws string) (loadgen.Dist, string, error) {
		h := c.hook(base)
		return b.deliver(ctx, delivery{
			tag:   fmt.Sprintf("fanout%d", run),
			bases: []string{base},
			subs:  b.cfg.fanSubs,
			target: func(int) loadgen.Target {
				return loadgen.Target{URL: ws, Token: b.token, Vars: map[string]any{"campaignID": c.ID}}
			},
			poke:   b.poker(h),
			rate:   b.cfg.fanRate,
			hook:   func(int) loadgen.Hook { return h },
			fanout: everyone(b.cfg.fanSubs),
		})
	}
	dist, problem, err := measure(b.main.url(), b.main.wsURL())
	if err != nil {
		return err
	}
	b.results.add("fanout.p50", run, loadgen.Ms(dist.Percentile(50)))
	b.results.add("fanout.p99", run, loadgen.Ms(dist.Percentile(99)))
	if problem != "" {
		b.results.note("fanout", fmt.Sprintf("run %d: %s", run, problem))
	}
	if err := b.waitDrained(ctx); err != nil {
		return err
	}
	routes := filepath.Join(b.cfg.out, "broadcaster-routes.json")
	raw, _ := json.Marshal(map[string]string{c.Conn: c.ID})
	if err := os.WriteFile(routes, raw, 0o644); err != nil {
		return err
	}
	p, err := b.probe(ctx, "broadcaster", "-secret", c.Secret, "-routes", routes)
	if err != nil || p == nil {
		return err
	}
	pdist, pproblem, err := measure(p.url(), "ws://"+p.addr+"/graphql")
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	b.results.add("fanout.probe.p50", run, loadgen.Ms(pdist.Percentile(50)))
	b.results.add("fanout.probe.p99", run, loadgen.Ms(pdist.Percentile(99)))
	if pproblem != "" {
		b.results.note("fanout", fmt.Sprintf("run %d, probe: %s", run, pproblem))
	}
	return nil
}

// inbox: the conversation list page, clients asking flat out, on the
// server and on the inbox probe (the same SQL with lib/pq and
// encoding/json).
func (b *bench) inbox(ctx context.Context, run int) error {
	body, _ := json.Marshal(map[string]any{"query": pageQuery, "variables": map[string]any{"c": b.seeds.inbox.ID}})
	rate, p99, err := b.pages(ctx, b.main.url(), body)
	if err != nil {
		return err
	}
	b.results.add("inbox.rate", run, rate)
	b.results.add("inbox.p99", run, p99)
	if run == 1 {
		if n, err := b.statementsPerPage(ctx, body); err != nil {
			b.results.note("inbox", "statements per page not counted: "+err.Error())
		} else {
			b.results.add("inbox.statements", run, n)
		}
	}
	p, err := b.probe(ctx, "inbox", "-db", b.dbURL)
	if err != nil || p == nil {
		return err
	}
	rate, p99, err = b.pages(ctx, p.url(), body)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	b.results.add("inbox.probe.rate", run, rate)
	b.results.add("inbox.probe.p99", run, p99)
	return nil
}

// pages checks that base answers the page in full, then asks for it from
// inbox-clients clients flat out and returns pages/s and the p99 in ms.
func (b *bench) pages(ctx context.Context, base string, body []byte) (float64, float64, error) {
	g := b.gql(base)
	status, raw, err := g.Post(ctx, body)
	if err != nil {
		return 0, 0, err
	}
	if err := loadgen.CheckPage(status, raw); err != nil {
		return 0, 0, err
	}
	var page struct {
		Data struct {
			Conversations struct {
				TotalCount int
				Edges      []struct {
					Node struct {
						ID          string
						Contact     *struct{ ID string }
						Connection  *struct{ ID string }
						LastMessage *struct{ ID string }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		return 0, 0, err
	}
	conv := page.Data.Conversations
	if len(conv.Edges) != 50 || conv.TotalCount < 50 || conv.Edges[0].Node.Contact == nil || conv.Edges[0].Node.Connection == nil || conv.Edges[0].Node.LastMessage == nil {
		return 0, 0, fmt.Errorf("the page from %s is not the inbox page (%d conversations, totalCount %d): %.300s", base, len(conv.Edges), conv.TotalCount, raw)
	}
	var (
		lat      loadgen.Recorder
		ok, bad  atomic.Int64
		firstErr atomic.Pointer[error]
	)
	took := loadgen.ClosedLoop(ctx, b.cfg.inboxConc, b.cfg.dur, func(ctx context.Context, _ int) {
		t := time.Now()
		status, raw, err := g.Post(ctx, body)
		if err == nil {
			err = loadgen.CheckPage(status, raw)
		}
		if err != nil {
			bad.Add(1)
			firstErr.CompareAndSwap(nil, &err)
			return
		}
		lat.Add(time.Since(t))
		ok.Add(1)
	})
	if n := bad.Load(); n > 0 {
		return 0, 0, fmt.Errorf("%d of %d pages failed (first: %v)", n, n+ok.Load(), *firstErr.Load())
	}
	return float64(ok.Load()) / took.Seconds(), loadgen.Ms(lat.Dist().Percentile(99)), nil
}

// outbound: agents' replies through sendMessage, delivered by the outbox to
// the Telegram fake. Each of outbound-clients callers sends one message and
// waits until the fake has it before sending the next, so the outbox never
// holds more than one message per caller: that is how replies arrive from
// agents, and it measures the pipeline's throughput and latency without
// building a backlog. (A flat-out caller that does not wait builds one
// faster than the outbox drains it, and then measures only the backlog.)
func (b *bench) outbound(ctx context.Context, run int) error {
	g := b.gql(b.main.url())
	convs := b.seeds.outConvs
	var (
		lat                              loadgen.Recorder
		seq, delivered, failed, timedOut atomic.Int64
		firstErr                         atomic.Pointer[error]
	)
	took := loadgen.ClosedLoop(ctx, b.cfg.outConc, b.cfg.dur, func(ctx context.Context, _ int) {
		k := seq.Add(1)
		text := fmt.Sprintf("reply %d-%d", run, k)
		done := b.fake.Await(text)
		t := time.Now()
		err := g.Do(ctx, sendMutation, map[string]any{"c": convs[int(k)%len(convs)], "t": text, "k": fmt.Sprintf("bench-%d-%d", run, k)}, nil)
		if err != nil {
			b.fake.Forget(text)
			failed.Add(1)
			firstErr.CompareAndSwap(nil, &err)
			return
		}
		select {
		case <-done:
			lat.Add(time.Since(t))
			delivered.Add(1)
		case <-time.After(30 * time.Second):
			b.fake.Forget(text)
			timedOut.Add(1)
		case <-ctx.Done():
		}
	})
	if n := failed.Load(); n > 0 {
		b.results.note("outbound", fmt.Sprintf("run %d: %d sendMessage calls failed (first: %v)", run, n, *firstErr.Load()))
	}
	if n := timedOut.Load(); n > 0 {
		b.results.note("outbound", fmt.Sprintf("run %d: %d messages not delivered within 30 s", run, n))
	}
	if delivered.Load() == 0 {
		return errors.New("nothing was delivered")
	}
	b.results.add("outbound.rate", run, float64(delivered.Load())/took.Seconds())
	b.results.add("outbound.p99", run, loadgen.Ms(lat.Dist().Percentile(99)))
	// Leave no message for the outbox to work on during the next phase.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var pending int64
		if err := b.db.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE direction = 'OUTBOUND' AND status = 'PENDING'`).Scan(&pending); err != nil {
			return err
		}
		if pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d outbound messages still pending 30 s after the phase", pending)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// realistic: subscribers spread over campaigns, messages spread over them,
// with one replica and with two on one database (subscribers and webhooks
// split between them, so most events cross from one replica to the other).
func (b *bench) realistic(ctx context.Context, run int) error {
	camps := b.seeds.real
	if len(camps) == 0 {
		return errors.New("no realistic campaigns seeded")
	}
	for _, replicas := range []int{1, 2} {
		servers := []*server{b.main}
		if replicas == 2 {
			s2, err := b.startServer(ctx, "replica2", nil)
			if err != nil {
				return err
			}
			defer s2.stop(30 * time.Second)
			servers = append(servers, s2)
		}
		n := len(camps)
		// Subscriber i watches campaign i%n on replica (i/n)%replicas, so
		// each campaign's subscribers are spread over the replicas; message
		// i goes to campaign i%n through replica (i/n)%replicas likewise.
		on := func(i int) *server { return servers[(i/n)%len(servers)] }
		subsOf := make([]int, n)
		for i := range b.cfg.realSubs {
			subsOf[i%n]++
		}
		var warm []loadgen.Hook
		for i, c := range camps {
			warm = append(warm, c.hook(on(i).url()))
		}
		var bases []string
		for _, s := range servers {
			bases = append(bases, s.url())
		}
		dist, problem, err := b.deliver(ctx, delivery{
			tag:   fmt.Sprintf("real%d-%d", replicas, run),
			bases: bases,
			subs:  b.cfg.realSubs,
			target: func(i int) loadgen.Target {
				return loadgen.Target{URL: on(i).wsURL(), Token: b.token, Vars: map[string]any{"campaignID": camps[i%n].ID}}
			},
			poke:   b.poker(warm...),
			rate:   b.cfg.realRate,
			hook:   func(i int) loadgen.Hook { return camps[i%n].hook(on(i).url()) },
			fanout: func(i int) int { return subsOf[i%n] },
		})
		if err != nil {
			return fmt.Errorf("%d replica(s): %w", replicas, err)
		}
		key := fmt.Sprintf("real%d", replicas)
		b.results.add(key+".p50", run, loadgen.Ms(dist.Percentile(50)))
		b.results.add(key+".p99", run, loadgen.Ms(dist.Percentile(99)))
		if problem != "" {
			b.results.note("realistic", fmt.Sprintf("run %d, %d replica(s): %s", run, replicas, problem))
		}
		if err := b.waitDrained(ctx); err != nil {
			return err
		}
	}
	return nil
}

// memory: the server's RSS before and after opening idle sockets with one
// messageAdded subscription each, on a fresh process so that the baseline
// is not an earlier phase's heap.
func (b *bench) memory(ctx context.Context, run int) error {
	if err := b.restartMain(ctx, nil); err != nil {
		return err
	}
	c := b.seeds.memory
	h := c.hook(b.main.url())
	target := func(int) loadgen.Target {
		return loadgen.Target{URL: b.main.wsURL(), Token: b.token, Vars: map[string]any{"campaignID": c.ID}}
	}
	none := func(int) loadgen.OnText { return nil }
	// Warm the paths a subscription takes (hub, resolvers, pools) with one
	// socket first, so that the baseline holds their one-off allocations.
	one, err := loadgen.OpenFleet(ctx, 1, 1, subscription, target, none)
	if err != nil {
		return err
	}
	if err := one.Prime(ctx, 30*time.Second, time.Second, b.poker(h)); err != nil {
		one.Close()
		return err
	}
	one.Close()
	time.Sleep(2 * time.Second)
	rss0, err := rssKB(b.main.pid())
	if err != nil {
		return err
	}
	fleet, err := loadgen.OpenFleet(ctx, b.cfg.sockets, 100, subscription, target, none)
	if err != nil {
		return err
	}
	defer fleet.Close()
	if err := fleet.Prime(ctx, 2*time.Minute, 5*time.Second, b.poker(h)); err != nil {
		return err
	}
	time.Sleep(3 * time.Second)
	rss1, err := rssKB(b.main.pid())
	if err != nil {
		return err
	}
	b.results.add("memory.kb", run, float64(rss1-rss0)/float64(b.cfg.sockets))
	b.results.add("memory.rss0", run, float64(rss0)/1024)
	b.results.add("memory.rss1", run, float64(rss1)/1024)
	if b.cfg.hold > 0 {
		log.Printf("holding %d sockets open for %s", b.cfg.sockets, b.cfg.hold)
		time.Sleep(b.cfg.hold)
	}
	return nil
}

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbench: the cluster's own rate for a one-row insert per transaction
// (bench/probe/pgbench.sql), the floor under every journaled webhook.
func (b *bench) pgbench(ctx context.Context, run int) error {
	bin, err := findPgbench()
	if err != nil {
		return err
	}
	script := filepath.Join(b.root, "bench", "probe", "pgbench.sql")
	if _, err := os.Stat(script); err != nil {
		return fmt.Errorf("no %s", script)
	}
	// The script inserts into a table of its own, which it leaves to us.
	if _, err := b.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS probe_pgbench (id bigserial PRIMARY KEY, v integer NOT NULL)`); err != nil {
		return err
	}
	secs := max(int(math.Round(b.cfg.dur.Seconds())), 1)
	cmd := exec.CommandContext(ctx, bin, "-n", "-c", strconv.Itoa(b.cfg.pgClients), "-j", "2", "-T", strconv.Itoa(secs), "-f", script, b.dbURL)
	out, err := cmd.CombinedOutput()
	_ = os.WriteFile(filepath.Join(b.cfg.out, "pgbench.log"), out, 0o644)
	if err != nil {
		return fmt.Errorf("pgbench: %v: %.300s", err, out)
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		return fmt.Errorf("no tps in pgbench's output: %.300s", out)
	}
	tps, _ := strconv.ParseFloat(string(m[1]), 64)
	b.results.add("pgbench.tps", run, tps)
	return nil
}
