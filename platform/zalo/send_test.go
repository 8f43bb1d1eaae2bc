package zalo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/zalo"
	"github.com/switchboard-chat/switchboard/platform/zalo/zalotest"
)

// userID does not survive a float64 round trip, so it must stay a string.
const userID = "8263618253476254721"

var (
	jpegBytes = append([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), bytes.Repeat([]byte{0x5a}, 3000)...)
	pngBytes  = append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0x11}, 500)...)
	pdfBytes  = []byte("%PDF-1.4\n% Báo giá tháng 12\n%%EOF\n")
	messageID = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

type sendFixture struct {
	srv   *zalotest.Server
	ch    *zalo.Channel
	acct  platform.Account
	at    string
	media *httptest.Server
	hits  *atomic.Int32 // requests the media server got
}

// setupSend connects testOA and starts a media server; media is the
// channel's media client.
func setupSend(t *testing.T, media *http.Client) *sendFixture {
	t.Helper()
	srv := zalotest.NewServer(t, appID, appSecret)
	at, _ := srv.AddOA(testOA, "", "")
	f := &sendFixture{
		srv: srv,
		ch:  zalo.NewChannel(zalo.New(srv.URL, srv.URL, srv.Client()), appID, appSecret, 0, media),
		acct: platform.Account{ExternalID: bigOAID,
			Credentials: &zalo.Credentials{AccessToken: at, OASecretKey: "oa-secret-key"}},
		at:   at,
		hits: &atomic.Int32{},
	}
	serve := func(ct string, body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ct)
			_, _ = w.Write(body)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/photo.jpg", serve("image/jpeg", jpegBytes))
	mux.Handle("/docs/{name}", serve("application/pdf", pdfBytes))
	mux.Handle("/media/8f3a", serve("image/png", pngBytes))
	mux.Handle("/img.php", serve("image/jpeg", jpegBytes))
	mux.Handle("/octet/report.pdf", serve("application/octet-stream", pdfBytes))
	mux.Handle("/big.jpg", serve("image/jpeg", make([]byte, zalo.MaxImageBytes+1)))
	mux.Handle("/big.pdf", serve("application/pdf", make([]byte, zalo.MaxFileBytes+1)))
	mux.Handle("/almost-big.pdf", serve("application/pdf", append(slices.Clone(pdfBytes), make([]byte, zalo.MaxFileBytes-len(pdfBytes))...)))
	f.media = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.media.Close)
	return f
}

// wantJSON compares a body the fake decoded with the JSON it should be.
func wantJSON(t *testing.T, got map[string]any, want string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(want))
	dec.UseNumber()
	var w map[string]any
	if err := dec.Decode(&w); err != nil {
		t.Fatalf("bad want: %v", err)
	}
	if d := cmp.Diff(w, got); d != "" {
		t.Errorf("request body (-want +got):\n%s", d)
	}
}

// wantSends checks every send went to the fake with the OA's token and
// was accepted, and that ids are the message_ids it gave out, in order.
func (f *sendFixture) wantSends(t *testing.T, ids []string, n int) []zalotest.Send {
	t.Helper()
	sends := f.srv.Sends()
	if len(sends) != n {
		t.Fatalf("fake got %d sends, want %d: %+v", len(sends), n, sends)
	}
	var want []string
	for _, s := range sends {
		if s.Path != zalotest.PathSendCS || s.AccessToken != f.at || s.Error != 0 {
			t.Errorf("send to %s with token %q answered error %d; want %s, the OA's token, 0", s.Path, s.AccessToken, s.Error, zalotest.PathSendCS)
		}
		if !messageID.MatchString(s.MessageID) {
			t.Errorf("message_id %q is not 32 hex digits", s.MessageID)
		}
		want = append(want, s.MessageID)
	}
	if !slices.Equal(ids, want) {
		t.Errorf("Sent.IDs = %q, want %q", ids, want)
	}
	return sends
}

func TestLimits(t *testing.T) {
	l := zalo.NewChannel(nil, "", "", 0, nil).Limits()
	if l.Text != 2000 || !slices.Equal(l.Kinds, []platform.MediaKind{platform.Image, platform.File}) || l.Window != 0 {
		t.Errorf("Limits = %+v, want 2000 characters, IMAGE and FILE, no window", l)
	}
}

