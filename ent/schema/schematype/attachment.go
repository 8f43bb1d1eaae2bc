// Package schematype holds the Go types stored in JSON columns.
package schematype

// Attachment is a file, image, sticker or location carried by a message.
type Attachment struct {
	// Type is the attachment's kind in our vocabulary (image, file, audio, video, sticker, location).
	Type string `json:"type"`
	// URL points at the media on the platform or our storage, when there is one.
	URL string `json:"url,omitempty"`
	// Name is the file name, when the platform gives one.
	Name string `json:"name,omitempty"`
	// MimeType is the media type, when known.
	MimeType string `json:"mimeType,omitempty"`
	// Size is the size in bytes, when known.
	Size int64 `json:"size,omitempty"`
	// PlatformFileID is the platform's own id of the media (Telegram file_id, ...), to fetch it later.
	PlatformFileID string `json:"platformFileId,omitempty"`
	// Latitude and Longitude are set for locations.
	Latitude  *float64 `json:"latitude,omitempty"`
	Longitude *float64 `json:"longitude,omitempty"`
}
