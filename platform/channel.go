package platform

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/inbound"
)

// Channel is everything Switchboard knows of one platform, both ways: how
// its webhooks are verified and decoded, and how its accounts are connected,
// checked and kept. Shared code (connections, webhooks, ingest) looks a
// platform's Channel up in the Registry and calls it; it never asks which
// platform it holds. What only some platforms can do is an extra interface
// below (TokenRenewer, ProfileFetcher, AppSigned, AccountRouted), found with
// a type assertion (SeenMarker too).
type Channel interface {
	// Platform names the platform; its lower case is the webhook URL's segment.
	Platform() schematype.Platform
	// Title is the platform's name for people: "Telegram", "WhatsApp".
	Title() string
	// NewCredentials returns an empty value of the platform's own
	// credentials type, to unseal a connection's credentials into.
	NewCredentials() Credentials

	// WebhookPath is the path under PUBLIC_URL the platform delivers a
	// connection's events to: /webhooks/<platform>[/<connection id>].
	WebhookPath(connectionID pulid.ID) string
	// Verify checks a webhook request's signature or secret token on the raw
	// body. key is the account's webhook key (Credentials.WebhookKey),
	// or the app secret for an AppSigned platform.
	Verify(h http.Header, body []byte, key string) error
	// Split cuts a verified body into one fragment per platform event.
	Split(body []byte) ([]inbound.Fragment, error)
	// Decode turns a journaled fragment into an event. An error means the
	// fragment never will decode.
	Decode(raw []byte) (*inbound.Event, error)
	// Ack is the body of the answer to an accepted webhook.
	Ack() string
	// TestEvent is a synthetic, correctly signed webhook for the account,
	// marked with inbound.TestMarker and nonce, for testWebhook.
	TestEvent(acct Account, nonce string) (body []byte, header http.Header)

	// Connect checks a connect mutation's input with the platform and says
	// what to store and register. in is the platform's own input type.
	Connect(ctx context.Context, in ConnectInput) (*Plan, error)
	// Check asks the platform what it knows of an account: token, webhook
	// registration, permissions. The report is never nil: with an error it
	// holds what was learned before the error stopped the check. An Auth
	// error says the token is dead; any error means the check did not
	// complete.
	Check(ctx context.Context, acct Account) (*Report, error)
	// Reconnect registers the account's webhook again with its stored
	// credentials (renewed first when the platform is a TokenRenewer).
	Reconnect(ctx context.Context, acct Account) error
	// Unregister stops the platform delivering the account's events, where
	// it has a registration per account.
	Unregister(ctx context.Context, acct Account) error
	// Update validates replacement credentials with the platform and
	// returns the account's new credentials (and token expiry, if known).
	Update(ctx context.Context, acct Account, in CredentialsUpdate) (Credentials, *time.Time, error)
	// SwitchInput reads switchConnectionAccount's input as a connect of the
	// new account to campaign, refusing fields the platform has not. current
	// are the connection's credentials now (an app of its own is kept).
	SwitchInput(current Credentials, campaign pulid.ID, in SwitchInput) (ConnectInput, error)

	// Sender sends agents' messages (see outbound.go).
	Sender
}

// TokenRenewer is a platform whose access tokens expire and are renewed
// with a refresh token (Zalo). Shared code renews them before expiry, and
// once when the platform rejects a token, before calling it dead.
type TokenRenewer interface {
	Renew(ctx context.Context, acct Account) (Credentials, time.Time, error)
}

// ProfileFetcher is a platform whose webhooks may lack the customer's name
// and avatar, which its API gives (Messenger, Zalo).
type ProfileFetcher interface {
	Profile(ctx context.Context, acct Account, userID string) (*Profile, error)
}

// AppSigned is a platform that signs webhooks with the app's secret and
// routes them by the accounts named inside (Meta: Messenger, WhatsApp). Its
// URL is one per app, and it answers a subscription handshake.
type AppSigned interface {
	AppSecret() string
	// Handshake answers the platform's GET subscription check.
	Handshake(q url.Values) (challenge string, ok bool)
}

