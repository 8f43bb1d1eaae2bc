// Command bench is `make bench`: it builds Switchboard and the limit probes
// (bench/probe), starts PostgreSQL as `make run` does, runs the server on a
// fresh database against a fake Telegram Bot API, drives it with the load
// generator in bench/loadgen, runs every probe under the same load in the
// same run, and prints one table: each figure's median and spread over the
// runs, the probe's figure and the ratio between them.
//
//	make bench                               # everything, 3 runs (~15 min)
//	make bench BENCH_ARGS='-only ack,inbox -runs 1 -dur 3s'
//	go run ./bench -h                        # every knob
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log"
	"maps"
	"math"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	_ "github.com/lib/pq"

	"github.com/switchboard-chat/switchboard/bench/loadgen"
	"github.com/switchboard-chat/switchboard/bench/telegramfake"
)

// scenarios, in the order they run within a run. Each measures the server
// and, where there is one, its limit probe under the same load.
var scenarios = []string{"ack", "p99", "drain", "live", "fanout", "inbox", "outbound", "realistic", "memory", "pgbench"}

type config struct {
	runs       int
	only       map[string]bool
	dur        time.Duration
	settle     time.Duration
	out        string
	dbName     string
	build      bool
	probes     bool
	against    string // -against: a second server binary to compare with
	senders    int
	rate       float64
	drainN     int
	liveSubs   int
	liveRate   float64
	fanSubs    int
	fanRate    float64
	inboxConvs int
	inboxConc  int
	sockets    int
	hold       time.Duration
	realSubs   int
	realCamps  int
	realRate   float64
	outConc    int
	pgClients  int
	env        []string // KEY=VALUE for every server the bench starts
}

func parseFlags() config {
	var c config
	only := flag.String("only", "", "comma-separated scenarios to run (default all): "+strings.Join(scenarios, ","))
	flag.IntVar(&c.runs, "runs", 3, "repetitions of every scenario; the table shows the median and the range")
	flag.DurationVar(&c.dur, "dur", 10*time.Second, "how long each load phase lasts")
	flag.DurationVar(&c.settle, "drain-timeout", 3*time.Minute, "how long to wait for the journal to drain between phases")
	flag.StringVar(&c.out, "out", "bench/out", "directory for the servers' and probes' logs and the table (relative to the checkout)")
	flag.StringVar(&c.dbName, "db", "switchboard_bench", "database to drop and recreate for the run")
	flag.BoolVar(&c.build, "build", true, "build bin/switchboard and the probes first")
	flag.BoolVar(&c.probes, "probes", true, "measure the limit probes too")
	flag.StringVar(&c.against, "against", "", "another server binary to compare bin/switchboard with: each phase runs with one, then the other, and the table gives both and their ratio run by run (the probes are not run)")
	flag.IntVar(&c.senders, "senders", 64, "concurrent webhook senders for the flat-out phases (ack, drain)")
	flag.Float64Var(&c.rate, "rate", 2000, "webhooks/s of the open-loop ack latency phase (p99)")
	flag.IntVar(&c.drainN, "drain-n", 40000, "webhooks journaled by an INGEST_WORKERS=0 replica for the drain phase")
	flag.IntVar(&c.liveSubs, "live-subs", 10, "subscribers of the live phase")
	flag.Float64Var(&c.liveRate, "live-rate", 1000, "messages/s of the live phase")
	flag.IntVar(&c.fanSubs, "fanout-subs", 1000, "subscribers of one campaign in the fan-out phase")
	flag.Float64Var(&c.fanRate, "fanout-rate", 50, "messages/s of the fan-out phase")
	flag.IntVar(&c.inboxConvs, "inbox-conversations", 60, "conversations seeded into the inbox campaign (the page shows 50)")
	flag.IntVar(&c.inboxConc, "inbox-clients", 50, "concurrent clients asking for the inbox page")
	flag.IntVar(&c.sockets, "sockets", 10000, "idle subscribers for the memory phase (the target is at 10000)")
	flag.DurationVar(&c.hold, "hold", 0, "keep the memory phase's sockets open this long after measuring, to profile the server (its pprof address is in server.log)")
	flag.IntVar(&c.realSubs, "realistic-subs", 1000, "subscribers of the realistic phase")
	flag.IntVar(&c.realCamps, "realistic-campaigns", 100, "campaigns the realistic phase spreads them over")
	flag.Float64Var(&c.realRate, "realistic-rate", 1000, "messages/s of the realistic phase, spread over its campaigns")
	flag.IntVar(&c.outConc, "outbound-clients", 16, "concurrent sendMessage callers of the outbound phase")
	flag.IntVar(&c.pgClients, "pgbench-clients", 8, "pgbench clients")
	env := flag.String("env", "", "comma-separated KEY=VALUE settings for every server started (a phase's own settings win), e.g. INGEST_WORKERS=2")
	flag.Parse()
	if c.against != "" {
		abs, err := filepath.Abs(c.against)
		if err != nil {
			log.Fatal(err)
		}
		if _, err := os.Stat(abs); err != nil {
			log.Fatalf("-against: %v", err)
		}
		c.against, c.probes = abs, false
	}
	for kv := range strings.SplitSeq(*env, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		if !strings.Contains(kv, "=") {
			log.Fatalf("-env: %q is not KEY=VALUE", kv)
		}
		c.env = append(c.env, kv)
	}
	c.only = map[string]bool{}
	for s := range strings.SplitSeq(*only, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(scenarios, s) {
			log.Fatalf("unknown scenario %q (have %s)", s, strings.Join(scenarios, ","))
		}
		c.only[s] = true
	}
	if c.runs < 1 {
		log.Fatal("-runs must be at least 1")
	}
	return c
}

