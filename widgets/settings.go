package widgets

import (
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
)

// Bounds on the settings: a message a visitor reads at a glance, a
// function name, the sites of one business.
const (
	MaxReasonMessage = 500
	MaxCallbackName  = 64
	MaxOrigins       = 20
	maxOrigin        = 255
)

// UpdateInput is updateZaloWidget's input: nil fields stay as they are; an
// empty reasonMessage or callbackName, or an empty allowedOrigins list,
// clears the setting.
type UpdateInput struct {
	Status         *Status
	ReasonMessage  *string
	CallbackName   *string
	AllowedOrigins []string
}

// change is a validated UpdateInput.
type change struct {
	status, reason, callback *string
	origins                  []string
	setOrigins               bool
}

// callbackName is what the widget can call: the name of a global function,
// which Zalo looks up by name (a dotted path names no global).
var callbackName = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)

// validate checks and normalises the input, naming the first field at fault.
func (in UpdateInput) validate() (*change, error) {
	var c change
	if in.Status != nil {
		if *in.Status != Show && *in.Status != Hide {
			return nil, apperr.Input("input.status", "must be SHOW or HIDE")
		}
		s := string(*in.Status)
		c.status = &s
	}
	if in.ReasonMessage != nil {
		s := strings.TrimSpace(*in.ReasonMessage)
		switch {
		case !utf8.ValidString(s):
			return nil, apperr.Input("input.reasonMessage", "must be UTF-8 text")
		case utf8.RuneCountInString(s) > MaxReasonMessage:
			return nil, apperr.Input("input.reasonMessage", "must be at most %d characters", MaxReasonMessage)
		case strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }) >= 0:
			return nil, apperr.Input("input.reasonMessage", "must not contain control characters")
		}
		c.reason = &s
	}
	if in.CallbackName != nil {
		s := strings.TrimSpace(*in.CallbackName)
		if s != "" && (len(s) > MaxCallbackName || !callbackName.MatchString(s)) {
			return nil, apperr.Input("input.callbackName",
				"must be the name of a global JavaScript function (letters, digits, _ and $, not starting with a digit; at most %d characters)", MaxCallbackName)
		}
		c.callback = &s
	}
	if in.AllowedOrigins != nil {
		if len(in.AllowedOrigins) > MaxOrigins {
			return nil, apperr.Input("input.allowedOrigins", "at most %d origins", MaxOrigins)
		}
		c.setOrigins = true
		for i, o := range in.AllowedOrigins {
			norm, err := NormalizeOrigin(o)
			if err != nil {
				return nil, apperr.Input("input.allowedOrigins", "origin %d (%q) %s", i+1, o, err.Error())
			}
			if !slices.Contains(c.origins, norm) {
				c.origins = append(c.origins, norm)
			}
		}
	}
	return &c, nil
}

// onto applies the change to the stored settings.
func (c *change) onto(w schematype.ZaloWidget) schematype.ZaloWidget {
	if c.status != nil {
		w.Status = *c.status
	}
	if c.reason != nil {
		w.ReasonMessage = *c.reason
	}
	if c.callback != nil {
		w.CallbackName = *c.callback
	}
	if c.setOrigins {
		w.AllowedOrigins = c.origins
	}
	return w
}

// originError says what is wrong with an origin; it reads after the origin.
type originError string

func (e originError) Error() string { return string(e) }

// NormalizeOrigin returns an origin in the form browsers send in their
// Origin header (lower case, no default port, no trailing slash), so that
// comparing strings compares origins. An origin is http or https, a host
// and maybe a port: a path, query, fragment, user or wildcard is refused,
// since the Origin header never carries one.
func NormalizeOrigin(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxOrigin {
		return "", originError("is too long")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", originError("is not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", originError("must start with https:// or http://")
	case u.Opaque != "" || u.Host == "":
		return "", originError("must name a host, as in https://shop.example.vn")
	case u.User != nil:
		return "", originError("must not carry a user name or password")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.ForceQuery, u.Fragment != "":
		return "", originError("must be scheme://host[:port] only, without a path, query or fragment")
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if !validHost(host) {
		return "", originError("has an invalid host (no wildcards; internationalised names in their xn-- form)")
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", originError("has an invalid port")
		}
		if (scheme == "https" && n == 443) || (scheme == "http" && n == 80) {
			port = ""
		} else {
			port = strconv.Itoa(n)
		}
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	out := scheme + "://" + host
	if port != "" {
		out += ":" + port
	}
	return out, nil
}

// validHost accepts an IP address or a DNS name of letters, digits and
// hyphens, as the Origin header spells them.
func validHost(h string) bool {
	if h == "" {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