// AccountRouted is a platform whose webhook body names the account before
// it can be verified, with that account's key (Zalo: one URL per app, one
// secret per OA).
type AccountRouted interface {
	// Peek reads the unverified body just far enough to find the account.
	Peek(body []byte) (account string, err error)
}

// Credentials are one account's secrets, in the platform's own type. They
// are sealed as JSON: field names are the stored format.
type Credentials interface {
	// Token is the credential shown masked as the connection's tokenHint.
	Token() string
	// WebhookKey verifies the account's webhooks; empty when the app's
	// secret does.
	WebhookKey() string
}

// Account is a connected account as adapters see it.
type Account struct {
	ConnectionID   pulid.ID
	ExternalID     string // bot id, page id, OA id, phone_number_id
	Credentials    Credentials
	TokenExpiresAt *time.Time
	// WebhookURL is PUBLIC_URL + WebhookPath, where the platform must deliver.
	WebhookURL string
}

// ConnectInput is a connect mutation's input; each platform defines its own.
type ConnectInput interface {
	Platform() schematype.Platform
	Campaign() pulid.ID
}

// Plan is what a connect stores and registers.
type Plan struct {
	Accounts []NewAccount
	// Register sets up delivery on the platform once the accounts have ids
	// (same order as Accounts); undo reverses what it did, should the
	// connect fail after all. Nil: nothing to register.
	Register func(ctx context.Context, accts []Account) (undo Undo, err error)
}

// NewAccount is one account a connect stores.
type NewAccount struct {
	ExternalID     string
	Name           string
	Username       string
	Credentials    Credentials
	TokenExpiresAt *time.Time
	// Title names the account in messages: `Telegram bot @x`, `Facebook page "y"`.
	Title string
}

// Undo reverses a registration on the platform, with its own deadline.
type Undo func() error

// CredentialsUpdate is updateConnection's credential fields; nil fields stay.
type CredentialsUpdate struct {
	BotToken        *string // Telegram
	UserAccessToken *string // Facebook: a fresh login gives a new page token
	AccessToken     *string // WhatsApp, Zalo
	RefreshToken    *string // Zalo
	OASecretKey     *string // Zalo
}

// Given reports whether any credential is being replaced.
func (u CredentialsUpdate) Given() bool {
	return u.BotToken != nil || u.UserAccessToken != nil || u.AccessToken != nil || u.RefreshToken != nil || u.OASecretKey != nil
}

// Only fails, naming the field, when the update sets a credential the
// platform does not have; fields are the GraphQL names it has.
func (u CredentialsUpdate) Only(p schematype.Platform, fields ...string) error {
	set := map[string]bool{"botToken": u.BotToken != nil, "userAccessToken": u.UserAccessToken != nil,
		"accessToken": u.AccessToken != nil, "refreshToken": u.RefreshToken != nil, "oaSecretKey": u.OASecretKey != nil}
	for _, f := range fields {
		delete(set, f)
	}
	for _, f := range []string{"botToken", "userAccessToken", "accessToken", "refreshToken", "oaSecretKey"} {
		if set[f] {
			return apperr.Input("input."+f, "a %s connection has no %s", Name(p), f)
		}
	}
	return nil
}

// SwitchInput is switchConnectionAccount's input: what connecting the new
// account needs, for whichever platform the connection is on.
type SwitchInput struct {
	BotToken          *string // Telegram
	UserAccessToken   *string // Facebook, with PageID
	PageID            *string // Facebook
	AccessToken       *string // Zalo (with RefreshToken), WhatsApp (with PhoneNumberID)
	RefreshToken      *string // Zalo
	OASecretKey       *string // Zalo
	AuthorizationCode *string // Zalo, with CodeVerifier
	CodeVerifier      *string // Zalo
	PhoneNumberID     *string // WhatsApp
}