func (c config) wants(s string) bool { return len(c.only) == 0 || c.only[s] }

// bench is the state of one `make bench`.
type bench struct {
	cfg  config
	root string // the checkout

	dbURL     string
	db        *sql.DB
	fake      *telegramfake.Server
	serverEnv map[string]string
	main      *server
	token     string
	email     string
	password  string

	hc      *http.Client // webhooks and GraphQL pages: one keep-alive connection per caller
	pg      string       // the cluster's version
	seeds   seeds
	probes  map[string]*probe
	results *results

	neverIdle bool // the server stays busy with no load (see quiesce)
	// bin is the server binary started: bin/switchboard, or -against's
	// while its turn runs.
	bin string
}

func main() {
	log.SetFlags(log.Ltime)
	log.SetPrefix("bench: ")
	cfg := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := run(ctx, cfg)
	stopAll()
	if err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, cfg config) error {
	root, err := checkout()
	if err != nil {
		return err
	}
	if !filepath.IsAbs(cfg.out) {
		cfg.out = filepath.Join(root, cfg.out)
	}
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return err
	}
	// Logs are per bench: the last one's are kept until the next starts.
	for _, name := range []string{"server.log", "probe-receiver.log", "probe-broadcaster.log", "probe-inbox.log", "pgbench.log"} {
		_ = os.Remove(filepath.Join(cfg.out, name))
	}
	raiseFileLimit()
	b := &bench{cfg: cfg, root: root, probes: map[string]*probe{}, results: newResults(), hc: loadgen.NewHTTPClient(1024)}
	// With -against, each phase runs with one binary and then the other, so
	// that both meet the same minutes of a shared machine; B's figures are
	// kept under their own keys.
	bins := []string{filepath.Join(root, "bin", "switchboard")}
	if cfg.against != "" {
		bins = append(bins, cfg.against)
	}
	b.bin = bins[0]
	started := time.Now()
	if cfg.build {
		if err := b.buildAll(); err != nil {
			return err
		}
	}
	if err := b.setup(ctx); err != nil {
		return err
	}
	for run := 1; run <= cfg.runs; run++ {
		for _, s := range scenarios {
			if !cfg.wants(s) || ctx.Err() != nil {
				continue
			}
			// A then B on odd runs, B then A on even ones: what a phase
			// leaves behind (a warmer cache, vacuum's work) favours or
			// burdens whichever runs second.
			order := []int{0, 1}[:len(bins)]
			if run%2 == 0 {
				slices.Reverse(order)
			}
			for _, i := range order {
				bin := bins[i]
				if bin != b.bin && b.main != nil {
					b.main.stop(30 * time.Second)
					b.main = nil
				}
				b.bin, b.results.prefix = bin, against(i)
				log.Printf("run %d/%d: %s%s", run, cfg.runs, s, map[bool]string{true: " (-against)"}[i > 0])
				if err := b.ensureMain(ctx); err != nil {
					return err
				}
				b.quiesce(ctx)
				t := time.Now()
				err := b.scenario(ctx, s, run)
				log.Printf("run %d/%d: %s took %s", run, cfg.runs, s, time.Since(t).Round(100*time.Millisecond))
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					log.Printf("run %d: %s failed: %v", run, s, err)
					b.results.note(s, fmt.Sprintf("run %d failed%s: %v", run, map[bool]string{true: " (-against)"}[i > 0], err))
				}
			}
		}
	}
	b.results.prefix = ""
	if ctx.Err() != nil {
		return ctx.Err()
	}
	b.checkLogs()
	table := b.results.table(b.cfg, b.pg, started, time.Since(started))
	if cfg.against != "" {
		table += b.results.comparison(b.cfg)
	}
	fmt.Print(table)
	path := filepath.Join(cfg.out, "table-"+started.UTC().Format("20060102-150405")+".md")
	if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
		return err
	}
	log.Printf("table written to %s", path)
	return nil
}

