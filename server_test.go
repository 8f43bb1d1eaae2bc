package main

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-chat/switchboard/app"
	"github.com/switchboard-chat/switchboard/config"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
	"github.com/switchboard-chat/switchboard/internal/testkit"
)

func TestMain(m *testing.M) {
	// The test binary doubles as a server process for the crash test.
	if os.Getenv("SWITCHBOARD_TEST_CHILD") == "1" {
		os.Exit(cli(strings.Fields(os.Getenv("SWITCHBOARD_TEST_ARGS")), os.Stderr))
	}
	dbtest.Main(m)
}

func testConfig(t *testing.T, extra map[string]string) *config.Config {
	t.Helper()
	vals := map[string]string{
		"DATABASE_URL":   dbtest.URL(t),
		"JWT_SECRET":     strings.Repeat("j", 40),
		"ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(make([]byte, 32)),
	}
	for k, v := range extra {
		vals[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vals[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestHealthAndReadiness(t *testing.T) {
	cfg := testConfig(t, nil)
	db := dbtest.Open(t)
	a, err := app.New(cfg, db, testkit.Logger(nil), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()

	check := func(path string, want int, body string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want || !strings.Contains(string(b), body) || resp.Header.Get("X-Request-ID") == "" {
			t.Fatalf("GET %s = %d %s, want %d containing %q and a request id", path, resp.StatusCode, b, want, body)
		}
	}
	check("/healthz", 200, `"ok"`)
	check("/readyz", 200, `"ready"`)

	// A database that is reachable but not migrated is not ready.
	// Without its migration record the database counts as not migrated.
	if _, err := db.Exec("ALTER TABLE schema_migrations RENAME TO schema_migrations_hidden"); err != nil {
		t.Fatal(err)
	}
	check("/readyz", 503, "not migrated")
	if _, err := db.Exec("ALTER TABLE schema_migrations_hidden RENAME TO schema_migrations"); err != nil {
		t.Fatal(err)
	}
	check("/readyz", 200, `"ready"`)
}

// ALLOWED_ORIGINS: listed browser origins may open websockets, others not;
// clients without an Origin header are accepted (their token authenticates).
func TestWebsocketOrigins(t *testing.T) {
	cfg := testConfig(t, map[string]string{"ALLOWED_ORIGINS": "https://app.example.com"})
	a, err := app.New(cfg, dbtest.Open(t), testkit.Logger(nil), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/graphql"
	for origin, ok := range map[string]bool{"https://app.example.com": true, "https://evil.example.com": false, "": true} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		c, resp, err := (&websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}).Dial(url, h)
		if ok != (err == nil) {
			t.Fatalf("origin %q: err %v (status %v), want allowed=%v", origin, err, resp, ok)
		}
		if c != nil {
			c.Close()
		}
	}
}

// child runs the server as a separate process (this test binary) with the
// test configuration and extra, and returns it with its stderr.
func child(t *testing.T, extra map[string]string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SWITCHBOARD_TEST_CHILD=1",
		"DATABASE_URL="+dbtest.URL(t), "JWT_SECRET="+strings.Repeat("j", 40),
		"ENCRYPTION_KEY="+base64.StdEncoding.EncodeToString(make([]byte, 32)))
	for k, v := range extra {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr bytes.Buffer // read once the process is waited for
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, &stderr
}

// exited waits for the process to end; a hung process fails the test.
func exited(t *testing.T, cmd *exec.Cmd, stderr *bytes.Buffer) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode()
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("the server did not exit; it logged:\n%s", stderr.String())
		return 0
	}
}

// Every start-up failure ends the process, non-zero, with one error line
// that names the cause.
func TestStartupFailuresExit(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() })
	// A database in which the first migration cannot run: its table exists.
	broken := dbtest.Empty(t)
	if db, err := sql.Open("postgres", broken); err != nil {
		t.Fatal(err)
	} else if _, err := db.Exec(`CREATE TABLE campaigns (id int)`); err != nil {
		t.Fatal(err)
	} else {
		db.Close()
	}
	for _, tc := range []struct {
		name  string
		env   map[string]string
		cause string
	}{
		{"address in use", map[string]string{"ADDR": taken.Addr().String()}, "address already in use"},
		{"database unreachable", map[string]string{"DATABASE_URL": "postgres://postgres@127.0.0.1:1/none?sslmode=disable"}, "connecting to database"},
		{"migrations failing", map[string]string{"DATABASE_URL": broken, "ADDR": "127.0.0.1:0"}, "campaigns"},
		{"bad configuration", map[string]string{"JWT_SECRET": "short"}, "JWT_SECRET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd, stderr := child(t, tc.env)
			if code := exited(t, cmd, stderr); code != 1 {
				t.Fatalf("exit code %d, want 1; logged:\n%s", code, stderr.String())
			}
			var errs []string
			for _, line := range strings.Split(stderr.String(), "\n") {
				if strings.Contains(line, `"level":"ERROR"`) {
					errs = append(errs, line)
				}
			}
			if len(errs) != 1 || !strings.Contains(errs[0], tc.cause) {
				t.Fatalf("want one error line naming %q; logged:\n%s", tc.cause, stderr.String())
			}
		})
	}
}

