// Command inbox is the limit probe for the inbox page: the SQL statements the
// real server runs for the page, run with lib/pq and database/sql, encoded
// with encoding/json into the same response, and nothing else (no GraphQL
// parsing, validation, complexity limits, field resolution or privacy
// rules). `make bench` drives it with the same client code as the real
// server and reads the page's throughput as a ratio of it.
//
// The page is this GraphQL query (Query.conversations filters by campaign
// through where; the schema has no campaignID argument):
//
//	query($c: ID!) { conversations(first: 50, where: {campaignID: $c}) { totalCount
//	  edges { cursor node { id status unreadCount lastMessageAt
//	    contact { id name avatarURL platform } connection { id name platform }
//	    lastMessage { id text direction sentAt status } } }
//	  pageInfo { hasNextPage endCursor } } }
//
// For it the real server runs six statements, read from PostgreSQL's log
// (log_statement = 'all' on a scratch database; nothing else is sent) and
// from ent's debug driver, the same for any page size:
//
//  1. SELECT <the 14 columns of users> FROM "users" WHERE "users"."id" = $1 LIMIT 2
//     (authentication: the bearer token's user, accounts.Authenticate)
//  2. SELECT COUNT("conversations"."id") FROM "conversations" WHERE "conversations"."campaign_id" = $1 (totalCount)
//  3. SELECT "conversations"."id", "status", "unread_count", "last_message_at", "contact_id", "connection_id",
//     "last_message_id" FROM "conversations" WHERE "conversations"."campaign_id" = $1
//     ORDER BY "last_message_at" DESC, "id" DESC LIMIT 51 (the page, one more row to tell hasNextPage)
//  4. SELECT "connections"."id", "name", "platform" FROM "connections" WHERE "connections"."id" IN ($1, ...)
//  5. SELECT "contacts"."id", "name", "avatar_url", "platform" FROM "contacts" WHERE "contacts"."id" IN ($1, ...)
//  6. SELECT "messages"."id", "text", "direction", "sent_at", "status" FROM "messages" WHERE "messages"."id" IN ($1, ...)
//
// For a viewer who is not an administrator, the privacy rule adds to each of
// 2-6 the same filter, AND EXISTS (the row's campaign has the viewer as a
// member); the probe adds it too. The probe runs 1-3 with the server's text
// and 4-6 with "= ANY($1)" for the IN list (the planner treats both alike),
// all as prepared statements, which the server does not use: the point of a
// limit is what the same SQL costs at best. It also loads the edges of the
// 50 conversations shown rather than of the 51 rows read, as the server
// does, and skips an edge statement that has no ids to look up.
//
// The probe ignores the query text; it takes the campaign from variables.c.
// The viewer is -viewer when set, else the sub claim of the bearer token,
// read but NOT verified (the server's HMAC check costs microseconds).
//
//	inbox -addr 127.0.0.1:9103 -db postgres://... [-viewer usr_...]
package main

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lib/pq"

	"github.com/switchboard-chat/switchboard/bench/probe/probeserve"
)

// pageSize is the page's first: 50.
const pageSize = 50

func main() {
	addr := flag.String("addr", "", "listen address, host:port (required; port 0 is refused: the harness must know it)")
	dbURL := flag.String("db", "", "PostgreSQL URL of the server's database (required)")
	viewer := flag.String("viewer", "", "id of the user the page is read as (default: the sub claim of each request's bearer token, not verified)")
	flag.Parse()
	if err := run(*addr, *dbURL, *viewer); err != nil {
		fmt.Fprintln(os.Stderr, "inbox:", err)
		os.Exit(1)
	}
}

