package zalo

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/switchboard-chat/switchboard/platform"
)

// Simulate builds an OA event as Zalo posts it, signed with the OA's secret
// key: a message, a receipt (user_received_message, user_seen_message) or a
// follow.
func (ch *Channel) Simulate(acct platform.Account, ev platform.Simulated) ([]byte, http.Header, error) {
	c := creds(acct)
	appID := ch.AppID(c)
	ts := strconv.FormatInt(ev.At.UnixMilli(), 10)
	e := map[string]any{"app_id": appID, "timestamp": ts, "user_id_by_app": ev.From}
	switch {
	case ev.Follow:
		e["event_name"], e["oa_id"], e["follower"], e["source"] = "follow", acct.ExternalID, map[string]any{"id": ev.From}, "oa_profile"
	case ev.Receipt == "delivered" || ev.Receipt == "read":
		e["event_name"] = map[string]string{"delivered": "user_received_message", "read": "user_seen_message"}[ev.Receipt]
		e["sender"], e["recipient"] = map[string]any{"id": acct.ExternalID}, map[string]any{"id": ev.From}
		e["message"] = map[string]any{"msg_ids": []string{ev.Message}}
	case ev.Receipt != "":
		return nil, nil, fmt.Errorf("zalo: a receipt is delivered or read, got %q", ev.Receipt)
	default:
		e["sender"], e["recipient"] = map[string]any{"id": ev.From}, map[string]any{"id": acct.ExternalID}
		m := map[string]any{"text": ev.Text, "msg_id": fmt.Sprintf("sim%d", ev.Seq)}
		e["event_name"] = "user_send_text"
		if ev.Image != "" {
			e["event_name"] = "user_send_image"
			m["attachments"] = []map[string]any{{"type": "image", "payload": map[string]any{"url": ev.Image, "thumbnail": ev.Image}}}
		}
		e["message"] = m
	}
	body, err := json.Marshal(e)
	if err != nil {
		return nil, nil, err
	}
	h := http.Header{"Content-Type": {"application/json"}}
	h.Set(SignatureHeader, Sign(appID, body, ts, c.OASecretKey))
	return body, h, nil
}
