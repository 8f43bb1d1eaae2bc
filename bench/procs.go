package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process: the server, a replica, or a limit probe. Its
// output goes to a log file under the output directory, never to the
// terminal, so the table stays readable.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error // set before done closes
}

// procs are every child still running, so that an interrupted bench leaves
// nothing behind.
var procs struct {
	sync.Mutex
	live map[*proc]bool
}

func startProc(name, logPath string, env []string, lines func(string), bin string, args ...string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logf, "\n=== %s: %s %s (%s)\n", time.Now().Format(time.RFC3339), bin, strings.Join(args, " "), name)
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stderr = logf
	var stdout io.ReadCloser
	if lines != nil {
		if stdout, err = cmd.StdoutPipe(); err != nil {
			logf.Close()
			return nil, err
		}
	} else {
		cmd.Stdout = logf
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logf, done: make(chan struct{})}
	procs.Lock()
	if procs.live == nil {
		procs.live = map[*proc]bool{}
	}
	procs.live[p] = true
	procs.Unlock()
	copied := make(chan struct{})
	if stdout != nil {
		// The probes announce their address on stdout; every line also goes
		// to the log.
		go func() {
			defer close(copied)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				fmt.Fprintln(logf, sc.Text())
				lines(sc.Text())
			}
		}()
	} else {
		close(copied)
	}
	go func() {
		<-copied
		p.err = cmd.Wait()
		procs.Lock()
		delete(procs.live, p)
		procs.Unlock()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM (the server drains and exits within SHUTDOWN_TIMEOUT)
// and kills the process if it is still there after timeout.
func (p *proc) stop(timeout time.Duration) {
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// stopAll ends every child still running (an interrupted or failed bench).
func stopAll() {
	procs.Lock()
	var list []*proc
	for p := range procs.live {
		list = append(list, p)
	}
	procs.Unlock()
	var wg sync.WaitGroup
	for _, p := range list {
		wg.Go(func() { p.stop(5 * time.Second) })
	}
	wg.Wait()
}

// rssKB is the process's resident set (VmRSS) in KB.
func rssKB(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// freeAddr returns a 127.0.0.1 address with a port nobody listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// baseEnv is what every child inherits from us: enough to run, and none of
// the developer's Switchboard settings, so that the server runs with its
// defaults except where a scenario says otherwise.
func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// server is one Switchboard process.
type server struct {
	*proc
	addr string // 127.0.0.1:port
}

func (s *server) url() string    { return "http://" + s.addr }
func (s *server) gqlURL() string { return "http://" + s.addr + "/graphql" }
func (s *server) wsURL() string  { return "ws://" + s.addr + "/graphql" }

// startServer starts b.bin (bin/switchboard) with the bench's environment plus
// extra, and waits until /readyz says it is serving on a migrated database.
func (b *bench) startServer(ctx context.Context, name string, extra map[string]string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	env := baseEnv()
	vars := map[string]string{}
	for k, v := range b.serverEnv {
		vars[k] = v
	}
	for k, v := range extra {
		vars[k] = v
	}
	vars["ADDR"] = addr
	// A second listener with /debug/pprof, so a developer can profile the
	// server while a phase runs (its address is in server.log); it changes
	// nothing else.
	if admin, err := freeAddr(); err == nil {
		vars["ADMIN_ADDR"] = admin
	}
	if _, ok := vars["PUBLIC_URL"]; !ok {
		// The first server's URL is everyone's: replicas behind one address,
		// as the webhooks registered with the platform name it.
		vars["PUBLIC_URL"] = "http://" + addr
		b.serverEnv["PUBLIC_URL"] = vars["PUBLIC_URL"]
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	p, err := startProc(name, filepath.Join(b.cfg.out, "server.log"), env, nil, b.bin)
	if err != nil {
		return nil, err
	}
	s := &server{proc: p, addr: addr}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if p.exited() {
			return nil, fmt.Errorf("%s exited at start (%v): see %s", name, p.err, filepath.Join(b.cfg.out, "server.log"))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url()+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				fmt.Fprintf(p.log, "=== %s serving on %s, pprof on http://%s/debug/pprof/\n", name, addr, vars["ADMIN_ADDR"])
				return s, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.stop(5 * time.Second)
			return nil, fmt.Errorf("%s not ready within 60s", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// probe is one limit probe (bench/probe/<name>) serving at addr.
type probe struct {
	*proc
	addr string
}

var listening = regexp.MustCompile(`listening on (\S+)`)

// startProbe runs bin/probe-<name> with -addr and args and waits for its
// "listening on <addr>" line.
func (b *bench) startProbe(name string, args ...string) (*probe, error) {
	bin := filepath.Join(b.root, "bin", "probe-"+name)
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("probe %s was not built (is bench/probe/%s there?)", name, name)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	ready := make(chan string, 1)
	p, err := startProc("probe-"+name, filepath.Join(b.cfg.out, "probe-"+name+".log"), baseEnv(), func(line string) {
		if m := listening.FindStringSubmatch(line); m != nil {
			select {
			case ready <- m[1]:
			default:
			}
		}
	}, bin, append([]string{"-addr", addr}, args...)...)
	if err != nil {
		return nil, err
	}
	select {
	case <-ready:
		// The address it prints may be spelled differently ([::]:port);
		// we dial the one we gave it.
		return &probe{proc: p, addr: addr}, nil
	case <-p.done:
		return nil, fmt.Errorf("probe %s exited at start (%v): see %s", name, p.err, filepath.Join(b.cfg.out, "probe-"+name+".log"))
	case <-time.After(30 * time.Second):
		p.stop(5 * time.Second)
		return nil, fmt.Errorf("probe %s did not print 'listening on' within 30s", name)
	}
}

func (p *probe) url() string { return "http://" + p.addr }

// pgsh runs scripts/pg.sh, the project-local cluster `make run` uses.
func (b *bench) pgsh(extraEnv []string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(b.root, "scripts", "pg.sh"), args...)
	cmd.Env = append(os.Environ(), extraEnv...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/pg.sh %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// freshDatabase starts the cluster and drops and recreates name, returning
// its URL and an open handle.
func (b *bench) freshDatabase(name string) (string, *sql.DB, error) {
	if _, err := b.pgsh(nil, "start"); err != nil {
		return "", nil, err
	}
	if _, err := b.pgsh(nil, "dropdb", name); err != nil {
		return "", nil, err
	}
	if _, err := b.pgsh(nil, "createdb", name); err != nil {
		return "", nil, err
	}
	url, err := b.pgsh([]string{"PGDATABASE_NAME=" + name}, "url")
	if err != nil {
		return "", nil, err
	}
	db, err := sql.Open("postgres", url)
	if err != nil {
		return "", nil, err
	}
	db.SetMaxOpenConns(4)
	return url, db, db.Ping()
}

// findPgbench looks on PATH, then beside the cluster's server binaries.
func findPgbench() (string, error) {
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", errors.New("pgbench not found on PATH or in /usr/lib/postgresql/*/bin (Debian ships it with the server package scripts/pg.sh installs, postgresql-<version>)")
}

// randomSecret returns n random bytes in standard base64.
func randomSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// machine describes the host for the table's heading, from /proc.
func machine() string {
	cores, model := 0, ""
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(raw), "\n") {
			k, v, _ := strings.Cut(line, ":")
			switch strings.TrimSpace(k) {
			case "processor":
				cores++
			case "model name":
				if model == "" {
					model = strings.Join(strings.Fields(v), " ")
				}
			}
		}
	}
	mem := ""
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(raw), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				mem = fmt.Sprintf("%.1f GiB memory", float64(kb)/(1<<20))
			}
		}
	}
	s := fmt.Sprintf("%d cores", cores)
	if model != "" {
		s += " (" + model + ")"
	}
	if mem != "" {
		s += ", " + mem
	}
	return s
}

// cpuTicks is the process's user+system CPU time in clock ticks
// (/proc/<pid>/stat fields 14 and 15, after the command's parentheses).
func cpuTicks(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(raw), ')')
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s, nil
}
