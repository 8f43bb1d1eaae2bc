package platform

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"
)

// MediaKind is what an outbound attachment is.
type MediaKind string

// The kinds an agent can send.
const (
	Image MediaKind = "IMAGE"
	File  MediaKind = "FILE"
	Audio MediaKind = "AUDIO"
	Video MediaKind = "VIDEO"
)

// Media is an outbound attachment: a public http(s) URL the platform (or
// Switchboard, for platforms that take uploads only) fetches.
type Media struct {
	URL  string
	Kind MediaKind
}

// Outbound is one message an agent sends to a customer.
type Outbound struct {
	// To is the customer's id on the platform (the contact's external id).
	To   string
	Text string
	// Media is the one attachment, if any.
	Media *Media
	// Done is how many platform messages of this send were taken already
	// (a send the platform takes as several messages, retried after one
	// of them failed): Send skips them.
	Done int
}

// Sent is what the platform took: the ids of the platform messages of this
// attempt, in order, even when a later one failed.
type Sent struct {
	IDs []string
}

// Limits are what a platform takes in one send; they are checked before a
// message is stored, so an agent hears at once what cannot be sent.
type Limits struct {
	// Text is the most characters of text.
	Text int
	// Kinds are the attachment kinds the platform can send.
	Kinds []MediaKind
	// Window is how long after the customer's last message the business may
	// reply (0: no window), and WindowRule explains it to the agent.
	Window     time.Duration
	WindowRule string
}

// Sender is the part of a Channel that sends (every channel is one).
type Sender interface {
	// Limits are the platform's limits of one send.
	Limits() Limits
	// Send sends m for the account. Errors are *Error with the kind
	// deciding what happens next: Transient and RateLimited are retried,
	// Auth puts the connection into ERROR, Permanent fails the message.
	Send(ctx context.Context, acct Account, m Outbound) (Sent, error)
}

// SeenMarker is a platform that can show the customer the business read
// their messages (Messenger's mark_seen).
type SeenMarker interface {
	MarkSeen(ctx context.Context, acct Account, to string) error
}

// Pieces cuts a send into the platform messages it takes, in order, when
// the platform carries at most caption characters of text with media (0:
// never): text and media together when they fit, else the text first and
// then the media (caption 0), or the media and then the text.
func Pieces(m Outbound, caption int) []Outbound {
	if m.Media == nil {
		return []Outbound{{To: m.To, Text: m.Text}}
	}
	media := Outbound{To: m.To, Media: m.Media}
	switch {
	case m.Text == "":
		return []Outbound{media}
	case caption > 0 && utf8.RuneCountInString(m.Text) <= caption:
		media.Text = m.Text
		return []Outbound{media}
	case caption > 0:
		return []Outbound{media, {To: m.To, Text: m.Text}}
	default:
		return []Outbound{{To: m.To, Text: m.Text}, media}
	}
}

// Reclassify changes the kind of a platform error: what a call means can
// depend on the call (a 403 from a send is a blocked chat, not a dead token).
func Reclassify(err error, kind func(*Error) Kind) error {
	var pe *Error
	if errors.As(err, &pe) {
		c := *pe
		c.Kind = kind(pe)
		return &c
	}
	return err
}