// Only fails, naming the field, when the input sets a field the platform
// does not use; fields are the GraphQL names it uses.
func (in SwitchInput) Only(p schematype.Platform, fields ...string) error {
	set := map[string]bool{"botToken": in.BotToken != nil, "userAccessToken": in.UserAccessToken != nil,
		"pageID": in.PageID != nil, "accessToken": in.AccessToken != nil, "refreshToken": in.RefreshToken != nil,
		"oaSecretKey": in.OASecretKey != nil, "authorizationCode": in.AuthorizationCode != nil,
		"codeVerifier": in.CodeVerifier != nil, "phoneNumberID": in.PhoneNumberID != nil}
	for _, f := range fields {
		delete(set, f)
	}
	for _, f := range []string{"botToken", "userAccessToken", "pageID", "accessToken", "refreshToken", "oaSecretKey",
		"authorizationCode", "codeVerifier", "phoneNumberID"} {
		if set[f] {
			return apperr.Input("input."+f, "a %s connection has no %s", Name(p), f)
		}
	}
	return nil
}

// Check is one line of a connection test.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

// Report is what a platform said of an account when asked: the lines a
// person reads in testConnection, and the same findings as data for
// Connection.health, so that the test and the background checker cannot
// disagree.
type Report struct {
	Checks []Check
	// Health is filled in as far as the platform can be asked; the caller
	// stamps CheckedAt.
	Health schematype.ConnectionHealth
	// Reregister, when not empty, says what was found that registering our
	// webhook again (Reconnect) repairs, in words that complete "... and
	// registered again at <time>": "the webhook was found unregistered on
	// Telegram".
	Reregister string
}

// Add appends check lines.
func (r *Report) Add(checks ...Check) { r.Checks = append(r.Checks, checks...) }

// Fail appends the line err stopped and returns err, for an adapter's
// Check to end with.
func (r *Report) Fail(name string, err error) (*Report, error) {
	r.Checks = append(r.Checks, Failed(name, err))
	return r, err
}

// Verdict is a finding of the platform's, as the health's tri-state fields
// hold it (nil: the platform was not asked, or did not answer).
func Verdict(b bool) *bool { return &b }

// TokenVerdict is what a call made with the account's token says of the
// token: accepted (no error), rejected (an Auth error), or nothing, when
// the platform could not be reached or failed for another reason.
func TokenVerdict(err error) *bool {
	switch {
	case err == nil:
		return Verdict(true)
	case IsAuth(err):
		return Verdict(false)
	}
	return nil
}

// Failed is the check that err stopped.
func Failed(name string, err error) Check {
	return Check{Name: name, OK: false, Detail: Redact(err.Error())}
}

// Profile is a customer's name and picture from a platform's API.
type Profile struct {
	Name      string
	AvatarURL string
}

// Name is the platform's name in lower case, as in webhook URLs.
func Name(p schematype.Platform) string { return strings.ToLower(string(p)) }

// UserError turns a platform failure into the error the user sees: rejected
// credentials are a problem with the input field (rejected says how), and
// anything else is the platform's, with its own description.
func UserError(err error, field, rejected string) error {
	var pe *Error
	if !errors.As(err, &pe) {
		return err
	}
	if pe.Kind == Auth && field != "" {
		return apperr.Input(field, "%s: %s", rejected, pe.Message)
	}
	msg := pe.Error()
	if pe.Kind == RateLimited && pe.RetryAfter > 0 {
		msg += fmt.Sprintf("; retry after %s", pe.RetryAfter)
	}
	return apperr.Upstreamf("%s", msg)
}

// WebhookFailed says that a platform error happened registering a webhook.
func WebhookFailed(err error) error {
	var e *apperr.Error
	if errors.As(err, &e) && e.Kind == apperr.ErrUpstream {
		return apperr.Upstreamf("webhook registration failed: %s", e.Msg)
	}
	return err
}

// UndoContext gives compensation calls their own deadline: the request's
// context may be the reason for undoing.
func UndoContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 15*time.Second)
}

// Trimmed is an optional input's value, trimmed; "" when absent.
func Trimmed(p *string) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(*p)
}

// Or is an optional input's trimmed value, or fallback when it is absent or blank.
func Or(preferred *string, fallback string) string {
	if v := Trimmed(preferred); v != "" {
		return v
	}
	return fallback
}
