package schematype

import "time"

// ConnectionHealth is what the platform said of a connection at its last
// check: the truth behind the Integration tab's status.
type ConnectionHealth struct {
	// CheckedAt is when the platform was last asked.
	CheckedAt time.Time `json:"checkedAt"`
	// TokenValid is whether the platform accepted the token; nil when the
	// check could not tell (the platform was unreachable).
	TokenValid *bool `json:"tokenValid,omitempty"`
	// TokenExpiresAt is when the token stops working, when it does.
	TokenExpiresAt *time.Time `json:"tokenExpiresAt,omitempty"`
	// WebhookRegistered is whether the platform still delivers to our URL;
	// nil when the platform cannot be asked.
	WebhookRegistered *bool `json:"webhookRegistered,omitempty"`
	// WebhookURL is where the platform delivers, as it reports it.
	WebhookURL string `json:"webhookURL,omitempty"`
	// PendingUpdates is how many events the platform holds for us (Telegram).
	PendingUpdates *int `json:"pendingUpdates,omitempty"`
	// PlatformError is the last delivery error the platform reports, and when.
	PlatformError   string     `json:"platformError,omitempty"`
	PlatformErrorAt *time.Time `json:"platformErrorAt,omitempty"`
	// Permissions are those granted that the connection needs (Facebook).
	Permissions []string `json:"permissions"`
	// Platform-specific findings.
	CanReadAllGroupMessages *bool    `json:"canReadAllGroupMessages,omitempty"` // Telegram: privacy mode off
	Commands                []string `json:"commands,omitempty"`                // Telegram: the bot's commands
	QualityRating           string   `json:"qualityRating,omitempty"`           // WhatsApp
	MessagingLimitTier      string   `json:"messagingLimitTier,omitempty"`      // WhatsApp
}