func (b *bench) scenario(ctx context.Context, name string, run int) error {
	switch name {
	case "ack":
		return b.ack(ctx, run)
	case "p99":
		return b.p99(ctx, run)
	case "drain":
		return b.drain(ctx, run)
	case "live":
		return b.live(ctx, run)
	case "fanout":
		return b.fanout(ctx, run)
	case "inbox":
		return b.inbox(ctx, run)
	case "outbound":
		return b.outbound(ctx, run)
	case "realistic":
		return b.realistic(ctx, run)
	case "memory":
		return b.memory(ctx, run)
	case "pgbench":
		return b.pgbench(ctx, run)
	}
	return fmt.Errorf("no scenario %q", name)
}

// checkout finds the repository root: the bench runs from it (make), but
// `go run ./bench` from a subdirectory should work too.
func checkout() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the bench from the Switchboard checkout")
	}
	return filepath.Dir(mod), nil
}

// raiseFileLimit lifts the soft limit on open files to the hard one. Ten
// thousand subscribers need as many sockets in the server and in the load
// generator. Go raises its own soft limit at start but lowers it again for
// the processes it starts, unless the program set it itself, as here.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	lim.Cur = lim.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// buildAll builds the server and every probe there is into bin/.
func (b *bench) buildAll() error {
	build := func(out, pkg string) error {
		log.Printf("go build -o %s %s", out, pkg)
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = b.root
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return cmd.Run()
	}
	if err := build("bin/switchboard", "."); err != nil {
		return err
	}
	if !b.cfg.probes {
		return nil
	}
	for _, name := range []string{"receiver", "broadcaster", "inbox"} {
		dir := filepath.Join(b.root, "bench", "probe", name)
		if files, _ := filepath.Glob(filepath.Join(dir, "*.go")); !slices.ContainsFunc(files, func(f string) bool { return !strings.HasSuffix(f, "_test.go") }) {
			log.Printf("probe %s is missing (bench/probe/%s): its column stays empty", name, name)
			continue
		}
		if err := build("bin/probe-"+name, "./bench/probe/"+name); err != nil {
			log.Printf("probe %s does not build: its column stays empty", name)
			_ = os.Remove(filepath.Join(b.root, "bin", "probe-"+name))
		}
	}
	return nil
}

// ensureMain restarts the main server if it died, so one crash costs one
// scenario rather than the rest of the bench.
func (b *bench) ensureMain(ctx context.Context) error {
	if b.main != nil && !b.main.exited() {
		return nil
	}
	if b.main != nil {
		log.Printf("the server had exited (%v); starting it again", b.main.err)
		b.results.note("server", fmt.Sprintf("the server exited during the bench (%v); see %s", b.main.err, filepath.Join(b.cfg.out, "server.log")))
	}
	s, err := b.startServer(ctx, "main", nil)
	if err != nil {
		return err
	}
	b.main = s
	return nil
}

