// Package zalotest is a fake of the Zalo OAuth and OpenAPI hosts on one
// httptest server, faithful to the token rules that bite in production:
// refresh tokens and authorization codes are single-use, and minting a new
// pair kills the OA's previous access token at once.
package zalotest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/switchboard-chat/switchboard/internal/jsonpick"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/zalo"
)

// OAuth error codes the fake answers with. Zalo's table is not published:
// only -14014 (invalid refresh token) has been seen in the wild, the rest
// are stand-ins in the same range so clients cannot rely on exact values.
const (
	CodeInvalidParam        = -14001
	CodeInvalidAppID        = -14002
	CodeInvalidSecret       = -14003
	CodeInvalidCode         = -14004
	CodeInvalidRefreshToken = -14014
	CodeInvalidVerifier     = -14019
)

// Paths the fake serves, for FailNext.
const (
	PathAccessToken = "/v4/oa/access_token"
	PathGetOA       = "/v2.0/oa/getoa"
	PathUploadImage = "/v2.0/oa/upload/image"
	PathUploadFile  = "/v2.0/oa/upload/file"
	PathSendCS      = "/v3.0/oa/message/cs"
)

// OpenAPI error codes the fake answers a bad upload or send with. Zalo's
// table is not published: these are stand-ins (-210 is what one client says
// Zalo answers for text over 2000 characters), so clients must not rely on
// exact values.
const (
	CodeBadParameter = -201
	CodeTooLong      = -210
)

// Upload limits the fake enforces, as reported for Zalo.
const (
	maxImage = 1 << 20
	maxFile  = 5 << 20
	maxText  = 2000
)

// Server is the fake. Its URL is both the OAuth and the OpenAPI base URL.
type Server struct {
	*httptest.Server // nil for a fake made by New

	appID, appSecret string

	mu           sync.Mutex
	oas          map[string]*oaState  // by OA id
	codes        map[string]codeGrant // unused authorization codes
	access       map[string]string    // live access token -> OA id
	refresh      map[string]string    // live refresh token -> OA id
	expiresIn    int
	refreshDelay time.Duration
	refreshes    int
	attempts     int
	failures     map[string][]failure        // by path, oldest first
	users        map[string]platform.Profile // "<oa id>/<user id>" -> profile
	uploads      []Upload
	sends        []Send
	uploaded     map[string]uploadedFile // attachment_id or file token -> what it is
	invent       func(id string) string  // InventUsers
}

// Upload is one request to an upload path, as the fake saw it.
type Upload struct {
	Path string
	// AccessToken is the access_token header.
	AccessToken string
	// Name and ContentType are the multipart file's; Size is len(Data).
	Name, ContentType string
	Size              int
	Data              []byte
	// Error is the Zalo error code answered (0: success), Status the HTTP
	// status; ID is the attachment_id or file token given out.
	Error, Status int
	ID            string
}

// Send is one request to PathSendCS, as the fake saw it.
type Send struct {
	Path        string
	AccessToken string
	// Body is the request body decoded with numbers as json.Number (nil if
	// it was not JSON).
	Body map[string]any
	// Error is the Zalo error code answered (0: success), Status the HTTP
	// status; MessageID is the message_id given out.
	Error, Status int
	MessageID     string
}

// uploadedFile is what an attachment id or file token stands for: ids only
// work for the OA that uploaded them, and in the kind of message they were
// uploaded for.
type uploadedFile struct{ oaID, path string }

type oaState struct {
	oa                    zalo.OA
	accessTok, refreshTok string
}

type codeGrant struct{ oaID, verifier string }

type failure struct {
	status int
	body   string
}

// NewServer starts a fake for one app; it is closed when t ends.
func NewServer(t interface{ Cleanup(func()) }, appID, appSecret string) *Server {
	s := New(appID, appSecret)
	s.Server = httptest.NewServer(s.Handler())
	t.Cleanup(s.Close)
	return s
}

