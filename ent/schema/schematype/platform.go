package schematype

import (
	"fmt"
	"io"
	"strconv"
)

// Platform is a messaging platform Switchboard connects to. One Go type (and one
// GraphQL enum) serves connections, contacts and the webhook journal alike.
type Platform string

// The platforms.
const (
	PlatformFacebook Platform = "FACEBOOK"
	PlatformTelegram Platform = "TELEGRAM"
	PlatformZalo     Platform = "ZALO"
	PlatformWhatsApp Platform = "WHATSAPP"
)

// Values lists the platforms for ent's enum column.
func (Platform) Values() []string {
	return []string{string(PlatformFacebook), string(PlatformTelegram), string(PlatformZalo), string(PlatformWhatsApp)}
}

// MarshalGQL writes the platform as a GraphQL enum value.
func (p Platform) MarshalGQL(w io.Writer) {
	_, _ = io.WriteString(w, strconv.Quote(string(p)))
}

// UnmarshalGQL reads a GraphQL enum value, rejecting unknown platforms.
func (p *Platform) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("a platform must be a string, got %T", v)
	}
	for _, known := range (Platform("")).Values() {
		if s == known {
			*p = Platform(s)
			return nil
		}
	}
	return fmt.Errorf("%q is not a platform (FACEBOOK, TELEGRAM, ZALO, WHATSAPP)", s)
}
