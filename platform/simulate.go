package platform

import (
	"errors"
	"net/http"
	"time"
)

// Simulated is one customer event for the webhook simulator (`switchboard
// simulate`): a message, a receipt for one of the account's messages, or a
// follow.
type Simulated struct {
	// Seq makes the event's platform ids (update, message) unique; the
	// simulator gives each event of a run its own.
	Seq int64
	// From is the customer's platform id, Name their display name.
	From, Name string
	// Text is the message's text (a caption with an image).
	Text string
	// Image is an image's URL. Where the platform's webhooks carry media
	// ids rather than URLs (Telegram, WhatsApp), it is the id.
	Image string
	// Receipt, "delivered" or "read", makes the event a receipt for the
	// platform message id Message instead of a message.
	Receipt, Message string
	// Follow makes the event a follow of the account.
	Follow bool
	At     time.Time
}

// ErrNotSimulated is an event a platform's webhooks cannot carry (a
// Telegram receipt: Telegram sends none).
var ErrNotSimulated = errors.New("the platform's webhooks carry no such event")

// Simulator builds a webhook request as the platform would send it for
// the account: its wire format, signed as the platform signs.
type Simulator interface {
	Simulate(acct Account, ev Simulated) (body []byte, header http.Header, err error)
}