// New makes a fake for one app with no listener of its own, for a server
// that mounts Handler (the development sandbox).
func New(appID, appSecret string) *Server {
	return &Server{
		appID:     appID,
		appSecret: appSecret,
		oas:       map[string]*oaState{},
		codes:     map[string]codeGrant{},
		access:    map[string]string{},
		refresh:   map[string]string{},
		expiresIn: 90000,
		failures:  map[string][]failure{},
		uploaded:  map[string]uploadedFile{},
	}
}

// Handler serves both hosts' paths at its root.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(PathAccessToken, s.handleToken)
	mux.HandleFunc(PathGetOA, s.handleGetOA)
	mux.HandleFunc("/v3.0/oa/user/detail", s.handleUserDetail)
	mux.HandleFunc(PathUploadImage, s.handleUpload)
	mux.HandleFunc(PathUploadFile, s.handleUpload)
	mux.HandleFunc(PathSendCS, s.handleSend)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": 404, "message": "You are accessing an empty or invalid API"})
	})
	return mux
}

// AddOA registers an OA (or updates one, killing its pair), mints a token
// pair and returns it. If authCode is not empty, one TokenFromCode with
// authCode and codeVerifier succeeds and mints a fresh pair, which replaces
// the one returned here.
func (s *Server) AddOA(oa zalo.OA, authCode, codeVerifier string) (accessToken, refreshToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.oas[oa.ID]
	if !ok {
		st = &oaState{}
		s.oas[oa.ID] = st
	}
	st.oa = oa
	if authCode != "" {
		s.codes[authCode] = codeGrant{oaID: oa.ID, verifier: codeVerifier}
	}
	return s.mintLocked(st)
}

// CurrentPair returns the OA's live tokens, or empty strings for an unknown OA.
func (s *Server) CurrentPair(oaID string) (accessToken, refreshToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.oas[oaID]
	if !ok {
		return "", ""
	}
	return st.accessTok, st.refreshTok
}

// Refreshes counts the refresh_token grants that succeeded.
func (s *Server) Refreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}

// RefreshAttempts counts every refresh_token grant received, failed ones included.
func (s *Server) RefreshAttempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// SetExpiresIn sets the expires_in of tokens minted from now on (default 90000).
func (s *Server) SetExpiresIn(seconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expiresIn = seconds
}

// ExpireAccessToken kills token, as its 25 hours running out would.
func (s *Server) ExpireAccessToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.access, token)
}

// RevokeRefreshToken kills token, as the OA admin revoking the app would.
func (s *Server) RevokeRefreshToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.refresh, token)
}

// SetRefreshDelay holds every refresh_token grant for d before it is
// decided, so concurrent refreshes overlap.
func (s *Server) SetRefreshDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshDelay = d
}

// FailNext answers the next request to path (PathAccessToken, PathGetOA,
// PathUploadImage, PathUploadFile, PathSendCS) with status and body instead
// of serving it; calls queue up. A refresh answered this way still counts
// as an attempt, and still waits out the refresh delay, but spends nothing.
// An upload or send answered this way is recorded, but takes nothing.
func (s *Server) FailNext(path string, status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[path] = append(s.failures[path], failure{status, body})
}

// FailNextError answers the next request to path with HTTP status and an
// OpenAPI envelope carrying zaloError and message, as FailNext does.
func (s *Server) FailNextError(path string, status, zaloError int, message string) {
	b, err := json.Marshal(map[string]any{"error": zaloError, "message": message})
	if err != nil {
		panic(fmt.Sprintf("zalotest: %v", err))
	}
	s.FailNext(path, status, string(b))
}

// Uploads returns every request to the upload paths so far, oldest first.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.uploads)
}

// Sends returns every request to PathSendCS so far, oldest first.
func (s *Server) Sends() []Send {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sends)
}

// takeFailure pops the next injected answer for path.
func (s *Server) takeFailure(path string) (failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.failures[path]
	if len(q) == 0 {
		return failure{}, false
	}
	s.failures[path] = q[1:]
	return q[0], true
}

