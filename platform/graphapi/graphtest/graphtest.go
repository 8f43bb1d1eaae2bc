// Package graphtest is an in-memory Graph API for tests of the Facebook and
// WhatsApp adapters. It speaks the documented wire format (the error
// envelope, cursor paging, tokens as a Bearer header or an access_token
// parameter) for the few endpoints the adapters use, including the
// Messenger and WhatsApp send APIs (POST /<id>/messages).
package graphtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FakePage is a Facebook Page a fake user manages.
type FakePage struct {
	ID, Name   string
	Token      string // the page access token
	PictureURL string
	Followers  int
	Tasks      []string
	Scopes     []string // what debug_token reports for Token
}

// Server is a fake graph.facebook.com. Point a graphapi.Client at its URL
// with any version.
type Server struct {
	*httptest.Server // nil for a fake made by New

	base             string // where clients reach the fake, for paging links
	appID, appSecret string

	mu       sync.Mutex
	tokens   map[string]*tokenInfo
	pages    map[string]*fakePage
	profiles map[string]*fakeProfile
	phones   map[string]*fakePhone
	expired  map[string]bool
	subs     map[string][]string
	fails    []failure
	calls    []string
	sends    []Send
	users    int
	traces   int
	invent   func(id string) (first, last string) // InventProfiles
	msgSeq   int
}

type tokenKind int

const (
	userToken tokenKind = iota
	pageToken
	phoneToken
)

type tokenInfo struct {
	kind      tokenKind
	user      *fakeUser
	page      *fakePage
	expiresAt time.Time // zero: never
}

type fakeUser struct {
	id        string
	long      string
	expiresIn int
	pages     []*fakePage
}

type fakePage struct {
	FakePage
	owner *fakeUser
}

type fakePhone struct {
	id, token, display, verifiedName string
	quality, limit                   string // see SetPhoneHealth
}

type failure struct {
	method, suffix        string
	status, code, subcode int
	message               string
}

// NewServer starts a fake Graph API for the app appID with appSecret; t's
// cleanup closes it.
func NewServer(t interface{ Cleanup(func()) }, appID, appSecret string) *Server {
	s := New("", appID, appSecret)
	s.Server = httptest.NewServer(s.Handler())
	s.base = s.Server.URL
	t.Cleanup(s.Close)
	return s
}

// New makes a fake Graph API with no listener of its own, for a server
// that mounts Handler at baseURL (the development sandbox).
func New(baseURL, appID, appSecret string) *Server {
	return &Server{
		base:      baseURL,
		appID:     appID,
		appSecret: appSecret,
		tokens:    map[string]*tokenInfo{},
		pages:     map[string]*fakePage{},
		profiles:  map[string]*fakeProfile{},
		phones:    map[string]*fakePhone{},
		expired:   map[string]bool{},
		subs:      map[string][]string{},
	}
}

// Handler serves the Graph API at its root: /<version>/<node>/<edge>.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// AddUser adds a Facebook user who manages pages. Exchanging shortToken
// (with the app's id and secret) yields longToken, valid for expiresIn
// seconds (0: the answer has no expires_in). Both tokens can list the pages.
func (s *Server) AddUser(shortToken, longToken string, expiresIn int, pages ...FakePage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users++
	u := &fakeUser{id: strconv.Itoa(100000000000000 + s.users), long: longToken, expiresIn: expiresIn}
	now := time.Now()
	// Meta documents short-lived user tokens as lasting an hour.
	s.tokens[shortToken] = &tokenInfo{kind: userToken, user: u, expiresAt: now.Add(time.Hour)}
	long := &tokenInfo{kind: userToken, user: u}
	if expiresIn > 0 {
		long.expiresAt = now.Add(time.Duration(expiresIn) * time.Second)
	}
	s.tokens[longToken] = long
	for _, p := range pages {
		fp := &fakePage{FakePage: p, owner: u}
		fp.Tasks = slices.Clone(p.Tasks)
		fp.Scopes = slices.Clone(p.Scopes)
		u.pages = append(u.pages, fp)
		s.pages[p.ID] = fp
		// A page token from a long-lived user token does not expire.
		s.tokens[p.Token] = &tokenInfo{kind: pageToken, user: u, page: fp}
	}
}

// AddPhoneNumber adds a WhatsApp Cloud API number readable with token.
func (s *Server) AddPhoneNumber(id, token, display, verifiedName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phones[id] = &fakePhone{id: id, token: token, display: display, verifiedName: verifiedName, quality: "GREEN", limit: "TIER_250"}
	if _, ok := s.tokens[token]; !ok {
		s.tokens[token] = &tokenInfo{kind: phoneToken}
	}
}

