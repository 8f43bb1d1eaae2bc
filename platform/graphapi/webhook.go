package graphapi

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Messenger and WhatsApp Cloud webhooks are both Graph API webhooks, so the
// subscription handshake and the payload signature live here once.

// SignatureHeader carries "sha256=<hex HMAC-SHA256(app secret, raw body)>".
// The legacy SHA-1 X-Hub-Signature header is deliberately not accepted: it is
// weaker, and Meta sends this one alongside it.
const SignatureHeader = "X-Hub-Signature-256"

const signaturePrefix = "sha256="

// Sign returns the SignatureHeader value Meta would send for body, so tests
// and synthetic test events can pass the same check as real deliveries.
func Sign(appSecret string, body []byte) string {
	return signaturePrefix + hex.EncodeToString(mac(appSecret, body))
}

// ErrBadSignature is Verify's answer to a request Meta did not sign.
var ErrBadSignature = errors.New("missing or wrong " + SignatureHeader)

// Verify checks that the SignatureHeader of a request is the signature of
// body under appSecret. body must be the request bytes exactly as received:
// Meta signs its own escaped-Unicode serialisation, so anything re-encoded
// would not match. An empty appSecret never verifies, so an app whose
// secret was never configured cannot be fed forged events.
func Verify(h http.Header, body []byte, appSecret string) error {
	if appSecret == "" {
		return ErrBadSignature
	}
	digest, ok := strings.CutPrefix(h.Get(SignatureHeader), signaturePrefix)
	if !ok {
		return ErrBadSignature
	}
	// Meta sends lower case, but hex digits are case-insensitive and
	// hex.DecodeString accepts either, so a proxy that upper-cases the value
	// does not lose us events.
	got, err := hex.DecodeString(digest)
	if err != nil || len(got) != sha256.Size || !hmac.Equal(got, mac(appSecret, body)) {
		return ErrBadSignature
	}
	return nil
}

func mac(secret string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

// Handshake answers the GET subscription handshake: hub.mode must be
// "subscribe" and hub.verify_token must equal verifyToken, which must not be
// empty (otherwise anyone could subscribe a callback that was never
// configured). It returns hub.challenge, to be written back as the whole
// response body, and true; or "", false, for a 403.
//
// The challenge is echoed unchanged; callers should send it as text/plain so
// that a caller who knows the token still cannot reflect markup through us.
func Handshake(q url.Values, verifyToken string) (challenge string, ok bool) {
	if verifyToken == "" || q.Get("hub.mode") != "subscribe" {
		return "", false
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("hub.verify_token")), []byte(verifyToken)) != 1 {
		return "", false
	}
	// Meta always sends a challenge and checks that it comes back, so a
	// request without one is not Meta's handshake.
	challenge = q.Get("hub.challenge")
	if challenge == "" {
		return "", false
	}
	return challenge, true
}

// DecodeWebhook decodes a whole webhook body, keeping numbers exact (Meta's
// ids overflow float64) and refusing trailing data, which a truncated or
// concatenated body would have.
func DecodeWebhook(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

// Coordinate reads a latitude or longitude; nil when absent.
func Coordinate(n json.Number) (*float64, error) {
	if n == "" {
		return nil, nil
	}
	v, err := strconv.ParseFloat(n.String(), 64)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// AppWebhook is what Messenger and WhatsApp channels share of receiving
// webhooks: one URL per Meta app, signed with the app secret, and the
// subscription handshake (platform.AppSigned). The channels embed it.
type AppWebhook struct {
	Secret, VerifyToken string
}

// Verify checks the app's signature.
func (AppWebhook) Verify(h http.Header, body []byte, appSecret string) error {
	return Verify(h, body, appSecret)
}

// AppSecret signs every webhook of the app.
func (w AppWebhook) AppSecret() string { return w.Secret }

// Handshake answers Meta's subscription check.
func (w AppWebhook) Handshake(q url.Values) (string, bool) { return Handshake(q, w.VerifyToken) }

// SignedTest is a test event's header: the content type and the app's signature.
func (w AppWebhook) SignedTest(body []byte) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	h.Set(SignatureHeader, Sign(w.Secret, body))
	return h
}
