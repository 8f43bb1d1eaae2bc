package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/switchboard-chat/switchboard/graph"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform/telegram/telegramtest"
)

// startSandbox runs `switchboard sandbox` as a child process and returns
// it with what it printed up to the end of its instructions.
func (e *e2e) startSandbox() (*exec.Cmd, string) {
	e.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SWITCHBOARD_TEST_CHILD=1", "SWITCHBOARD_TEST_ARGS=sandbox")
	for k, v := range e.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var printed strings.Builder
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		printed.WriteString(lines.Text() + "\n")
		if strings.HasPrefix(lines.Text(), "Spare accounts") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	if !strings.Contains(printed.String(), "Spare accounts") {
		e.t.Fatalf("the sandbox did not say what to do; it printed:\n%s", printed.String())
	}
	return cmd, printed.String()
}

var simulateLine = regexp.MustCompile(`make simulate ARGS='(\w+) --connection (\S+) `)

// The sandbox a frontend developer starts with no platform account: a
// demo campaign with one connection per platform that receives what the
// simulator posts, with the customer's name, and sends replies, all
// offline; a restart finds the same connections working.
func TestSandboxWorksOffline(t *testing.T) {
	e := newE2E(t, telegramtest.NewServer(t))
	delete(e.env, "TELEGRAM_API_URL") // the sandbox points every platform at its fakes
	e.env["PUBLIC_URL"] = "http://" + e.addr
	e.env["DATABASE_URL"] = dbtest.Empty(t) // the package's database has other tests' real connections
	cmd, printed := e.startSandbox()
	conns := map[string]string{}
	for _, m := range simulateLine.FindAllStringSubmatch(printed, -1) {
		conns[m[1]] = m[2]
	}
	token := regexp.MustCompile(`export TOKEN=(\S+)`).FindStringSubmatch(printed)
	if len(conns) != 4 || token == nil {
		t.Fatalf("want a connection per platform and a token; printed:\n%s", printed)
	}
	// The GraphiQL link's subscription is one the schema takes.
	link := regexp.MustCompile(`(?m)^  (http://\S+/\?\S+)$`).FindStringSubmatch(printed)
	if link == nil {
		t.Fatalf("no GraphiQL link; printed:\n%s", printed)
	}
	u, err := url.Parse(link[1])
	if err != nil {
		t.Fatal(err)
	}
	schema := gqlparser.MustLoadSchema(&ast.Source{Name: "schema.graphql", Input: graph.SDL()})
	if _, errs := gqlparser.LoadQueryWithRules(schema, u.Query().Get("query"), nil); errs != nil {
		t.Fatalf("the link's operation does not validate: %v", errs)
	}
	if !strings.Contains(u.Query().Get("headers"), "Bearer "+token[1]) {
		t.Fatalf("the link's headers do not carry the token: %s", u.Query().Get("headers"))
	}
	for k, v := range e.env {
		t.Setenv(k, v)
	}
	simulate := func(p, text string) {
		t.Helper()
		if err := run(context.Background(), io.Discard, []string{"simulate", p, "--connection", conns[p], "--from", "Lan", "--text", text}); err != nil {
			t.Fatalf("simulate %s: %v", p, err)
		}
	}
	const inbox = `{ conversations(first: 10) { edges { node { id connection { id } contact { name }
		messages(last: 1) { edges { node { text direction status } } } } } } }`
	// last is each connection's conversation with its newest message.
	last := func() map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, edge := range testkit.Pick(e.gql(token[1], inbox, nil), "conversations", "edges").([]any) {
			n := testkit.Pick(edge, "node")
			msgs := testkit.Pick(n, "messages", "edges").([]any)
			if len(msgs) == 0 {
				continue
			}
			out[testkit.Pick(n, "connection", "id").(string)] = map[string]any{"id": testkit.Pick(n, "id"),
				"name": testkit.Pick(n, "contact", "name"), "message": testkit.Pick(msgs[0], "node")}
		}
		return out
	}
	for p := range conns {
		simulate(p, "Xin chào từ "+p)
	}
	testkit.Eventually(t, "every platform's message in the inbox, with the customer's name", func() bool {
		got := last()
		for p, id := range conns {
			c := got[id]
			if c == nil || c["name"] == "" || testkit.Pick(c["message"], "text") != "Xin chào từ "+p {
				return false
			}
		}
		return true
	})
	reply := func(conv any, text string) {
		e.gql(token[1], `mutation($c: ID!, $t: String!) { sendMessage(input: {conversationID: $c, text: $t, clientMessageID: $t}) { id } }`,
			map[string]any{"c": conv, "t": text})
	}
	for _, c := range last() {
		reply(c["id"], "Chào bạn "+c["id"].(string))
	}
	sent := func(ids ...string) bool {
		got := last()
		for _, id := range ids {
			m := got[id]["message"]
			if testkit.Pick(m, "direction") != "OUTBOUND" || testkit.Pick(m, "status") != "SENT" {
				return false
			}
		}
		return true
	}
	testkit.Eventually(t, "every reply SENT through the platform fakes", func() bool {
		return sent(conns["telegram"], conns["facebook"], conns["whatsapp"], conns["zalo"])
	})

	// The fakes forget everything with the process; the next start hands
	// them the same connections (Zalo with a fresh token pair).
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	_, again := e.startSandbox()
	for p, id := range conns {
		if !strings.Contains(again, "'"+p+" --connection "+id+" ") {
			t.Fatalf("after a restart the demo's %s connection is not %s; printed:\n%s", p, id, again)
		}
	}
	token = regexp.MustCompile(`export TOKEN=(\S+)`).FindStringSubmatch(again)
	simulate("zalo", "Lại là tôi")
	testkit.Eventually(t, "the Zalo message after the restart", func() bool {
		return testkit.Pick(last()[conns["zalo"]]["message"], "text") == "Lại là tôi"
	})
	reply(last()[conns["zalo"]]["id"], "Chào lại")
	testkit.Eventually(t, "the Zalo reply SENT after the restart", func() bool { return sent(conns["zalo"]) })
}

