package facebook

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/switchboard-chat/switchboard/platform"
)

// Simulate builds a Messenger webhook as Meta posts it for the page,
// signed with the app secret: a message, or a delivery or read receipt.
func (ch *Channel) Simulate(acct platform.Account, ev platform.Simulated) ([]byte, http.Header, error) {
	if ev.Follow {
		return nil, nil, fmt.Errorf("facebook: %w (no follows)", platform.ErrNotSimulated)
	}
	ms := ev.At.UnixMilli()
	item := map[string]any{"sender": map[string]any{"id": ev.From}, "recipient": map[string]any{"id": acct.ExternalID}, "timestamp": ms}
	switch ev.Receipt {
	case "delivered":
		item["delivery"] = map[string]any{"mids": []string{ev.Message}, "watermark": ms}
	case "read":
		item["read"] = map[string]any{"watermark": ms}
	case "":
		m := map[string]any{"mid": fmt.Sprintf("m_sim%d", ev.Seq)}
		if ev.Text != "" {
			m["text"] = ev.Text
		}
		if ev.Image != "" {
			m["attachments"] = []map[string]any{{"type": "image", "payload": map[string]any{"url": ev.Image}}}
		}
		item["message"] = m
	default:
		return nil, nil, fmt.Errorf("facebook: a receipt is delivered or read, got %q", ev.Receipt)
	}
	body, err := json.Marshal(map[string]any{"object": "page", "entry": []map[string]any{{"id": acct.ExternalID, "time": ms, "messaging": []any{item}}}})
	return body, ch.SignedTest(body), err
}