func TestSendText(t *testing.T) {
	f := setupSend(t, platform.MediaClient(true))
	text := `Xin chào! Đơn hàng #123 đã được giao "hôm nay".`
	sent, err := f.ch.Send(context.Background(), f.acct, platform.Outbound{To: userID, Text: text})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	sends := f.wantSends(t, sent.IDs, 1)
	wantJSON(t, sends[0].Body, `{"recipient":{"user_id":"`+userID+`"},"message":{"text":"Xin chào! Đơn hàng #123 đã được giao \"hôm nay\"."}}`)
	if n := len(f.srv.Uploads()); n != 0 {
		t.Errorf("%d uploads for a text", n)
	}
}

func TestSendImage(t *testing.T) {
	f := setupSend(t, platform.MediaClient(true))
	sent, err := f.ch.Send(context.Background(), f.acct, platform.Outbound{To: userID,
		Media: &platform.Media{URL: f.media.URL + "/photo.jpg?v=2", Kind: platform.Image}})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	ups := f.srv.Uploads()
	if len(ups) != 1 {
		t.Fatalf("%d uploads, want 1", len(ups))
	}
	up := ups[0]
	if up.Path != zalotest.PathUploadImage || up.AccessToken != f.at || up.Error != 0 {
		t.Errorf("upload to %s with %q answered %d; want %s with the OA's token", up.Path, up.AccessToken, up.Error, zalotest.PathUploadImage)
	}
	if up.Name != "photo.jpg" || up.ContentType != "image/jpeg" || !bytes.Equal(up.Data, jpegBytes) || up.Size != len(jpegBytes) {
		t.Errorf("uploaded %q (%s, %d bytes), want photo.jpg (image/jpeg) with the fetched bytes", up.Name, up.ContentType, up.Size)
	}
	sends := f.wantSends(t, sent.IDs, 1)
	wantJSON(t, sends[0].Body, `{"recipient":{"user_id":"`+userID+`"},"message":{"attachment":{"type":"template",
		"payload":{"template_type":"media","elements":[{"media_type":"image","attachment_id":"`+up.ID+`"}]}}}}`)
}

func TestSendFile(t *testing.T) {
	f := setupSend(t, platform.MediaClient(true))
	sent, err := f.ch.Send(context.Background(), f.acct, platform.Outbound{To: userID,
		Media: &platform.Media{URL: f.media.URL + "/docs/B%C3%A1o%20gi%C3%A1.pdf", Kind: platform.File}})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	ups := f.srv.Uploads()
	if len(ups) != 1 || ups[0].Path != zalotest.PathUploadFile || ups[0].AccessToken != f.at {
		t.Fatalf("uploads = %+v, want one to %s with the OA's token", ups, zalotest.PathUploadFile)
	}
	if up := ups[0]; up.Name != "Báo giá.pdf" || up.ContentType != "application/pdf" || !bytes.Equal(up.Data, pdfBytes) {
		t.Errorf("uploaded %q (%s, %d bytes), want Báo giá.pdf (application/pdf) with the fetched bytes", up.Name, up.ContentType, up.Size)
	}
	sends := f.wantSends(t, sent.IDs, 1)
	wantJSON(t, sends[0].Body, `{"recipient":{"user_id":"`+userID+`"},"message":{"attachment":{"type":"file","payload":{"token":"`+ups[0].ID+`"}}}}`)
}

func TestSendFileAtTheLimit(t *testing.T) {
	f := setupSend(t, platform.MediaClient(true))
	_, err := f.ch.Send(context.Background(), f.acct, platform.Outbound{To: userID,
		Media: &platform.Media{URL: f.media.URL + "/almost-big.pdf", Kind: platform.File}})
	if err != nil {
		t.Fatalf("Send of exactly %d bytes: %v", zalo.MaxFileBytes, err)
	}
	if ups := f.srv.Uploads(); len(ups) != 1 || ups[0].Size != zalo.MaxFileBytes {
		t.Errorf("uploads = %d, want one of %d bytes", len(ups), zalo.MaxFileBytes)
	}
}

func TestSendTextAndImage(t *testing.T) {
	f := setupSend(t, platform.MediaClient(true))
	sent, err := f.ch.Send(context.Background(), f.acct, platform.Outbound{To: userID, Text: "Ảnh sản phẩm",
		Media: &platform.Media{URL: f.media.URL + "/photo.jpg", Kind: platform.Image}})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	sends := f.wantSends(t, sent.IDs, 2)
	wantJSON(t, sends[0].Body, `{"recipient":{"user_id":"`+userID+`"},"message":{"text":"Ảnh sản phẩm"}}`)
	ups := f.srv.Uploads()
	if len(ups) != 1 {
		t.Fatalf("%d uploads, want 1", len(ups))
	}
	if got := testkit.Pick(sends[1].Body, "message", "attachment", "payload", "elements"); got == nil ||
		got.([]any)[0].(map[string]any)["attachment_id"] != ups[0].ID {
		t.Errorf("second message = %v, want the uploaded image %s", sends[1].Body, ups[0].ID)
	}
}

