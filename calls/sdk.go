package calls

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
)

// The OmiCall Web SDK's callbacks that concern a call (seed 003); the SPA
// forwards each as logCall's event.
const (
	evConnecting      = "connecting"
	evInvite          = "invite"
	evInviteRejected  = "inviteRejected"
	evRinging         = "ringing"
	evAccepted        = "accepted"
	evIncall          = "incall"
	evAcceptedByOther = "acceptedByOther"
	evEnded           = "ended"
	evHoldChanged     = "holdChanged"
)

var known = map[string]bool{
	evConnecting: true, evInvite: true, evInviteRejected: true, evRinging: true, evAccepted: true,
	evIncall: true, evAcceptedByOther: true, evEnded: true, evHoldChanged: true,
}

// Events lists the callbacks logCall accepts, for error messages.
const Events = "connecting, invite, inviteRejected, ringing, accepted, incall, acceptedByOther, ended, holdChanged"

// sdkCall is what Switchboard reads of the SDK's call object; the object is
// kept whole as the event's data.
type sdkCall struct {
	UUID          string
	Direction     string // INBOUND, OUTBOUND or "" when not given
	Number        string // remoteNumber, or phone
	SIPNumber     string
	Start         *time.Time
	Answer        *time.Time
	End           *time.Time
	EndCause      string
	Duration      *int
	TotalDuration *int
	Hold          *bool
}

// field names the data's fields in errors the way the SPA sent them.
func field(name string) string { return "input.data." + name }

// parse reads and validates the SDK object of an event.
func parse(event string, data map[string]any) (*sdkCall, error) {
	if !known[event] {
		return nil, apperr.Input("input.event", "unknown softphone event %q; one of %s", event, Events)
	}
	c := &sdkCall{}
	var err error
	if c.UUID, err = text(data, "uuid"); err != nil {
		return nil, err
	}
	if c.UUID = strings.TrimSpace(c.UUID); c.UUID == "" {
		return nil, apperr.Input(field("uuid"), "missing: every call event carries the call's uuid (its OmiCall transaction id)")
	}
	if len(c.UUID) > 200 {
		return nil, apperr.Input(field("uuid"), "at most 200 characters")
	}
	dir, err := text(data, "direction")
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(strings.TrimSpace(dir)) {
	case "":
	case "inbound":
		c.Direction = "INBOUND"
	case "outbound":
		c.Direction = "OUTBOUND"
	default:
		return nil, apperr.Input(field("direction"), "%q is not a direction: inbound or outbound", dir)
	}
	for _, name := range []string{"remoteNumber", "phone"} {
		n, err := text(data, name)
		if err != nil {
			return nil, err
		}
		if n = strings.TrimSpace(n); n != "" && c.Number == "" {
			c.Number = n
		}
	}
	if len(c.Number) > 64 {
		return nil, apperr.Input(field("remoteNumber"), "at most 64 characters")
	}
	if c.SIPNumber, err = text(data, "sipNumber"); err != nil {
		return nil, err
	}
	if len(c.SIPNumber) > 64 {
		return nil, apperr.Input(field("sipNumber"), "at most 64 characters")
	}
	for name, dst := range map[string]**time.Time{"startTime": &c.Start, "answerTime": &c.Answer, "endTime": &c.End} {
		if *dst, err = instant(data, name); err != nil {
			return nil, err
		}
	}
	if c.Start != nil && c.End != nil && c.End.Before(*c.Start) {
		return nil, apperr.Input(field("endTime"), "%s is before startTime %s", c.End.Format(time.RFC3339Nano), c.Start.Format(time.RFC3339Nano))
	}
	if c.Start != nil && c.Answer != nil && c.Answer.Before(*c.Start) {
		return nil, apperr.Input(field("answerTime"), "%s is before startTime %s", c.Answer.Format(time.RFC3339Nano), c.Start.Format(time.RFC3339Nano))
	}
	if c.Answer != nil && c.End != nil && c.End.Before(*c.Answer) {
		return nil, apperr.Input(field("endTime"), "%s is before answerTime %s", c.End.Format(time.RFC3339Nano), c.Answer.Format(time.RFC3339Nano))
	}
	if c.Duration, err = seconds(data, "duration"); err != nil {
		return nil, err
	}
	if c.TotalDuration, err = seconds(data, "totalDuration"); err != nil {
		return nil, err
	}
	if c.EndCause, err = text(data, "endCause"); err != nil {
		return nil, err
	}
	if len(c.EndCause) > 100 {
		return nil, apperr.Input(field("endCause"), "at most 100 characters")
	}
	if event == evHoldChanged {
		h, ok := data["hold"].(bool)
		if !ok {
			return nil, apperr.Input(field("hold"), "holdChanged needs hold: true (the call is put on hold) or false (taken off hold)")
		}
		c.Hold = &h
	}
	return c, nil
}

// text reads an optional string; numbers are taken as written (a phone
// number the SDK gives as a number).
func text(data map[string]any, name string) (string, error) {
	switch v := data[name].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case int:
		return strconv.Itoa(v), nil
	default:
		return "", apperr.Input(field(name), "must be a string, not %s", kind(v))
	}
}

// number reads an optional JSON number (or a string of one).
func number(data map[string]any, name string) (float64, bool, error) {
	var f float64
	switch v := data[name].(type) {
	case nil:
		return 0, false, nil
	case json.Number:
		x, err := v.Float64()
		if err != nil {
			return 0, false, apperr.Input(field(name), "%q is not a number", v.String())
		}
		f = x
	case float64:
		f = v
	case int64:
		f = float64(v)
	case int:
		f = float64(v)
	case string:
		if strings.TrimSpace(v) == "" {
			return 0, false, nil
		}
		x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, false, apperr.Input(field(name), "%q is not a number", v)
		}
		f = x
	default:
		return 0, false, apperr.Input(field(name), "must be a number, not %s", kind(v))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, apperr.Input(field(name), "must be a finite number")
	}
	return f, true, nil
}

// The SDK's times are JavaScript Dates: serialised they are RFC 3339
// strings, or epoch milliseconds when the SPA sends getTime().
var (
	earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	latest   = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func instant(data map[string]any, name string) (*time.Time, error) {
	var t time.Time
	if s, ok := data[name].(string); ok {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, nil
		}
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			p, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, apperr.Input(field(name), "%q is not a time: give an RFC 3339 string (2026-12-02T09:30:00.000Z) or epoch milliseconds", s)
			}
			t = p
		}
	}
	if t.IsZero() {
		ms, ok, err := number(data, name)
		if err != nil || !ok {
			return nil, err
		}
		t = time.UnixMilli(int64(ms))
	}
	if t.Before(earliest) || t.After(latest) {
		return nil, apperr.Input(field(name), "%s is not a plausible call time (epoch milliseconds expected)", t.UTC().Format(time.RFC3339))
	}
	t = t.UTC()
	return &t, nil
}

// seconds reads an optional non-negative duration in seconds.
func seconds(data map[string]any, name string) (*int, error) {
	f, ok, err := number(data, name)
	if err != nil || !ok {
		return nil, err
	}
	if f < 0 {
		return nil, apperr.Input(field(name), "must not be negative (got %v)", f)
	}
	if f > 7*24*3600 {
		return nil, apperr.Input(field(name), "%v seconds is longer than any call", f)
	}
	n := int(math.Round(f))
	return &n, nil
}

func kind(v any) string {
	switch v.(type) {
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}