// ExpireToken makes every later call with token fail with code 190,
// subcode 463, and debug_token report it invalid.
func (s *Server) ExpireToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expired[token] = true
}

// Subscriptions returns the fields the app is subscribed to on pageID, nil
// when it is not subscribed.
func (s *Server) Subscriptions(pageID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.subs[pageID])
}

// FailNext makes the next request matching methodAndPathSuffix (e.g.
// "POST /subscribed_apps"; without a method, any method) answer status with
// the Graph error envelope. A code of 0 answers message as a plain-text
// body instead, as a proxy or load balancer in front of Graph would.
// Failures queue up and each is used once.
func (s *Server) FailNext(methodAndPathSuffix string, status, code, subcode int, message string) {
	f := failure{suffix: methodAndPathSuffix, status: status, code: code, subcode: subcode, message: message}
	if m, p, ok := strings.Cut(methodAndPathSuffix, " "); ok {
		f.method, f.suffix = m, p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails = append(s.fails, f)
}

// Calls returns "METHOD /path" of every request so far, in order, with the
// path as received (version prefix included, query left out).
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// The webhook fields a page subscription accepts (Messenger webhook-events index).
var pageFields = []string{
	"messages", "message_deliveries", "message_echoes", "message_reads", "message_reactions",
	"message_edits", "messaging_postbacks", "messaging_optins", "messaging_referrals",
	"messaging_handovers", "standby", "messaging_policy_enforcement", "messaging_account_linking",
}

var versionPrefix = regexp.MustCompile(`^/v[0-9]+\.[0-9]+(/|$)`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, r.Method+" "+r.URL.Path)

	path := r.URL.Path
	if loc := versionPrefix.FindStringIndex(path); loc != nil {
		path = "/" + path[loc[1]:]
	}
	path = "/" + strings.Trim(path, "/")

	sendIdx := -1
	if r.Method == http.MethodPost && strings.HasSuffix(path, "/messages") {
		// Read first: parsing the form, as bearer does, would consume a
		// form body.
		sendIdx = s.recordSend(r)
		rec := &statusRecorder{ResponseWriter: w}
		w = rec
		defer func() { s.sends[sendIdx].Status = rec.status }()
	}

	if s.injectFailure(w, r.Method, path) {
		return
	}
	if path == "/oauth/access_token" && r.Method == http.MethodGet {
		s.exchange(w, r)
		return
	}

	tok := bearer(r)
	if s.expired[tok] {
		s.fail(w, http.StatusBadRequest, 190, 463, "OAuthException",
			"Error validating access token: Session has expired on "+time.Now().Add(-time.Minute).UTC().Format("Monday, 02-Jan-06 15:04:05 MST")+". The current time is "+time.Now().UTC().Format("Monday, 02-Jan-06 15:04:05 MST")+".")
		return
	}
	info, known := s.tokens[tok]
	isApp := tok == s.appID+"|"+s.appSecret
	if !known && !isApp {
		s.fail(w, http.StatusBadRequest, 190, 0, "OAuthException", "Invalid OAuth access token - Cannot parse access token")
		return
	}

	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(segs) == 1 && r.Method == http.MethodGet {
		s.inventProfile(segs[0], info)
	}
	switch {
	case path == "/debug_token" && r.Method == http.MethodGet:
		s.debugToken(w, r)
	case path == "/me/accounts" && r.Method == http.MethodGet:
		s.accounts(w, r, info)
	case path == "/me" && r.Method == http.MethodGet:
		s.me(w, info)
	case len(segs) == 2 && segs[1] == "messages" && r.Method == http.MethodPost:
		s.sends[sendIdx].ID = s.messages(w, r, segs[0], tok, info, s.sends[sendIdx].Body)
	case len(segs) == 2 && segs[1] == "subscribed_apps":
		s.subscribedApps(w, r, segs[0], info)
	case len(segs) == 1 && r.Method == http.MethodGet && s.profiles[segs[0]] != nil:
		s.profile(w, segs[0], info)
	case len(segs) == 1 && r.Method == http.MethodGet:
		s.phoneNumber(w, r, segs[0], tok)
	default:
		s.unsupported(w, r.Method, segs[0])
	}
}

// bearer returns the request's token from wherever Graph accepts it.
func bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "OAuth") {
			return strings.TrimSpace(tok)
		}
	}
	return r.FormValue("access_token")
}