// restartMain replaces the main server with a fresh process.
func (b *bench) restartMain(ctx context.Context, extra map[string]string) error {
	b.main.stop(30 * time.Second)
	s, err := b.startServer(ctx, "main", extra)
	if err != nil {
		return err
	}
	b.main = s
	return nil
}

// probe returns the named limit probe, starting it on first use; nil (and
// no error) when probes are off.
func (b *bench) probe(ctx context.Context, name string, args ...string) (*probe, error) {
	if !b.cfg.probes {
		return nil, nil
	}
	b.quiesce(ctx)
	if p := b.probes[name]; p != nil && !p.exited() {
		return p, nil
	}
	p, err := b.startProbe(name, args...)
	if err != nil {
		return nil, err
	}
	b.probes[name] = p
	return p, nil
}

// results are every figure's value per run.
type results struct {
	values map[string]map[int]float64 // by figure key, then run
	notes  map[string][]string        // by scenario
	prefix string                     // put before the keys added (-against's turn)
}

// against is the key prefix of the figures of the i-th binary compared.
func against(i int) string {
	if i == 0 {
		return ""
	}
	return "against:"
}

func newResults() *results {
	return &results{values: map[string]map[int]float64{}, notes: map[string][]string{}}
}

func (r *results) add(key string, run int, v float64) {
	key = r.prefix + key
	if r.values[key] == nil {
		r.values[key] = map[int]float64{}
	}
	r.values[key][run] = v
}

// list is a figure's values in run order.
func (r *results) list(key string) []float64 {
	var out []float64
	for _, run := range slices.Sorted(maps.Keys(r.values[key])) {
		out = append(out, r.values[key][run])
	}
	return out
}

// ratios are the figure over its probe's, run by run: the two were measured
// minutes apart under the same conditions, which makes the ratio steadier
// than either figure on a shared machine.
func (r *results) ratios(key, probe string) []float64 {
	var out []float64
	for run, v := range r.values[key] {
		if p, ok := r.values[probe][run]; ok && p != 0 {
			out = append(out, v/p)
		}
	}
	return out
}

func (r *results) note(scenario, text string) {
	if !slices.Contains(r.notes[scenario], text) {
		r.notes[scenario] = append(r.notes[scenario], text)
	}
}

// row is one line of the table.
type row struct {
	scenario string
	label    string
	key      string // the server's figure
	probe    string // the probe's figure ("" for none)
	unit     string
	target   string
}