// mintLocked replaces the OA's pair, killing the old one as Zalo does.
func (s *Server) mintLocked(st *oaState) (accessToken, refreshToken string) {
	delete(s.access, st.accessTok)
	delete(s.refresh, st.refreshTok)
	st.accessTok, st.refreshTok = "zat-"+randHex(), "zrt-"+randHex()
	s.access[st.accessTok] = st.oa.ID
	s.refresh[st.refreshTok] = st.oa.ID
	return st.accessTok, st.refreshTok
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		oauthError(w, CodeInvalidParam, "invalid_request", "Method not allowed")
		return
	}
	// ParseForm reads the body only for a form content type, so a client
	// sending anything else finds its parameters missing, as on Zalo.
	if err := r.ParseForm(); err != nil {
		oauthError(w, CodeInvalidParam, "invalid_request", "Invalid parameter")
		return
	}
	grant := r.PostForm.Get("grant_type")
	if grant == "refresh_token" {
		s.mu.Lock()
		s.attempts++
		delay := s.refreshDelay
		s.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
	}
	if f, ok := s.takeFailure(PathAccessToken); ok {
		writeRaw(w, f.status, f.body)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.PostForm.Get("app_id") != s.appID:
		oauthError(w, CodeInvalidAppID, "invalid_app_id", "Invalid app_id")
		return
	case r.Header.Get("secret_key") != s.appSecret:
		oauthError(w, CodeInvalidSecret, "invalid_secret_key", "Invalid secret key")
		return
	}
	var st *oaState
	switch grant {
	case "authorization_code":
		code := r.PostForm.Get("code")
		g, ok := s.codes[code]
		if !ok || code == "" {
			oauthError(w, CodeInvalidCode, "invalid_code", "Invalid authorization code")
			return
		}
		if r.PostForm.Get("code_verifier") != g.verifier {
			oauthError(w, CodeInvalidVerifier, "invalid_code_verifier", "Invalid code verifier")
			return
		}
		delete(s.codes, code)
		st = s.oas[g.oaID]
	case "refresh_token":
		oaID, ok := s.refresh[r.PostForm.Get("refresh_token")]
		if !ok {
			oauthError(w, CodeInvalidRefreshToken, "invalid_refresh_token", "Invalid refresh token")
			return
		}
		st = s.oas[oaID]
		s.refreshes++
	default:
		oauthError(w, CodeInvalidParam, "invalid_grant_type", "Invalid grant_type")
		return
	}
	at, rt := s.mintLocked(st)
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token":  at,
		"refresh_token": rt,
		"expires_in":    strconv.Itoa(s.expiresIn),
	})
}

func (s *Server) handleGetOA(w http.ResponseWriter, r *http.Request) {
	if f, ok := s.takeFailure(PathGetOA); ok {
		writeRaw(w, f.status, f.body)
		return
	}
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusOK, map[string]any{"error": 404, "message": "You are accessing an empty or invalid API"})
		return
	}
	s.mu.Lock()
	var oa zalo.OA
	oaID, ok := s.access[r.Header.Get("access_token")]
	if ok {
		oa = s.oas[oaID].oa
	}
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"error": zalo.CodeAccessTokenInvalid, "message": "Access token is invalid"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"error":   0,
		"message": "Success",
		"data": map[string]any{
			"oa_id":       idLiteral(oa.ID),
			"name":        oa.Name,
			"description": oa.Description,
			"avatar":      oa.AvatarURL,
			"is_verified": false,
		},
	})
}

// idLiteral sends an all-digit id as a bare JSON number, as Zalo can, so a
// client that decodes through float64 loses digits and fails its tests.
func idLiteral(id string) any {
	if id == "" {
		return id
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return id
		}
	}
	return json.RawMessage(id)
}