func (s *Server) injectFailure(w http.ResponseWriter, method, path string) bool {
	for i, f := range s.fails {
		if (f.method == "" || f.method == method) && strings.HasSuffix(path, f.suffix) {
			s.fails = slices.Delete(s.fails, i, i+1)
			if f.code == 0 {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.WriteHeader(f.status)
				fmt.Fprint(w, f.message)
				return true
			}
			typ := "OAuthException"
			if f.code == 100 {
				typ = "GraphMethodException"
			}
			s.fail(w, f.status, f.code, f.subcode, typ, f.message)
			return true
		}
	}
	return false
}

func (s *Server) exchange(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("grant_type") != "fb_exchange_token":
		s.fail(w, http.StatusBadRequest, 100, 0, "OAuthException", "Unsupported grant_type")
		return
	case q.Get("client_id") != s.appID:
		s.fail(w, http.StatusBadRequest, 101, 0, "OAuthException", "Error validating application. Invalid application ID.")
		return
	case q.Get("client_secret") != s.appSecret:
		s.fail(w, http.StatusBadRequest, 101, 0, "OAuthException", "Error validating client secret.")
		return
	}
	tok := q.Get("fb_exchange_token")
	if s.expired[tok] {
		s.fail(w, http.StatusBadRequest, 190, 463, "OAuthException", "Error validating access token: Session has expired.")
		return
	}
	info, ok := s.tokens[tok]
	if !ok || info.kind != userToken {
		s.fail(w, http.StatusBadRequest, 190, 0, "OAuthException", "Invalid OAuth access token - Cannot parse access token")
		return
	}
	resp := map[string]any{"access_token": info.user.long, "token_type": "bearer"}
	if info.user.expiresIn > 0 {
		resp["expires_in"] = info.user.expiresIn
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) me(w http.ResponseWriter, info *tokenInfo) {
	switch {
	case info == nil:
		s.fail(w, http.StatusBadRequest, 2500, 0, "OAuthException", "An active access token must be used to query information about the current user.")
	case info.kind == pageToken:
		writeJSON(w, http.StatusOK, map[string]any{"id": info.page.ID, "name": info.page.Name})
	case info.kind == userToken:
		writeJSON(w, http.StatusOK, map[string]any{"id": info.user.id, "name": "Test User " + info.user.id})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"id": "system-user", "name": "System User"})
	}
}