func TestSendSkipsDone(t *testing.T) {
	f := setupSend(t, platform.MediaClient(true))
	m := platform.Outbound{To: userID, Text: "Ảnh sản phẩm", Media: &platform.Media{URL: f.media.URL + "/photo.jpg", Kind: platform.Image}, Done: 1}
	sent, err := f.ch.Send(context.Background(), f.acct, m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	sends := f.wantSends(t, sent.IDs, 1)
	if testkit.Pick(sends[0].Body, "message", "text") != nil || testkit.Pick(sends[0].Body, "message", "attachment") == nil {
		t.Errorf("sent %v, want only the image", sends[0].Body)
	}

	m.Done = 2
	sent, err = f.ch.Send(context.Background(), f.acct, m)
	if err != nil || len(sent.IDs) != 0 {
		t.Errorf("Send with everything done = %v, %v; want nothing", sent, err)
	}
	if len(f.srv.Sends()) != 1 || len(f.srv.Uploads()) != 1 || f.hits.Load() != 1 {
		t.Errorf("a send with everything done made requests")
	}
}

func TestSendErrors(t *testing.T) {
	image := func(f *sendFixture, path string) *platform.Media {
		return &platform.Media{URL: f.media.URL + path, Kind: platform.Image}
	}
	tests := []struct {
		name     string
		prepare  func(f *sendFixture)
		media    func(f *sendFixture) *platform.Media
		text     string
		platform string // "" means zalo
		kind     platform.Kind
		code     int
		says     string
		sent     int // how many sends the fake took
	}{
		{name: "expired token", text: "hi", prepare: func(f *sendFixture) { f.srv.ExpireAccessToken(f.at) },
			kind: platform.Auth, code: zalo.CodeAccessTokenInvalid, says: "Access token is invalid"},
		{name: "expired token on upload", media: func(f *sendFixture) *platform.Media { return image(f, "/photo.jpg") },
			prepare: func(f *sendFixture) { f.srv.ExpireAccessToken(f.at) },
			kind:    platform.Auth, code: zalo.CodeAccessTokenInvalid},
		{name: "envelope error", text: "hi",
			prepare: func(f *sendFixture) {
				f.srv.FailNextError(zalotest.PathSendCS, http.StatusOK, -213, "User has not interacted with the OA in the last 7 days")
			},
			kind: platform.Permanent, code: -213, says: "User has not interacted with the OA in the last 7 days"},
		{name: "envelope error on upload", media: func(f *sendFixture) *platform.Media { return image(f, "/photo.jpg") },
			prepare: func(f *sendFixture) {
				f.srv.FailNextError(zalotest.PathUploadImage, http.StatusOK, -201, "Image format is not supported")
			},
			kind: platform.Permanent, code: -201, says: "Image format is not supported"},
		{name: "message echoing the token", text: "hi",
			prepare: func(f *sendFixture) {
				f.srv.FailNextError(zalotest.PathSendCS, http.StatusOK, -216, "Access token "+f.at+" has expired")
			},
			kind: platform.Auth, code: -216, says: "[redacted]"},
		{name: "server error", text: "hi",
			prepare: func(f *sendFixture) {
				f.srv.FailNext(zalotest.PathSendCS, http.StatusInternalServerError, "<html>500</html>")
			},
			kind: platform.Transient},
		{name: "server error with envelope", text: "hi",
			prepare: func(f *sendFixture) {
				f.srv.FailNextError(zalotest.PathSendCS, http.StatusInternalServerError, -1, "internal error")
			},
			kind: platform.Transient, code: -1},
		{name: "server error on upload", media: func(f *sendFixture) *platform.Media { return image(f, "/photo.jpg") },
			prepare: func(f *sendFixture) {
				f.srv.FailNext(zalotest.PathUploadImage, http.StatusBadGateway, "")
			},
			kind: platform.Transient},
		{name: "later piece fails", text: "first the text", media: func(f *sendFixture) *platform.Media { return image(f, "/photo.jpg") },
			prepare: func(f *sendFixture) {
				f.srv.FailNext(zalotest.PathUploadImage, http.StatusServiceUnavailable, "")
			},
			kind: platform.Transient, sent: 1},
		{name: "image too large", text: "caption", media: func(f *sendFixture) *platform.Media { return image(f, "/big.jpg") },
			platform: "media", kind: platform.Permanent, says: "1048576", sent: 1},
		{name: "file too large", media: func(f *sendFixture) *platform.Media {
			return &platform.Media{URL: f.media.URL + "/big.pdf", Kind: platform.File}
		},
			platform: "media", kind: platform.Permanent, says: "5242880"},
		{name: "media missing", media: func(f *sendFixture) *platform.Media { return image(f, "/gone.jpg?sig=s3cr3t") },
			platform: "media", kind: platform.Permanent, says: "404"},
		{name: "audio, checked before the text goes", text: "nghe này", media: func(f *sendFixture) *platform.Media {
			return &platform.Media{URL: f.media.URL + "/a.mp3", Kind: platform.Audio}
		},
			kind: platform.Permanent, says: "AUDIO"},
		{name: "nothing to send", kind: platform.Permanent, says: "nothing to send"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setupSend(t, platform.MediaClient(true))
			if tt.prepare != nil {
				tt.prepare(f)
			}
			m := platform.Outbound{To: userID, Text: tt.text}
			if tt.media != nil {
				m.Media = tt.media(f)
			}
			sent, err := f.ch.Send(context.Background(), f.acct, m)
			var pe *platform.Error
			if tt.platform == "media" {
				if !errors.As(err, &pe) || pe.Platform != "media" || pe.Kind != tt.kind {
					t.Fatalf("err = %v, want a %v media error", err, tt.kind)
				}
			} else {
				pe = wantError(t, err, tt.kind, tt.code, []string{f.at})
			}
			if !strings.Contains(err.Error(), tt.says) || strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error %q does not say %q, or shows the URL's query", err, tt.says)
			}
			var took []string
			for _, s := range f.srv.Sends() {
				if s.Error == 0 && s.Status == http.StatusOK {
					took = append(took, s.MessageID)
				}
			}
			if len(took) != tt.sent || !slices.Equal(sent.IDs, took) {
				t.Errorf("Sent.IDs = %q, want the %d the fake took: %q", sent.IDs, tt.sent, took)
			}
		})
	}
}

