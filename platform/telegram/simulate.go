package telegram

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/switchboard-chat/switchboard/platform"
)

// Simulate builds an update as the Bot API posts it, with the webhook's
// secret token. Telegram sends no receipts and no follows.
func (*Channel) Simulate(acct platform.Account, ev platform.Simulated) ([]byte, http.Header, error) {
	if ev.Receipt != "" || ev.Follow {
		return nil, nil, fmt.Errorf("telegram: %w (no receipts, no follows)", platform.ErrNotSimulated)
	}
	chat, err := strconv.ParseInt(ev.From, 10, 64)
	if err != nil {
		return nil, nil, fmt.Errorf("telegram: a chat id is a number, got %q", ev.From)
	}
	user := map[string]any{"id": chat, "is_bot": false, "first_name": ev.Name}
	msg := map[string]any{
		"message_id": ev.Seq, "date": ev.At.Unix(), "from": user,
		"chat": map[string]any{"id": chat, "type": "private", "first_name": ev.Name},
	}
	if ev.Image != "" {
		msg["photo"] = []map[string]any{{"file_id": ev.Image, "file_unique_id": fmt.Sprintf("sim%d", ev.Seq), "width": 1280, "height": 960}}
		if ev.Text != "" {
			msg["caption"] = ev.Text
		}
	} else {
		msg["text"] = ev.Text
	}
	body, err := json.Marshal(map[string]any{"update_id": ev.Seq, "message": msg})
	return body, http.Header{"Content-Type": {"application/json"}, SecretHeader: {creds(acct).WebhookSecret}}, err
}