func rows(c config) []row {
	n := func(v float64) string { return thousands(v) }
	return []row{
		{"ack", fmt.Sprintf("webhook ack, flat out (%d senders)", c.senders), "ack.rate", "ack.probe.rate", "/s", "≥ 0.9× the probe"},
		{"p99", fmt.Sprintf("ack p50 at %s webhooks/s", n(c.rate)), "p99.p50", "p99.probe.p50", "ms", ""},
		{"p99", fmt.Sprintf("ack p99 at %s webhooks/s", n(c.rate)), "p99.p99", "p99.probe.p99", "ms", "≤ 1.2× the probe"},
		{"p99", fmt.Sprintf("ack p99 at %s webhooks/s, a replica that only journals (INGEST_WORKERS=0)", n(c.rate)), "p99.journal.p99", "p99.probe.p99", "ms", ""},
		{"ack", "processing while ingesting flat out", "ack.processed", "", "msg/s", "keeps pace"},
		{"drain", fmt.Sprintf("webhook ack, flat out, a replica that only journals (INGEST_WORKERS=0; %d senders)", c.senders), "drain.ack", "ack.probe.rate", "/s", ""},
		{"p99", fmt.Sprintf("backlog right after %s at %s/s", c.dur, n(c.rate)), "p99.backlog", "", "rows", "≤ 2,000"},
		{"drain", fmt.Sprintf("processing alone (draining %s journaled webhooks)", n(float64(c.drainN))), "drain.rate", "", "msg/s", "≥ 4,000"},
		{"live", fmt.Sprintf("webhook → subscriber p50, %d subscribers, %s msg/s", c.liveSubs, n(c.liveRate)), "live.p50", "", "ms", ""},
		{"live", fmt.Sprintf("webhook → subscriber p99, %d subscribers, %s msg/s", c.liveSubs, n(c.liveRate)), "live.p99", "", "ms", "≤ 50 ms"},
		{"fanout", fmt.Sprintf("webhook → subscriber p50, one campaign, %s subscribers, %s msg/s", n(float64(c.fanSubs)), n(c.fanRate)), "fanout.p50", "fanout.probe.p50", "ms", ""},
		{"fanout", fmt.Sprintf("webhook → subscriber p99, one campaign, %s subscribers, %s msg/s", n(float64(c.fanSubs)), n(c.fanRate)), "fanout.p99", "fanout.probe.p99", "ms", "≤ 1.5× the probe"},
		{"inbox", fmt.Sprintf("inbox page (50 conversations + contact + connection + last message + totalCount), %d clients", c.inboxConc), "inbox.rate", "inbox.probe.rate", "req/s", "≥ 0.7× the probe"},
		{"inbox", "inbox page p99", "inbox.p99", "inbox.probe.p99", "ms", ""},
		{"inbox", "SQL statements per inbox page (authentication included; the probe runs 6)", "inbox.statements", "", "", "≤ 7"},
		{"memory", fmt.Sprintf("memory per idle subscriber (%s sockets, one messageAdded each)", n(float64(c.sockets))), "memory.kb", "", "KB", "≤ 30 KB at 10,000 sockets"},
		{"memory", "server RSS before the sockets", "memory.rss0", "", "MB", ""},
		{"memory", fmt.Sprintf("server RSS with %s sockets", n(float64(c.sockets))), "memory.rss1", "", "MB", ""},
		{"realistic", fmt.Sprintf("realistic: %s subscribers over %d campaigns, %s msg/s, 1 replica, p50", n(float64(c.realSubs)), c.realCamps, n(c.realRate)), "real1.p50", "", "ms", ""},
		{"realistic", "realistic, 1 replica, p99", "real1.p99", "", "ms", ""},
		{"realistic", "realistic, 2 replicas on one database, p50", "real2.p50", "", "ms", ""},
		{"realistic", "realistic, 2 replicas on one database, p99", "real2.p99", "", "ms", ""},
		{"outbound", fmt.Sprintf("outbound: sendMessage → delivered to the Telegram fake, %d callers each awaiting delivery", c.outConc), "outbound.rate", "", "msg/s", ""},
		{"outbound", "outbound: sendMessage → delivered, p99", "outbound.p99", "", "ms", ""},
		{"pgbench", fmt.Sprintf("pgbench: one-row insert per transaction, %d clients (reference)", c.pgClients), "pgbench.tps", "", "tps", ""},
	}
}

// table renders the results as a Markdown table, ready for PERFORMANCE.md.
func (r *results) table(c config, pg string, started time.Time, took time.Duration) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n`make bench`, %s UTC, %s, %s, PostgreSQL %s; %d run(s) of %s load phases, took %s.\n\n",
		started.UTC().Format("2006-01-02 15:04"), machine(), runtime.Version(), pg, c.runs, c.dur, took.Round(time.Second))
	if args := os.Args[1:]; len(args) > 0 {
		fmt.Fprintf(&sb, "Flags: `%s`.\n\n", strings.Join(args, " "))
	}
	sb.WriteString("| figure | Switchboard: median (min–max) | limit probe, same run | ratio to the probe | target |\n")
	sb.WriteString("|---|---|---|---|---|\n")
	for _, rw := range rows(c) {
		if !c.wants(rw.scenario) {
			continue
		}
		vals := r.list(rw.key)
		probeCol, ratioCol := "—", "—"
		if rw.probe != "" {
			probeCol = cell(r.list(rw.probe), rw.unit)
			if s := loadgen.Summarize(r.ratios(rw.key, rw.probe)); s.N > 0 {
				ratioCol = fmt.Sprintf("%.2f×", s.Median)
				if s.N > 1 {
					ratioCol += fmt.Sprintf(" (%.2f–%.2f)", s.Min, s.Max)
				}
			}
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s |\n", rw.label, cell(vals, rw.unit), probeCol, ratioCol, rw.target)
	}
	var notes []string
	for _, s := range append(slices.Clone(scenarios), "server") {
		for _, n := range r.notes[s] {
			notes = append(notes, fmt.Sprintf("- %s: %s", s, n))
		}
	}
	if len(notes) > 0 {
		sb.WriteString("\nNotes:\n" + strings.Join(notes, "\n") + "\n")
	}
	return sb.String()
}

