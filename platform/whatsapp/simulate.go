package whatsapp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/switchboard-chat/switchboard/platform"
)

// Simulate builds a Cloud API webhook as Meta posts it for the number,
// signed with the app secret: a message, or a delivered or read status.
func (ch *Channel) Simulate(acct platform.Account, ev platform.Simulated) ([]byte, http.Header, error) {
	if ev.Follow {
		return nil, nil, fmt.Errorf("whatsapp: %w (no follows)", platform.ErrNotSimulated)
	}
	ts := strconv.FormatInt(ev.At.Unix(), 10)
	value := map[string]any{
		"messaging_product": "whatsapp",
		"metadata":          map[string]any{"display_phone_number": acct.ExternalID, "phone_number_id": acct.ExternalID},
	}
	switch ev.Receipt {
	case "delivered", "read":
		value["statuses"] = []map[string]any{{"id": ev.Message, "status": ev.Receipt, "timestamp": ts, "recipient_id": ev.From}}
	case "":
		value["contacts"] = []map[string]any{{"profile": map[string]any{"name": ev.Name}, "wa_id": ev.From}}
		m := map[string]any{"from": ev.From, "id": fmt.Sprintf("wamid.sim%d", ev.Seq), "timestamp": ts}
		if ev.Image != "" {
			m["type"], m["image"] = "image", map[string]any{"id": ev.Image, "mime_type": "image/jpeg", "caption": ev.Text}
		} else {
			m["type"], m["text"] = "text", map[string]any{"body": ev.Text}
		}
		value["messages"] = []any{m}
	default:
		return nil, nil, fmt.Errorf("whatsapp: a receipt is delivered or read, got %q", ev.Receipt)
	}
	body, err := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": []map[string]any{{
		"id": acct.ExternalID, "changes": []map[string]any{{"value": value, "field": "messages"}}}}})
	return body, ch.SignedTest(body), err
}