func run(addr, dbURL, viewer string) error {
	if err := probeserve.CheckAddr(addr); err != nil {
		return err
	}
	if dbURL == "" {
		return errors.New("-db is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	// The real server's pool (server.go).
	db.SetMaxOpenConns(40)
	db.SetMaxIdleConns(20)
	db.SetConnMaxIdleTime(5 * time.Minute)
	in, err := newInbox(ctx, db, viewer)
	if err != nil {
		return err
	}
	defer in.close()
	return probeserve.Serve(ctx, addr, in.handler(), nil)
}

// memberOf is the privacy rule's filter for a viewer who is not an
// administrator, exactly as ent writes it: the row's campaign has the viewer
// as a member. param is the viewer's placeholder.
func memberOf(table, param string) string {
	return ` AND EXISTS (SELECT "campaigns"."id" FROM "campaigns" WHERE "` + table + `"."campaign_id" = "campaigns"."id" AND EXISTS ` +
		`(SELECT "campaign_members"."campaign_id" FROM "campaign_members" WHERE "campaigns"."id" = "campaign_members"."campaign_id" AND "campaign_members"."user_id" = ` + param + `))`
}

// statements returns the probe's statement texts, by name; member adds
// the privacy filter (the viewer is then the last parameter, $2).
func statements(member bool) map[string]string {
	f := func(table string) string {
		if member {
			return memberOf(table, "$2")
		}
		return ""
	}
	return map[string]string{
		"user":  `SELECT "users"."id", "users"."created_at", "users"."updated_at", "users"."email", "users"."name", "users"."password_hash", "users"."role", "users"."deactivated_at", "users"."session_epoch", "users"."kept_session", "users"."softphone_domain", "users"."softphone_username", "users"."softphone_secret", "users"."access_version" FROM "users" WHERE "users"."id" = $1 LIMIT 2`,
		"count": `SELECT COUNT("conversations"."id") FROM "conversations" WHERE "conversations"."campaign_id" = $1` + f("conversations"),
		"page": `SELECT "conversations"."id", "conversations"."status", "conversations"."unread_count", "conversations"."last_message_at", "conversations"."contact_id", "conversations"."connection_id", "conversations"."last_message_id" FROM "conversations" WHERE "conversations"."campaign_id" = $1` +
			f("conversations") + ` ORDER BY "conversations"."last_message_at" DESC, "conversations"."id" DESC LIMIT ` + fmt.Sprint(pageSize+1),
		"connections": `SELECT "connections"."id", "connections"."name", "connections"."platform" FROM "connections" WHERE "connections"."id" = ANY($1)` + f("connections"),
		"contacts":    `SELECT "contacts"."id", "contacts"."name", "contacts"."avatar_url", "contacts"."platform" FROM "contacts" WHERE "contacts"."id" = ANY($1)` + f("contacts"),
		"messages":    `SELECT "messages"."id", "messages"."text", "messages"."direction", "messages"."sent_at", "messages"."status" FROM "messages" WHERE "messages"."id" = ANY($1)` + f("messages"),
	}
}

type inbox struct {
	db     *sql.DB
	viewer string
	// stmts[member][name]; "user" is the same in both.
	stmts [2]map[string]*sql.Stmt
	// count is how many statements have run (the test compares it with the server's).
	count atomic.Int64
}

func newInbox(ctx context.Context, db *sql.DB, viewer string) (*inbox, error) {
	in := &inbox{db: db, viewer: viewer}
	for m := range 2 {
		in.stmts[m] = map[string]*sql.Stmt{}
		for name, text := range statements(m == 1) {
			st, err := db.PrepareContext(ctx, text)
			if err != nil {
				in.close()
				return nil, fmt.Errorf("preparing %s: %w", name, err)
			}
			in.stmts[m][name] = st
		}
	}
	return in, nil
}

func (in *inbox) close() {
	for _, m := range in.stmts {
		for _, st := range m {
			st.Close()
		}
	}
}

func (in *inbox) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /graphql", in.page)
	return mux
}

// The response, in the query's field order (gqlgen writes fields in the
// order the query selects them).
type (
	response struct {
		Data struct {
			Conversations *connection `json:"conversations"`
		} `json:"data"`
	}
	connection struct {
		TotalCount int64    `json:"totalCount"`
		Edges      []edge   `json:"edges"`
		PageInfo   pageInfo `json:"pageInfo"`
	}
	edge struct {
		Cursor string `json:"cursor"`
		Node   node   `json:"node"`
	}
	pageInfo struct {
		HasNextPage bool    `json:"hasNextPage"`
		EndCursor   *string `json:"endCursor"`
	}
	node struct {
		ID            string       `json:"id"`
		Status        string       `json:"status"`
		UnreadCount   int64        `json:"unreadCount"`
		LastMessageAt string       `json:"lastMessageAt"`
		Contact       *contactNode `json:"contact"`
		Connection    *connNode    `json:"connection"`
		LastMessage   *messageNode `json:"lastMessage"`
	}
	contactNode struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		// avatar_url is nullable, but ent's field is a plain string: the
		// server answers "" for NULL, and so does the probe.
		AvatarURL string  `json:"avatarURL"`
		Platform  *string `json:"platform"`
	}
	connNode struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		Platform string `json:"platform"`
	}
	messageNode struct {
		ID        string `json:"id"`
		Text      string `json:"text"`
		Direction string `json:"direction"`
		SentAt    string `json:"sentAt"`
		Status    string `json:"status"`
	}
	gqlError struct {
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
		Data any `json:"data"`
	}
)

