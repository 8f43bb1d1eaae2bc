package model

import (
	"time"

	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
)

// ConnectionWebhook is where a connection's platform delivers events, and
// how that is going. The counters come with the connection; the backlog
// (pending, oldestPendingAt) is read from the journal only when asked for.
type ConnectionWebhook struct {
	URL            string            `json:"url"`
	Status         connection.Status `json:"status"`
	LastReceivedAt *time.Time        `json:"lastReceivedAt,omitempty"`
	TotalReceived  int               `json:"totalReceived"`
	ErrorCount     int               `json:"errorCount"`
	LastError      *string           `json:"lastError,omitempty"`
	// ConnectionID is whose backlog the resolvers read.
	ConnectionID pulid.ID `json:"-"`
}
