package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// SecretHeader is where Telegram puts a webhook's secret_token
// (platform/telegram.SecretHeader; repeated so this package stays a client
// with no server code in it).
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// NewHTTPClient returns a client for load: one keep-alive connection per
// concurrent caller (conns), no compression, no proxy. The default
// transport keeps only 2 idle connections per host, so beyond two callers
// most requests would pay a new TCP handshake and leave TIME_WAIT sockets
// behind.
func NewHTTPClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conns * 2,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// Hook is one webhook endpoint: the connection's URL and the secret that
// signs deliveries to it.
type Hook struct {
	URL    string // e.g. http://127.0.0.1:8080/webhooks/telegram/con_…
	Secret string
}

// updateSeq numbers updates for the whole process: update_id is the
// journal's deduplication key, so reusing one would make a later send a
// duplicate that the server skips instead of processing.
var updateSeq atomic.Int64

// Starting from the clock keeps ids apart between processes too: two load
// generators sending to one database (a developer's second try) never
// collide. Ids stay far below 2^53, as Telegram's do.
func init() { updateSeq.Store(time.Now().Unix() % 1_000_000 * 1_000_000) }

// TelegramUpdate returns a Telegram update carrying a private-chat text
// message from chat, in the Bot API's shape, with a fresh update_id.
func TelegramUpdate(chat int64, text string) []byte {
	id := updateSeq.Add(1)
	quoted, _ := json.Marshal(text) // a string always marshals
	return fmt.Appendf(nil, `{"update_id":%d,"message":{"message_id":%d,"date":%d,"chat":{"id":%d,"type":"private","first_name":"Bench","last_name":"%d"},"from":{"id":%d,"is_bot":false,"first_name":"Bench"},"text":%s}}`,
		id, id, time.Now().Unix(), chat, chat, chat, quoted)
}

// Post sends body to h as Telegram does and returns the status; the
// response body is read and dropped so the connection is reused.
func Post(ctx context.Context, hc *http.Client, h Hook, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SecretHeader, h.Secret)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// Stamp is the text of a timed message: a tag and the time it was due to be
// sent, in unix nanoseconds. A subscriber reads the time back with
// ParseStamp to time the delivery; the tag tells runs and warm-ups apart.
func Stamp(tag string, due time.Time) string {
	return tag + " " + strconv.FormatInt(due.UnixNano(), 10)
}

// ParseStamp reads a Stamp back.
func ParseStamp(text string) (tag string, due time.Time, ok bool) {
	tag, nanos, ok := strings.Cut(text, " ")
	if !ok {
		return "", time.Time{}, false
	}
	n, err := strconv.ParseInt(nanos, 10, 64)
	if err != nil {
		return "", time.Time{}, false
	}
	return tag, time.Unix(0, n), true
}