// request is the part of a GraphQL request the probe reads.
type request struct {
	Variables struct {
		C string `json:"c"`
	} `json:"variables"`
}

func (in *inbox) page(w http.ResponseWriter, r *http.Request) {
	var req request
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || req.Variables.C == "" {
		fail(w, http.StatusBadRequest, "want a JSON body with variables.c, the campaign id")
		return
	}
	viewer := in.viewer
	if viewer == "" {
		viewer = subject(r.Header.Get("Authorization"))
	}
	if viewer == "" {
		fail(w, http.StatusOK, "authentication required: send Authorization: Bearer <token> or start the probe with -viewer")
		return
	}
	conns, status, err := in.load(r.Context(), viewer, req.Variables.C)
	if err != nil {
		fail(w, status, err.Error())
		return
	}
	var resp response
	resp.Data.Conversations = conns
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	// gqlgen does not escape <, > and & in strings; neither does the probe.
	enc.SetEscapeHTML(false)
	_ = enc.Encode(&resp)
}

// load runs the statements. A failure is answered with the status returned.
func (in *inbox) load(ctx context.Context, viewer, campaign string) (*connection, int, error) {
	// 1. The viewer, as authentication loads it; its role picks the
	// privacy filter of the rest.
	var (
		u                     struct{ id, email, name, hash, role string }
		created, updated      time.Time
		deactivated           sql.NullTime
		epoch, access         int64
		kept, domain, sipUser sql.NullString
		sipSecret             []byte
	)
	st, member := in.stmts[0], false
	in.count.Add(1)
	err := st["user"].QueryRowContext(ctx, viewer).Scan(&u.id, &created, &updated, &u.email, &u.name, &u.hash, &u.role,
		&deactivated, &epoch, &kept, &domain, &sipUser, &sipSecret, &access)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, http.StatusOK, errors.New("the token's user no longer exists")
	case err != nil:
		return nil, http.StatusServiceUnavailable, err
	case deactivated.Valid:
		return nil, http.StatusOK, errors.New("the account was deactivated")
	}
	args := []any{campaign}
	if u.role != "ADMIN" {
		member, st = true, in.stmts[1]
		args = append(args, viewer)
	}

	// 2. totalCount.
	conns := &connection{Edges: []edge{}}
	in.count.Add(1)
	if err := st["count"].QueryRowContext(ctx, args...).Scan(&conns.TotalCount); err != nil {
		return nil, http.StatusServiceUnavailable, err
	}

	// 3. The page, and the ids of its edges.
	type row struct {
		node
		contactID, connectionID string
		lastMessageID           sql.NullString
		at                      time.Time
	}
	in.count.Add(1)
	rows, err := st["page"].QueryContext(ctx, args...)
	if err != nil {
		return nil, http.StatusServiceUnavailable, err
	}
	page := make([]row, 0, pageSize+1)
	for rows.Next() {
		var x row
		if err := rows.Scan(&x.ID, &x.Status, &x.UnreadCount, &x.at, &x.contactID, &x.connectionID, &x.lastMessageID); err != nil {
			rows.Close()
			return nil, http.StatusServiceUnavailable, err
		}
		page = append(page, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, http.StatusServiceUnavailable, err
	}
	if len(page) > pageSize {
		conns.PageInfo.HasNextPage = true
		page = page[:pageSize]
	}
	contacts := map[string]*contactNode{}
	connections := map[string]*connNode{}
	messages := map[string]*messageNode{}
	var contactIDs, connectionIDs, messageIDs []string
	for _, x := range page {
		if _, ok := contacts[x.contactID]; !ok {
			contacts[x.contactID] = nil
			contactIDs = append(contactIDs, x.contactID)
		}
		if _, ok := connections[x.connectionID]; !ok {
			connections[x.connectionID] = nil
			connectionIDs = append(connectionIDs, x.connectionID)
		}
		if _, ok := messages[x.lastMessageID.String]; x.lastMessageID.Valid && !ok {
			messages[x.lastMessageID.String] = nil
			messageIDs = append(messageIDs, x.lastMessageID.String)
		}
	}

	// 4-6. The edges, one statement each.
	edgeArgs := func(ids []string) []any {
		if member {
			return []any{pq.StringArray(ids), viewer}
		}
		return []any{pq.StringArray(ids)}
	}
	query := func(name string, ids []string, scan func(*sql.Rows) error) error {
		if len(ids) == 0 {
			return nil
		}
		in.count.Add(1)
		rows, err := st[name].QueryContext(ctx, edgeArgs(ids)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	err = query("connections", connectionIDs, func(rs *sql.Rows) error {
		c := &connNode{}
		err := rs.Scan(&c.ID, &c.Name, &c.Platform)
		connections[c.ID] = c
		return err
	})
	if err == nil {
		err = query("contacts", contactIDs, func(rs *sql.Rows) error {
			c := &contactNode{}
			var avatar, platform sql.NullString
			err := rs.Scan(&c.ID, &c.Name, &avatar, &platform)
			c.AvatarURL = avatar.String
			if platform.Valid {
				c.Platform = &platform.String
			}
			contacts[c.ID] = c
			return err
		})
	}
	if err == nil {
		err = query("messages", messageIDs, func(rs *sql.Rows) error {
			m := &messageNode{}
			var sent time.Time
			err := rs.Scan(&m.ID, &m.Text, &m.Direction, &sent, &m.Status)
			m.SentAt = sent.Format(time.RFC3339Nano)
			messages[m.ID] = m
			return err
		})
	}
	if err != nil {
		return nil, http.StatusServiceUnavailable, err
	}

	for _, x := range page {
		n := x.node
		// gqlgen writes a Time as RFC 3339 with nanoseconds, in the zone
		// lib/pq gives it, as here.
		n.LastMessageAt = x.at.Format(time.RFC3339Nano)
		n.Contact, n.Connection = contacts[x.contactID], connections[x.connectionID]
		if n.Contact == nil || n.Connection == nil {
			// contact and connection are non-null in the schema; the server
			// fails such a page too.
			return nil, http.StatusInternalServerError, fmt.Errorf("conversation %s: contact or connection not visible", n.ID)
		}
		if x.lastMessageID.Valid {
			n.LastMessage = messages[x.lastMessageID.String]
		}
		conns.Edges = append(conns.Edges, edge{Cursor: cursor(n.ID, x.at), Node: n})
	}
	if l := len(conns.Edges); l > 0 {
		conns.PageInfo.EndCursor = &conns.Edges[l-1].Cursor
	}
	return conns, http.StatusOK, nil
}

// cursor is entgql's cursor for the default order (last_message_at): the
// MessagePack map {"i": id, "v": last_message_at}, base64 without padding.
// It is written out here, byte for byte as vmihailenco/msgpack encodes it
// (a string, then a time as extension -1), rather than through a library.
func cursor(id string, at time.Time) string {
	b := make([]byte, 0, 64)
	b = append(b, 0x82, 0xa1, 'i')
	switch n := len(id); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n < 256:
		b = append(b, 0xd9, byte(n))
	default:
		b = append(b, 0xda, byte(n>>8), byte(n))
	}
	b = append(b, id...)
	b = append(b, 0xa1, 'v')
	secs := uint64(at.Unix())
	switch data := uint64(at.Nanosecond())<<34 | secs; {
	case secs>>34 == 0 && data&0xffffffff00000000 == 0:
		b = append(b, 0xd6, 0xff)
		b = binary.BigEndian.AppendUint32(b, uint32(data))
	case secs>>34 == 0:
		b = append(b, 0xd7, 0xff)
		b = binary.BigEndian.AppendUint64(b, data)
	default:
		b = append(b, 0xc7, 12, 0xff)
		b = binary.BigEndian.AppendUint32(b, uint32(at.Nanosecond()))
		b = binary.BigEndian.AppendUint64(b, secs)
	}
	return base64.RawStdEncoding.EncodeToString(b)
}

// subject reads the sub claim of a bearer JWT without verifying it.
func subject(authz string) string {
	scheme, token, ok := strings.Cut(authz, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if json.Unmarshal(raw, &claims) != nil {
		return ""
	}
	return claims.Sub
}

// fail answers as a GraphQL server does: the error in errors, data null.
func fail(w http.ResponseWriter, status int, msg string) {
	var e gqlError
	e.Errors = append(e.Errors, struct {
		Message string `json:"message"`
	}{msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}