func TestSendRefusesPrivateMedia(t *testing.T) {
	for name, media := range map[string]*http.Client{"MediaClient(false)": platform.MediaClient(false), "default": nil} {
		t.Run(name, func(t *testing.T) {
			f := setupSend(t, media)
			sent, err := f.ch.Send(context.Background(), f.acct, platform.Outbound{To: userID, Text: "xem ảnh",
				Media: &platform.Media{URL: f.media.URL + "/photo.jpg", Kind: platform.Image}})
			var pe *platform.Error
			if !errors.As(err, &pe) || pe.Platform != "media" || pe.Kind != platform.Permanent || !strings.Contains(pe.Message, "refusing") {
				t.Fatalf("err = %v, want a permanent media error refusing the address", err)
			}
			if f.hits.Load() != 0 || len(f.srv.Uploads()) != 0 {
				t.Errorf("media server got %d requests, fake %d uploads; want none", f.hits.Load(), len(f.srv.Uploads()))
			}
			// The text went before the image was refused.
			f.wantSends(t, sent.IDs, 1)
		})
	}
}

func TestSendUploadNames(t *testing.T) {
	tests := []struct {
		path, kind, name, contentType string
	}{
		{"/media/8f3a", "IMAGE", "8f3a.png", "image/png"},              // no extension: one for the type
		{"/img.php?id=3", "IMAGE", "img.php.jpg", "image/jpeg"},        // a misleading one: the type's added
		{"/octet/report.pdf", "FILE", "report.pdf", "application/pdf"}, // a generic type: the name decides
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			f := setupSend(t, platform.MediaClient(true))
			_, err := f.ch.Send(context.Background(), f.acct, platform.Outbound{To: userID,
				Media: &platform.Media{URL: f.media.URL + tt.path, Kind: platform.MediaKind(tt.kind)}})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			ups := f.srv.Uploads()
			if len(ups) != 1 || ups[0].Name != tt.name || ups[0].ContentType != tt.contentType {
				t.Errorf("uploads = %+v, want one named %q of type %q", ups, tt.name, tt.contentType)
			}
		})
	}
}