// SIGTERM ends the server, also with a subscriber connected.
func TestSIGTERMEndsTheServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd, stderr := child(t, map[string]string{"ADDR": addr, "SHUTDOWN_TIMEOUT": "3s"})
	var ws *websocket.Conn
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ws, _, err = (&websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}).Dial("ws://"+addr+"/graphql", nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("the server did not start: %v\n%s", err, stderr.String())
		}
	}
	defer ws.Close()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := exited(t, cmd, stderr); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; logged:\n%s", code, stderr.String())
	}
}

// The operator's endpoints are served on ADMIN_ADDR only, never on the
// public listener.
func TestDebugEndpointsOnlyOnTheAdminListener(t *testing.T) {
	a, err := app.New(testConfig(t, nil), dbtest.Open(t), testkit.Logger(nil), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pub, admin := httptest.NewServer(a.Handler()), httptest.NewServer(a.AdminHandler())
	defer pub.Close()
	defer admin.Close()
	for _, tc := range []struct {
		url  string
		want int
	}{
		{pub.URL + "/debug/vars", 404}, {pub.URL + "/debug/pprof/", 404},
		{admin.URL + "/debug/vars", 200}, {admin.URL + "/debug/pprof/", 200},
	} {
		resp, err := http.Get(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("GET %s = %d, want %d", tc.url, resp.StatusCode, tc.want)
		}
	}
}

// ENV=production turns introspection and the playground off; an explicit
// INTROSPECTION wins.
func TestProductionHidesIntrospection(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want bool
	}{
		{nil, true},
		{map[string]string{"ENV": "production"}, false},
		{map[string]string{"ENV": "production", "INTROSPECTION": "true"}, true},
	} {
		a, err := app.New(testConfig(t, tc.env), dbtest.Open(t), testkit.Logger(nil), app.Options{})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(a.Handler())
		resp, err := http.Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if (resp.StatusCode == 200) != tc.want {
			t.Fatalf("%v: the playground answered %d", tc.env, resp.StatusCode)
		}
	}
}

// A client that sends its body too slowly is cut off after HTTP_READ_TIMEOUT.
func TestSlowBodyIsCutOff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd, stderr := child(t, map[string]string{"ADDR": addr, "HTTP_READ_TIMEOUT": "1s"})
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); exited(t, cmd, stderr) })
	var conn net.Conn
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if conn, err = net.Dial("tcp", addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // a guard: the server must act long before
	_, err = io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept a slow request's connection open")
	}
}

// `switchboard healthcheck` is the container's probe: it exits 0 only when
// the server on ADDR says it is ready, and needs no database or secrets.
func TestHealthcheckCommand(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	t.Setenv("DATABASE_URL", "")
	t.Setenv("JWT_SECRET", "")
	t.Setenv("ADDR", ":"+port)
	var out bytes.Buffer
	if code := cli([]string{"healthcheck"}, &out); code != 0 {
		t.Fatalf("ready server: exit %d, logged %s", code, out.String())
	}
	status = http.StatusServiceUnavailable
	out.Reset()
	if code := cli([]string{"healthcheck"}, &out); code != 1 || !strings.Contains(out.String(), "503") {
		t.Fatalf("unready server: exit %d, logged %s", code, out.String())
	}
}
