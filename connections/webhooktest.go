package connections

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/webhookevent"
	"github.com/switchboard-chat/switchboard/inbound"
	"github.com/switchboard-chat/switchboard/platform"
)

// WebhookTestResult is what testWebhook reports.
type WebhookTestResult struct {
	OK        bool
	Status    int
	LatencyMs int
	Error     *string
}

// TestWebhook sends a correctly signed synthetic event, in the platform's own
// format, to the connection's public webhook URL, and waits for it to reach
// the journal. It proves the whole path a platform uses: DNS and TLS in front
// of us, routing, signature, journal. The event is marked as a test, so
// processing ignores it.
func (s *Service) TestWebhook(ctx context.Context, id pulid.ID) (*WebhookTestResult, error) {
	c, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Status == connection.StatusINACTIVE {
		return nil, apperr.Input("connectionID", "the connection is disconnected: it has no webhook to test")
	}
	ch, acct, err := s.Account(c)
	if err != nil {
		return nil, err
	}
	var nonceBytes [12]byte
	_, _ = rand.Read(nonceBytes[:])
	nonce := hex.EncodeToString(nonceBytes[:])
	body, header := ch.TestEvent(acct, nonce)
	url := acct.WebhookURL
	start := s.now()
	res := &WebhookTestResult{}
	failf := func(format string, args ...any) (*WebhookTestResult, error) {
		msg := fmt.Sprintf(format, args...)
		res.Error = &msg
		res.LatencyMs = int(s.now().Sub(start).Milliseconds())
		return res, nil
	}
	status, _, err := platform.Do(ctx, s.hc, platform.Call{Platform: "switchboard", Op: "POST " + ch.WebhookPath(c.ID),
		Method: http.MethodPost, URL: url, Header: header, Body: bytes.NewReader(body)})
	if err != nil {
		return failf("could not reach %s: %v", url, err)
	}
	res.Status = status
	if status < 200 || status > 299 {
		return failf("%s answered HTTP %d", url, status)
	}
	deadline := start.Add(10 * time.Second)
	for {
		n, err := s.client.WebhookEvent.Query().
			Where(webhookevent.PlatformEQ(c.Platform), webhookevent.Account(inbound.Key(c.ExternalID)), webhookevent.DedupKey("test:"+nonce)).
			Count(system(ctx))
		if err != nil {
			return nil, err
		}
		if n > 0 {
			res.OK = true
			res.LatencyMs = int(s.now().Sub(start).Milliseconds())
			return res, nil
		}
		if s.now().After(deadline) {
			return failf("%s answered HTTP %d but the event did not reach this server's journal: is PUBLIC_URL pointing at another deployment?", url, status)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
