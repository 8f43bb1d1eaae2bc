// Package simulate is `switchboard simulate`: it posts a correctly signed
// platform webhook, in that platform's wire format, to a running server,
// like `stripe trigger`, so that a frontend developer sees conversations
// flow without a real bot, page, OA or number. The connection's secrets are
// read from the database the server uses (with its ENCRYPTION_KEY), and
// each platform's adapter builds the request (platform.Simulator).
package simulate

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/platform"
)

// Options are one run of the simulator.
type Options struct {
	Platform     string // telegram, facebook, zalo or whatsapp
	ConnectionID string
	Text         string
	From         string // the customer: a platform id (digits) or a name
	Image        string
	Receipt      string // delivered or read: a receipt for Message
	Message      string
	Follow       bool
	Rate         float64 // events per second when Count > 1
	Count        int
	URL          string // the server's base URL; empty: the webhook URL registered (PUBLIC_URL)
}

// Deps are what the simulator reads: the server's database and its
// connections (with their decrypted credentials).
type Deps struct {
	Client     *ent.Client
	Accounts   func(*ent.Connection) (platform.Channel, platform.Account, error)
	WebhookURL func(*ent.Connection) string
	HTTP       *http.Client
}

const usage = `usage: switchboard simulate telegram|facebook|zalo|whatsapp --connection ID [--text "…"] [--from NAME|ID]
	[--image URL] [--receipt delivered|read --message ID] [--follow] [--rate N --count M] [--url BASE]`

// Command parses args (after "simulate") and runs the simulator, printing
// one line per webhook posted to out.
func Command(ctx context.Context, d Deps, args []string, out io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("%s", usage)
	}
	opt := Options{Platform: strings.ToLower(args[0])}
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&opt.ConnectionID, "connection", "", "the connection's id (required)")
	fs.StringVar(&opt.Text, "text", "", "the message's text (a caption with --image)")
	fs.StringVar(&opt.From, "from", "", "the customer: a platform id (digits) or a name (default: one simulated customer)")
	fs.StringVar(&opt.Image, "image", "", "an image URL (Telegram and WhatsApp carry it as the media id)")
	fs.StringVar(&opt.Receipt, "receipt", "", "delivered or read: a receipt for --message instead of a message")
	fs.StringVar(&opt.Message, "message", "", "the platform message id a receipt is for")
	fs.BoolVar(&opt.Follow, "follow", false, "the customer follows the account (Zalo)")
	fs.Float64Var(&opt.Rate, "rate", 10, "webhooks per second when --count is more than 1")
	fs.IntVar(&opt.Count, "count", 1, "how many webhooks to send")
	fs.StringVar(&opt.URL, "url", "", "the server's base URL (default: PUBLIC_URL, where the platform would deliver)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	return Run(ctx, d, opt, out)
}

// Run posts the webhooks opt describes.
func Run(ctx context.Context, d Deps, opt Options, out io.Writer) error {
	switch {
	case opt.ConnectionID == "":
		return fmt.Errorf("--connection is required\n%s", usage)
	case opt.Receipt != "" && opt.Message == "":
		return fmt.Errorf("--receipt needs --message, the platform id of the message it is for")
	case opt.Count < 1 || opt.Rate <= 0:
		return fmt.Errorf("--count must be at least 1 and --rate more than 0")
	case opt.Receipt == "" && !opt.Follow && opt.Text == "" && opt.Image == "":
		opt.Text = "Hello from the simulator"
	}
	conn, err := d.Client.Connection.Get(privacy.DecisionContext(ctx, privacy.Allow), pulid.ID(opt.ConnectionID))
	if err != nil {
		return fmt.Errorf("connection %s: %w", opt.ConnectionID, err)
	}
	if !strings.EqualFold(string(conn.Platform), opt.Platform) {
		return fmt.Errorf("connection %s is a %s connection, not %s", conn.ID, strings.ToLower(string(conn.Platform)), opt.Platform)
	}
	ch, acct, err := d.Accounts(conn)
	if err != nil {
		return err
	}
	sim, ok := ch.(platform.Simulator)
	if !ok {
		return fmt.Errorf("%s: %w", ch.Title(), platform.ErrNotSimulated)
	}
	target, err := webhookURL(d.WebhookURL(conn), opt.URL)
	if err != nil {
		return err
	}
	from, name := customer(opt.From)
	hc := d.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	// Ids unique across runs, so a second run is not taken for a redelivery.
	base := time.Now().UnixMicro() % 1_000_000_000_000
	tick := time.NewTicker(time.Duration(float64(time.Second) / opt.Rate))
	defer tick.Stop()
	for i := range opt.Count {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
		}
		ev := platform.Simulated{Seq: base + int64(i), From: from, Name: name, Text: opt.Text, Image: opt.Image,
			Receipt: opt.Receipt, Message: opt.Message, Follow: opt.Follow, At: time.Now()}
		body, header, err := sim.Simulate(acct, ev)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header = header
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("posting to %s: %w", target, err)
		}
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		fmt.Fprintf(out, "%s %s %d %s\n", time.Now().Format(time.TimeOnly), target, resp.StatusCode, strings.TrimSpace(string(answer)))
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s answered %s", target, resp.Status)
		}
	}
	return nil
}

// webhookURL is the registered URL, on base's scheme and host when given.
func webhookURL(registered, base string) (string, error) {
	if base == "" {
		return registered, nil
	}
	u, err := url.Parse(registered)
	if err != nil {
		return "", err
	}
	b, err := url.Parse(base)
	if err != nil || b.Scheme == "" || b.Host == "" {
		return "", fmt.Errorf("--url: want a base URL like http://localhost:8080, got %q", base)
	}
	u.Scheme, u.Host = b.Scheme, b.Host
	return u.String(), nil
}

// customer is the simulated customer's platform id and name: --from as an
// id when it is digits, else a name with an id of its own (the same name,
// the same customer, run after run).
func customer(from string) (id, name string) {
	switch {
	case from == "":
		return "900000001", "Simulated customer"
	case strings.IndexFunc(from, func(r rune) bool { return !unicode.IsDigit(r) }) < 0:
		return from, "Customer " + from
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(from))
	return fmt.Sprintf("9%09d", h.Sum32()%1_000_000_000), from
}
