package zalo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/switchboard-chat/switchboard/platform"
)

// platformName is the Platform of every error this package returns.
const platformName = "zalo"

// Error codes of the OpenAPI envelope that mean the OA access token is dead.
const (
	// CodeAccessTokenInvalid is what openapi.zalo.me answers for an invalid
	// or expired access token, including one superseded by a refresh.
	CodeAccessTokenInvalid = -216
	// CodeAccessTokenInvalidZNS is the same condition as reported by the ZNS
	// (business.openapi.zalo.me) endpoints.
	CodeAccessTokenInvalidZNS = -124
)

// envelope is the OpenAPI response wrapper. Zalo answers HTTP 200 even for
// failures, so the error field, not the status, carries the outcome.
type envelope struct {
	Error   flexString      `json:"error"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// ParseEnvelope turns an OpenAPI answer ({"error":…,"message":…,"data":…})
// into an error, or decodes its data into data (which may be nil) with
// numbers kept as json.Number. op names the call in errors. The returned
// error is a *platform.Error; its message is Zalo's own, so callers holding
// tokens should still keep them out of it (see the package's scrubbing).
func ParseEnvelope(op string, status int, body []byte, data any) error {
	var env envelope
	if err := platform.DecodeJSON(body, &env); err != nil {
		return statusError(op, status, "unreadable response")
	}
	code, codeErr := env.Error.int()
	if codeErr != nil {
		return statusError(op, status, "unreadable error code")
	}
	if code != 0 {
		kind := platform.Permanent
		switch {
		case code == CodeAccessTokenInvalid || code == CodeAccessTokenInvalidZNS:
			kind = platform.Auth
		case !ok2xx(status):
			kind = platform.StatusKind(status)
		}
		msg := env.Message
		if msg == "" {
			msg = "error " + strconv.Itoa(code)
		}
		return &platform.Error{Platform: platformName, Op: op, Kind: kind, Status: status, Code: code, Message: platform.Redact(msg)}
	}
	if !ok2xx(status) {
		return statusError(op, status, env.Message)
	}
	if data == nil || len(env.Data) == 0 || bytes.Equal(bytes.TrimSpace(env.Data), []byte("null")) {
		return nil
	}
	if err := platform.DecodeJSON(env.Data, data); err != nil {
		// The envelope said success, so the shape of data is what changed;
		// asking again will not fix that.
		return &platform.Error{Platform: platformName, Op: op, Kind: platform.Permanent, Status: status, Message: "unexpected data: " + platform.Redact(err.Error())}
	}
	return nil
}

// statusError reports an answer that carries no usable Zalo error. A 2xx
// that cannot be read is most likely an intermediary's page, so it is
// treated like no answer at all.
func statusError(op string, status int, msg string) error {
	kind := platform.Transient
	if !ok2xx(status) {
		kind = platform.StatusKind(status)
	}
	if msg == "" {
		msg = strings.TrimSpace(fmt.Sprintf("HTTP %d %s", status, http.StatusText(status)))
	} else if !ok2xx(status) {
		msg = fmt.Sprintf("HTTP %d: %s", status, msg)
	}
	return &platform.Error{Platform: platformName, Op: op, Kind: kind, Status: status, Message: platform.Redact(msg)}
}

func ok2xx(status int) bool { return status >= 200 && status < 300 }

// flexString accepts a JSON string or a JSON number and keeps the literal
// text: Zalo sends ids and counts either way, and its ids overflow float64.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')):
		*f = flexString(b)
	default:
		return fmt.Errorf("zalo: want a string or number, got %.20s", b)
	}
	return nil
}

// int reads the value as an integer, with empty meaning 0.
func (f flexString) int() (int, error) {
	s := strings.TrimSpace(string(f))
	if s == "" {
		return 0, nil
	}
	return strconv.Atoi(s)
}

// scrub replaces every credential in a platform error's message, since Zalo
// may echo what it was sent and error text ends up in logs and the UI.
func scrub(err error, secrets ...string) error {
	pe, ok := err.(*platform.Error)
	if !ok {
		return err
	}
	for _, s := range secrets {
		// Anything this short is no real credential, and replacing it
		// would mangle ordinary words in the message.
		if len(s) < 4 {
			continue
		}
		pe.Message = strings.ReplaceAll(pe.Message, s, "[redacted]")
	}
	return pe
}