func (s *Server) accounts(w http.ResponseWriter, r *http.Request, info *tokenInfo) {
	if info == nil || info.kind != userToken {
		s.fail(w, http.StatusBadRequest, 100, 0, "OAuthException", "(#100) Tried accessing nonexisting field (accounts) on node type (Page)")
		return
	}
	q := r.URL.Query()
	limit := 25
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			s.fail(w, http.StatusBadRequest, 100, 0, "OAuthException", "(#100) The parameter limit must be a positive integer")
			return
		}
		limit = min(n, 100)
	}
	pages := info.user.pages
	start := 0
	if after := q.Get("after"); after != "" {
		id, err := base64.RawURLEncoding.DecodeString(after)
		i := slices.IndexFunc(pages, func(p *fakePage) bool { return p.ID == string(id) })
		if err != nil || i < 0 {
			s.fail(w, http.StatusBadRequest, 100, 0, "OAuthException", "(#100) The after cursor is invalid")
			return
		}
		start = i + 1
	}
	end := min(start+limit, len(pages))
	fields := topFields(q.Get("fields"), "id", "name", "access_token", "tasks")

	data := []map[string]any{}
	for _, p := range pages[start:end] {
		m := map[string]any{}
		for _, f := range fields {
			switch f {
			case "id":
				m["id"] = p.ID
			case "name":
				m["name"] = p.Name
			case "access_token":
				m["access_token"] = p.Token
			case "picture":
				m["picture"] = map[string]any{"data": map[string]any{"url": p.PictureURL, "is_silhouette": p.PictureURL == "", "height": 50, "width": 50}}
			case "followers_count":
				m["followers_count"] = p.Followers
			case "tasks":
				m["tasks"] = p.Tasks
			}
		}
		data = append(data, m)
	}
	resp := map[string]any{"data": data}
	if end > start {
		paging := map[string]any{"cursors": map[string]any{
			"before": base64.RawURLEncoding.EncodeToString([]byte(pages[start].ID)),
			"after":  base64.RawURLEncoding.EncodeToString([]byte(pages[end-1].ID)),
		}}
		if end < len(pages) {
			// Like Graph, the next link repeats the token in its query,
			// which is why clients should page with the cursor instead.
			next := url.Values{}
			for k, vs := range q {
				next[k] = vs
			}
			next.Set("access_token", bearer(r))
			next.Set("after", base64.RawURLEncoding.EncodeToString([]byte(pages[end-1].ID)))
			paging["next"] = s.base + r.URL.Path + "?" + next.Encode()
		}
		resp["paging"] = paging
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) subscribedApps(w http.ResponseWriter, r *http.Request, pageID string, info *tokenInfo) {
	p, ok := s.pages[pageID]
	if !ok {
		s.unsupported(w, r.Method, pageID)
		return
	}
	switch {
	case info != nil && info.kind == pageToken && info.page == p:
	case info != nil && info.kind == userToken && info.user == p.owner:
		s.fail(w, http.StatusBadRequest, 210, 0, "OAuthException", "(#210) A page access token is required to request this resource.")
		return
	default:
		s.fail(w, http.StatusForbidden, 200, 0, "OAuthException", "(#200) Permissions error")
		return
	}

	switch r.Method {
	case http.MethodGet:
		data := []map[string]any{}
		if fields, ok := s.subs[pageID]; ok {
			data = append(data, map[string]any{
				"id": s.appID, "name": "graphtest app", "category": "Business",
				"link": "https://www.facebook.com/games/?app_id=" + s.appID, "subscribed_fields": fields,
			})
		}
		writeJSON(w, http.StatusOK, map[string]any{"data": data})
	case http.MethodPost:
		raw := r.FormValue("subscribed_fields")
		if raw == "" {
			s.fail(w, http.StatusBadRequest, 100, 0, "OAuthException", "(#100) The parameter subscribed_fields is required")
			return
		}
		var fields []string
		for i, f := range strings.Split(raw, ",") {
			f = strings.TrimSpace(f)
			if !slices.Contains(pageFields, f) {
				s.fail(w, http.StatusBadRequest, 100, 0, "OAuthException",
					fmt.Sprintf("(#100) Param subscribed_fields[%d] must be one of {%s} - got %q", i, strings.Join(pageFields, ", "), f))
				return
			}
			if !slices.Contains(fields, f) {
				fields = append(fields, f)
			}
		}
		// The fake replaces the field set; tests read it back with Subscriptions.
		s.subs[pageID] = fields
		writeJSON(w, http.StatusOK, map[string]any{"success": true})
	case http.MethodDelete:
		delete(s.subs, pageID)
		writeJSON(w, http.StatusOK, map[string]any{"success": true})
	default:
		s.unsupported(w, r.Method, pageID)
	}
}

func (s *Server) debugToken(w http.ResponseWriter, r *http.Request) {
	input := r.URL.Query().Get("input_token")
	if input == "" {
		s.fail(w, http.StatusBadRequest, 100, 0, "OAuthException", "(#100) The parameter input_token is required")
		return
	}
	data := map[string]any{"scopes": []string{}}
	if input == s.appID+"|"+s.appSecret {
		data["app_id"], data["type"], data["application"], data["is_valid"] = s.appID, "APP", "graphtest app", !s.expired[input]
		writeJSON(w, http.StatusOK, map[string]any{"data": data})
		return
	}
	info, ok := s.tokens[input]
	if !ok {
		data["is_valid"] = false
		data["error"] = map[string]any{"code": 190, "message": "Invalid OAuth access token."}
		writeJSON(w, http.StatusOK, map[string]any{"data": data})
		return
	}
	data["app_id"], data["application"] = s.appID, "graphtest app"
	data["expires_at"] = int64(0)
	if !info.expiresAt.IsZero() {
		data["expires_at"] = info.expiresAt.Unix()
	}
	switch info.kind {
	case userToken:
		data["type"], data["user_id"] = "USER", info.user.id
		// A user token holds what the user granted; the union of what its
		// pages' tokens report stands in for that.
		var scopes []string
		for _, p := range info.user.pages {
			for _, sc := range p.Scopes {
				if !slices.Contains(scopes, sc) {
					scopes = append(scopes, sc)
				}
			}
		}
		data["scopes"] = orEmpty(scopes)
	case pageToken:
		data["type"], data["user_id"], data["profile_id"] = "PAGE", info.user.id, info.page.ID
		data["scopes"] = orEmpty(info.page.Scopes)
	case phoneToken:
		data["type"] = "SYSTEM_USER"
		data["scopes"] = []string{"whatsapp_business_management", "whatsapp_business_messaging"}
	}
	data["is_valid"] = true
	if s.expired[input] {
		data["is_valid"] = false
		data["error"] = map[string]any{"code": 190, "subcode": 463, "message": "Error validating access token: Session has expired."}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data})
}

