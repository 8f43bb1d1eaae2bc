package schematype

// MessageAuthor is who wrote a message when that can differ from the
// conversation's contact: a member of a Telegram group, say.
type MessageAuthor struct {
	// Name is the author's display name on the platform.
	Name string `json:"name"`
	// ExternalID is the author's id on the platform.
	ExternalID string `json:"externalID"`
}