// comparison renders -against's table: each figure with bin/switchboard
// (A) and with the other binary (B), and B over A run by run: the two ran
// minutes apart in the same run, so that ratio is what to judge a change by.
func (r *results) comparison(c config) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nA is bin/switchboard, B is %s; each phase ran with A then B on odd runs, B then A on even ones.\n\n", c.against)
	sb.WriteString("| figure | A: median (min–max) | B: median (min–max) | B / A, run by run |\n|---|---|---|---|\n")
	for _, rw := range rows(c) {
		if !c.wants(rw.scenario) {
			continue
		}
		ratio := "—"
		if s := loadgen.Summarize(r.ratios(against(1)+rw.key, rw.key)); s.N > 0 {
			ratio = fmt.Sprintf("%.2f×", s.Median)
			if s.N > 1 {
				ratio += fmt.Sprintf(" (%.2f–%.2f)", s.Min, s.Max)
			}
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s |\n", rw.label, cell(r.list(rw.key), rw.unit), cell(r.list(against(1)+rw.key), rw.unit), ratio)
	}
	return sb.String()
}

// cell is "median unit (min–max)", or "n/a" when nothing was measured.
func cell(vals []float64, unit string) string {
	s := loadgen.Summarize(vals)
	if s.N == 0 {
		return "n/a"
	}
	u := unit
	if u != "" && u != "/s" {
		u = " " + u
	}
	out := num(s.Median) + u
	if s.N > 1 {
		out += " (" + num(s.Min) + "–" + num(s.Max) + ")"
	}
	return out
}

// num prints a figure with the precision it deserves: latencies under
// 10 ms to a tenth, everything else whole, with thousands separators.
func num(v float64) string {
	if math.Abs(v) < 10 && v != math.Trunc(v) {
		return fmt.Sprintf("%.1f", v)
	}
	return thousands(v)
}

func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// checkLogs notes the errors the servers logged and the journal rows that
// failed: a figure measured while requests or events failed is not the
// figure it claims to be.
func (b *bench) checkLogs() {
	raw, err := os.ReadFile(filepath.Join(b.cfg.out, "server.log"))
	if err == nil {
		if n := strings.Count(string(raw), `"level":"ERROR"`); n > 0 {
			b.results.note("server", fmt.Sprintf("the servers logged %d errors (grep ERROR %s)", n, filepath.Join(b.cfg.out, "server.log")))
		}
	}
	var failed int64
	if b.db.QueryRow(`SELECT count(*) FROM webhook_events WHERE failed_at IS NOT NULL`).Scan(&failed) == nil && failed > 0 {
		b.results.note("server", fmt.Sprintf("%d journal rows failed processing", failed))
	}
}

// quiesce waits (up to 10 s) until the server uses less than a tenth of a
// core, so that a phase, and above all a limit probe measured right after the
// server, does not share the machine with work the server still finishes
// from the phase before. A server that stays busy with nothing to do cannot
// be waited out: that is noted once (every figure, the probes' included, was
// measured beside it) and not waited for again.
func (b *bench) quiesce(ctx context.Context) {
	if b.main == nil || b.main.exited() || b.neverIdle {
		return
	}
	start := time.Now()
	prev, err := cpuTicks(b.main.pid())
	if err != nil {
		return
	}
	var busy int64
	for ctx.Err() == nil {
		time.Sleep(500 * time.Millisecond)
		now, err := cpuTicks(b.main.pid())
		if err != nil {
			return
		}
		// Clock ticks are 1/100 s: 5 ticks in half a second is 10% of a core.
		if busy = now - prev; busy < 5 {
			return
		}
		prev = now
		if time.Since(start) > 10*time.Second {
			b.neverIdle = true
			msg := fmt.Sprintf("the server never went idle between phases: it used %d%% of a core with no load, so every figure, the probes' included, was measured beside that", busy*2)
			log.Print(msg)
			b.results.note("server", msg)
			return
		}
	}
}