func (s *Server) phoneNumber(w http.ResponseWriter, r *http.Request, id, tok string) {
	ph, ok := s.phones[id]
	// Graph answers a number the token may not read exactly like one that
	// does not exist.
	if !ok || ph.token != tok {
		s.unsupported(w, r.Method, id)
		return
	}
	m := map[string]any{}
	for _, f := range topFields(r.URL.Query().Get("fields"), "id", "display_phone_number", "verified_name", "quality_rating") {
		switch f {
		case "id":
			m["id"] = ph.id
		case "display_phone_number":
			m["display_phone_number"] = ph.display
		case "verified_name":
			m["verified_name"] = ph.verifiedName
		case "quality_rating":
			m["quality_rating"] = ph.quality
		case "whatsapp_business_manager_messaging_limit":
			m["whatsapp_business_manager_messaging_limit"] = ph.limit
			// messaging_limit_tier is deprecated: asked for, it is left
			// out, as integrators report of current Graph versions.
		}
	}
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) unsupported(w http.ResponseWriter, method, id string) {
	s.fail(w, http.StatusBadRequest, 100, 33, "GraphMethodException",
		fmt.Sprintf("Unsupported %s request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", strings.ToLower(method), id))
}

func (s *Server) fail(w http.ResponseWriter, status, code, subcode int, typ, message string) {
	s.traces++
	e := map[string]any{
		"message":    message,
		"type":       typ,
		"code":       code,
		"fbtrace_id": fmt.Sprintf("Gt%08dFake", s.traces),
	}
	if subcode != 0 {
		e["error_subcode"] = subcode
	}
	writeJSON(w, status, map[string]any{"error": e})
}

// topFields returns the top-level names in a Graph fields parameter
// ("id,picture{url},name" gives id, picture, name), or def when it is empty.
func topFields(param string, def ...string) []string {
	if param == "" {
		return def
	}
	var out []string
	depth, start := 0, 0
	flush := func(end int) {
		name := strings.TrimSpace(param[start:end])
		if i := strings.IndexAny(name, "{.("); i >= 0 {
			name = name[:i]
		}
		if name != "" {
			out = append(out, name)
		}
	}
	for i, c := range param {
		switch c {
		case '{', '(':
			depth++
		case '}', ')':
			depth--
		case ',':
			if depth == 0 {
				flush(i)
				start = i + 1
			}
		}
	}
	flush(len(param))
	return out
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fakeProfile is a Messenger customer of one page.
type fakeProfile struct {
	page                    string
	first, last, pictureURL string
}

// AddProfile makes a customer (PSID) of pageID readable through the user
// profile API with that page's token.
func (s *Server) AddProfile(pageID, psid, first, last, pictureURL string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.profiles[psid] = &fakeProfile{page: pageID, first: first, last: last, pictureURL: pictureURL}
}

// InventProfiles makes the profile API answer, for a page's token, any
// user id it does not know (not a page or number) as a customer of that
// page named by name: on Facebook every PSID that wrote to a page can be
// read. For the sandbox, whose customers come from the simulator.
func (s *Server) InventProfiles(name func(id string) (first, last string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invent = name
}

// inventProfile adds the profile InventProfiles would answer for id; the
// caller holds s.mu.
func (s *Server) inventProfile(id string, info *tokenInfo) {
	if s.invent == nil || info == nil || info.kind != pageToken || info.page == nil ||
		s.profiles[id] != nil || s.pages[id] != nil || s.phones[id] != nil || id == "" || strings.Trim(id, "0123456789") != "" {
		return
	}
	first, last := s.invent(id)
	s.profiles[id] = &fakeProfile{page: info.page.ID, first: first, last: last}
}

func (s *Server) profile(w http.ResponseWriter, psid string, info *tokenInfo) {
	p := s.profiles[psid]
	if info == nil || info.kind != pageToken || info.page == nil || info.page.ID != p.page {
		s.fail(w, http.StatusBadRequest, 100, 33, "GraphMethodException",
			fmt.Sprintf("Unsupported get request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", psid))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"first_name": p.first, "last_name": p.last, "profile_pic": p.pictureURL, "id": psid})
}