// oauthError answers like the Zalo OAuth host: HTTP 200 with an error body.
func oauthError(w http.ResponseWriter, code int, name, desc string) {
	writeJSON(w, http.StatusOK, map[string]any{"error": code, "error_name": name, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("zalotest: %v", err))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeRaw(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func randHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// AddUser makes a user of the OA readable through user/detail.
func (s *Server) AddUser(oaID, userID, displayName, avatar string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users == nil {
		s.users = map[string]platform.Profile{}
	}
	s.users[oaID+"/"+userID] = platform.Profile{Name: displayName, AvatarURL: avatar}
}

// InventUsers makes user/detail answer any user id it does not know with
// a profile named by name, as if that user had interacted with the OA:
// for the sandbox, whose customers come from the simulator (who did write).
func (s *Server) InventUsers(name func(id string) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invent = name
}

func (s *Server) handleUserDetail(w http.ResponseWriter, r *http.Request) {
	var q struct {
		UserID string `json:"user_id"`
	}
	_ = json.Unmarshal([]byte(r.URL.Query().Get("data")), &q)
	s.mu.Lock()
	oaID, ok := s.access[r.Header.Get("access_token")]
	p, known := s.users[oaID+"/"+q.UserID]
	if ok && !known && s.invent != nil && q.UserID != "" {
		p, known = platform.Profile{Name: s.invent(q.UserID)}, true
		if s.users == nil {
			s.users = map[string]platform.Profile{}
		}
		s.users[oaID+"/"+q.UserID] = p
	}
	s.mu.Unlock()
	switch {
	case !ok:
		writeJSON(w, http.StatusOK, map[string]any{"error": zalo.CodeAccessTokenInvalid, "message": "Access token is invalid"})
	case !known:
		writeJSON(w, http.StatusOK, map[string]any{"error": -213, "message": "User has not interacted with the OA"})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"error": 0, "message": "Success", "data": map[string]any{
			"user_id": idLiteral(q.UserID), "display_name": p.Name, "avatar": p.AvatarURL, "user_is_follower": true,
		}})
	}
}

// envelopeError answers like the OpenAPI host: HTTP 200 with an error body.
func envelopeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, http.StatusOK, map[string]any{"error": code, "message": msg})
}

// handleUpload serves PathUploadImage and PathUploadFile: the file is the
// multipart field "file", the OA's token the access_token header.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	rec := Upload{Path: r.URL.Path, AccessToken: r.Header.Get("access_token"), Status: http.StatusOK}
	defer func() {
		s.mu.Lock()
		s.uploads = append(s.uploads, rec)
		s.mu.Unlock()
	}()
	limit := int64(maxImage)
	if r.URL.Path == PathUploadFile {
		limit = maxFile
	}
	// Room for the multipart framing around the largest file allowed, so
	// that a file a little too large is read whole and refused for its size.
	r.Body = http.MaxBytesReader(w, r.Body, limit+1<<20)
	err := r.ParseMultipartForm(limit + 1<<20)
	if err == nil {
		var file multipart.File
		var hdr *multipart.FileHeader
		if file, hdr, err = r.FormFile("file"); err == nil {
			defer file.Close()
			rec.Name, rec.ContentType = hdr.Filename, hdr.Header.Get("Content-Type")
			rec.Data, err = io.ReadAll(file)
			rec.Size = len(rec.Data)
		}
	}

	if f, ok := s.takeFailure(r.URL.Path); ok {
		rec.Status, rec.Error = f.status, failureCode(f.body)
		writeRaw(w, f.status, f.body)
		return
	}
	fail := func(code int, msg string) {
		rec.Error = code
		envelopeError(w, code, msg)
	}
	if r.Method != http.MethodPost {
		fail(404, "You are accessing an empty or invalid API")
		return
	}

	s.mu.Lock()
	oaID, known := s.access[rec.AccessToken]
	s.mu.Unlock()
	switch {
	case !known:
		fail(zalo.CodeAccessTokenInvalid, "Access token is invalid")
		return
	case err != nil:
		fail(CodeBadParameter, "multipart field file is missing or unreadable")
		return
	case rec.Size == 0:
		fail(CodeBadParameter, "file is empty")
		return
	case int64(rec.Size) > limit:
		fail(CodeBadParameter, fmt.Sprintf("File size exceeds %d bytes", limit))
		return
	}

	rec.ID = randHex()
	field := "attachment_id"
	if r.URL.Path == PathUploadFile {
		field = "token"
	}
	s.mu.Lock()
	s.uploaded[rec.ID] = uploadedFile{oaID: oaID, path: r.URL.Path}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"error": 0, "message": "Success", "data": map[string]any{field: rec.ID}})
}

