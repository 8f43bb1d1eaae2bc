package contacts

import (
	"strings"
)

// NormalizePhone returns number in E.164 ("+84912345678"), so that the
// forms a Vietnamese number is written in (0912345678, 84912345678,
// +84912345678, +84 91 234 5678, 0084…) are one number and a call finds
// the customer a chat contact's phone was recorded for. Numbers of other
// countries must carry their country code (+1 202 555 0123 or 0012025550123).
// ok is false when number is not a phone number: empty, letters, or too
// short (a softphone extension such as "101").
func NormalizePhone(number string) (e164 string, ok bool) {
	var b strings.Builder
	plus := false
	for _, r := range strings.TrimSpace(number) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && b.Len() == 0 && !plus:
			plus = true
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '\u00a0':
			// Separators people and SDKs write numbers with.
		default:
			return "", false
		}
	}
	d := b.String()
	switch {
	case plus:
	case strings.HasPrefix(d, "00"):
		// The international call prefix.
		d = d[2:]
	case strings.HasPrefix(d, "0"):
		// A Vietnamese national number: the trunk 0, then 9 (mobile) or
		// 10 (landline) digits.
		d = "84" + d[1:]
	case strings.HasPrefix(d, "84") && (len(d) == 11 || len(d) == 12):
		// Already with Vietnam's country code, without the plus (as WhatsApp's wa_id).
	case len(d) == 9 || len(d) == 10:
		// A Vietnamese number whose trunk 0 was dropped.
		d = "84" + d
	}
	// +84 0912… : the trunk 0 written after the country code.
	if strings.HasPrefix(d, "840") {
		d = "84" + d[3:]
	}
	// E.164 allows at most 15 digits; fewer than 8 is an extension or a
	// short code, not a customer's number.
	if len(d) < 8 || len(d) > 15 || d[0] == '0' {
		return "", false
	}
	if strings.HasPrefix(d, "84") && (len(d) < 11 || len(d) > 12) {
		return "", false
	}
	return "+" + d, true
}