// TestFakeChecksMessages makes sure the fake refuses what Zalo refuses, so
// the tests above would notice a malformed message.
func TestFakeChecksMessages(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	img, err := f.c.UploadImage(ctx, f.at, "a.png", pngBytes)
	if err != nil {
		t.Fatalf("UploadImage: %v", err)
	}
	file, err := f.c.UploadFile(ctx, f.at, "a.pdf", pdfBytes)
	if err != nil {
		t.Fatalf("UploadFile: %v", err)
	}
	if _, err := f.c.SendCS(ctx, f.at, userID, zalo.ImageMessage(img)); err != nil {
		t.Errorf("image message: %v", err)
	}
	if _, err := f.c.SendCS(ctx, f.at, userID, zalo.FileMessage(file)); err != nil {
		t.Errorf("file message: %v", err)
	}
	both := zalo.ImageMessage(img)
	both.Text = "caption"
	otherAt, _ := f.srv.AddOA(zalo.OA{ID: "123", Name: "Other"}, "", "")
	tests := []struct {
		name  string
		token string
		user  string
		m     zalo.Message
		code  int
	}{
		{"text and attachment", f.at, userID, both, zalotest.CodeBadParameter},
		{"neither", f.at, userID, zalo.Message{}, zalotest.CodeBadParameter},
		{"no user", f.at, "", zalo.TextMessage("hi"), zalotest.CodeBadParameter},
		{"text too long", f.at, userID, zalo.TextMessage(strings.Repeat("ữ", zalo.MaxText+1)), zalotest.CodeTooLong},
		{"unknown attachment_id", f.at, userID, zalo.ImageMessage("deadbeef"), zalotest.CodeBadParameter},
		{"file token as an image", f.at, userID, zalo.ImageMessage(file), zalotest.CodeBadParameter},
		{"image id as a file", f.at, userID, zalo.FileMessage(img), zalotest.CodeBadParameter},
		{"another OA's upload", otherAt, userID, zalo.ImageMessage(img), zalotest.CodeBadParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.c.SendCS(ctx, tt.token, tt.user, tt.m)
			wantError(t, err, platform.Permanent, tt.code, f.secrets())
		})
	}
	if _, err := f.c.SendCS(ctx, f.at, userID, zalo.TextMessage(strings.Repeat("ữ", zalo.MaxText))); err != nil {
		t.Errorf("text of exactly %d characters: %v", zalo.MaxText, err)
	}
	if _, err := f.c.UploadImage(ctx, f.at, "big.jpg", make([]byte, zalo.MaxImageBytes+1)); err == nil {
		t.Errorf("the fake took an image over %d bytes", zalo.MaxImageBytes)
	}
}

func TestUploadAndSendAnswers(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		path string
		body string
		call func(f *fixture) (string, error)
		want string // "" means an error is wanted
	}{
		{name: "file token under attachment_id", path: zalotest.PathUploadFile,
			body: `{"error":0,"message":"Success","data":{"attachment_id":"abc123"}}`,
			call: func(f *fixture) (string, error) { return f.c.UploadFile(ctx, f.at, "a.pdf", pdfBytes) }, want: "abc123"},
		{name: "file upload without a token", path: zalotest.PathUploadFile, body: `{"error":0,"message":"Success","data":{}}`,
			call: func(f *fixture) (string, error) { return f.c.UploadFile(ctx, f.at, "a.pdf", pdfBytes) }},
		{name: "image upload without an id", path: zalotest.PathUploadImage, body: `{"error":0,"message":"Success","data":{"token":"x"}}`,
			call: func(f *fixture) (string, error) { return f.c.UploadImage(ctx, f.at, "a.png", pngBytes) }},
		{name: "numeric message_id", path: zalotest.PathSendCS, body: `{"error":0,"message":"Success","data":{"message_id":4318291638716923456}}`,
			call: func(f *fixture) (string, error) { return f.c.SendCS(ctx, f.at, userID, zalo.TextMessage("hi")) }, want: "4318291638716923456"},
		{name: "send without a message_id", path: zalotest.PathSendCS, body: `{"error":0,"message":"Success","data":{}}`,
			call: func(f *fixture) (string, error) { return f.c.SendCS(ctx, f.at, userID, zalo.TextMessage("hi")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			f.srv.FailNext(tt.path, http.StatusOK, tt.body)
			got, err := tt.call(f)
			if tt.want == "" {
				wantError(t, err, platform.Permanent, 0, f.secrets())
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