// A database with connections of real accounts is not the sandbox's: their
// checks against the fakes would leave them in ERROR.
func TestSandboxLeavesRealConnectionsAlone(t *testing.T) {
	tg := telegramtest.NewServer(t)
	e := newE2E(t, tg)
	e.env["DATABASE_URL"] = dbtest.Empty(t)
	e.startInProcess()
	_, connID, _ := e.connectBot(tg, botID())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ADDR", ln.Addr().String())
	ln.Close()
	// Refused, it ends at once; started, it would serve until the deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = run(ctx, io.Discard, []string{"sandbox"})
	if err == nil || !strings.Contains(err.Error(), connID) || !strings.Contains(err.Error(), "database of its own") {
		t.Fatalf("switchboard sandbox beside a real connection: %v", err)
	}
	token := testkit.Pick(e.gql("", `mutation { login(email: "first@example.com", password: "first password") { token } }`, nil), "login", "token").(string)
	if st := testkit.Pick(e.gql(token, `query($id: ID!) { node(id: $id) { ... on Connection { status } } }`, map[string]any{"id": connID}), "node", "status"); st != "ACTIVE" {
		t.Fatalf("the real connection is %v after the refused sandbox", st)
	}
}

// The sandbox's secrets are public: production refuses it.
func TestSandboxRefusedInProduction(t *testing.T) {
	e := newE2E(t, telegramtest.NewServer(t))
	e.env["ENV"] = "production"
	for k, v := range e.env {
		t.Setenv(k, v)
	}
	err := run(context.Background(), io.Discard, []string{"sandbox"})
	if err == nil || !strings.Contains(err.Error(), "ENV=production") {
		t.Fatalf("switchboard sandbox with ENV=production: %v", err)
	}
}