// handleSend serves PathSendCS: a JSON body naming recipient.user_id with
// exactly one of message.text and message.attachment, an image as a
// one-element media template and a file by its token, both uploaded by
// the same OA.
func (s *Server) handleSend(w http.ResponseWriter, r *http.Request) {
	rec := Send{Path: r.URL.Path, AccessToken: r.Header.Get("access_token"), Status: http.StatusOK}
	defer func() {
		s.mu.Lock()
		s.sends = append(s.sends, rec)
		s.mu.Unlock()
	}()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	decErr := dec.Decode(&rec.Body)
	if f, ok := s.takeFailure(r.URL.Path); ok {
		rec.Status, rec.Error = f.status, failureCode(f.body)
		writeRaw(w, f.status, f.body)
		return
	}
	fail := func(code int, msg string) {
		rec.Error = code
		envelopeError(w, code, msg)
	}
	if r.Method != http.MethodPost {
		fail(404, "You are accessing an empty or invalid API")
		return
	}
	s.mu.Lock()
	oaID, known := s.access[rec.AccessToken]
	s.mu.Unlock()
	if !known {
		fail(zalo.CodeAccessTokenInvalid, "Access token is invalid")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" || decErr != nil {
		fail(CodeBadParameter, "Body must be JSON")
		return
	}
	userID, _ := jsonpick.Pick(rec.Body, "recipient", "user_id").(string)
	msg, _ := jsonpick.Pick(rec.Body, "message").(map[string]any)
	if userID == "" {
		fail(CodeBadParameter, "recipient.user_id is missing")
		return
	}
	if msg == nil {
		fail(CodeBadParameter, "message is missing")
		return
	}
	text, hasText := msg["text"]
	att, hasAtt := msg["attachment"]
	if hasText == hasAtt {
		fail(CodeBadParameter, "message needs exactly one of text and attachment")
		return
	}
	if hasText {
		t, _ := text.(string)
		switch {
		case strings.TrimSpace(t) == "":
			fail(CodeBadParameter, "message.text is empty")
			return
		case utf8.RuneCountInString(t) > maxText:
			fail(CodeTooLong, "message.text is too long")
			return
		}
	} else if problem := s.checkAttachment(oaID, att); problem != "" {
		fail(CodeBadParameter, problem)
		return
	}
	rec.MessageID = randHex()
	writeJSON(w, http.StatusOK, map[string]any{"error": 0, "message": "Success", "data": map[string]any{
		"message_id": rec.MessageID, "user_id": idLiteral(userID),
	}})
}

// checkAttachment says what is wrong with a message.attachment ("" for
// nothing).
func (s *Server) checkAttachment(oaID string, att any) string {
	a, _ := att.(map[string]any)
	payload, _ := jsonpick.Pick(a, "payload").(map[string]any)
	if a == nil || payload == nil {
		return "message.attachment.payload is missing"
	}
	var id, uploadedTo string
	switch a["type"] {
	case "template":
		elements, _ := payload["elements"].([]any)
		if payload["template_type"] != "media" || len(elements) != 1 {
			return "a media template needs template_type media and one element"
		}
		if jsonpick.Pick(elements[0], "media_type") != "image" {
			return "media_type must be image"
		}
		id, _ = jsonpick.Pick(elements[0], "attachment_id").(string)
		uploadedTo = PathUploadImage
	case "file":
		id, _ = payload["token"].(string)
		uploadedTo = PathUploadFile
	default:
		return fmt.Sprintf("attachment type %v is not supported", a["type"])
	}
	s.mu.Lock()
	f, ok := s.uploaded[id]
	s.mu.Unlock()
	if !ok || f.oaID != oaID || f.path != uploadedTo {
		return "attachment_id or token is invalid"
	}
	return ""
}

// failureCode is the error code of an injected answer, for the record.
func failureCode(body string) int {
	var env struct {
		Error int `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &env)
	return env.Error
}
