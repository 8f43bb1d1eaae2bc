package connections

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/vault"
)

// WhatsAppInput is connectWhatsApp's input.
type WhatsAppInput struct {
	CampaignID    pulid.ID
	PhoneNumberID string
	AccessToken   string
}

// ConnectWhatsApp validates the token by reading the phone number and stores
// it. WhatsApp webhooks are configured once per Meta app (pointing at
// /webhooks/whatsapp), so there is nothing to register per number.
func (s *Service) ConnectWhatsApp(ctx context.Context, in WhatsAppInput) (*ent.Connection, error) {
	phoneID, token := strings.TrimSpace(in.PhoneNumberID), strings.TrimSpace(in.AccessToken)
	if phoneID == "" || strings.Trim(phoneID, "0123456789") != "" {
		return nil, apperr.Input("phoneNumberID", "must be the numeric phone_number_id from WhatsApp Manager, not the phone number itself")
	}
	if token == "" {
		return nil, apperr.Input("accessToken", "must not be empty")
	}
	if _, err := s.requireManager(ctx, in.CampaignID, "campaignID"); err != nil {
		return nil, err
	}
	num, err := s.p.WhatsApp.PhoneNumber(ctx, phoneID, token)
	if err != nil {
		return nil, whatsappError(err)
	}
	if err := s.checkFree(ctx, schematype.PlatformWhatsApp, num.ID, fmt.Sprintf("WhatsApp number %s", num.DisplayPhoneNumber)); err != nil {
		return nil, err
	}
	conns, err := s.create(ctx, []newConnection{{
		id: pulid.New("con"), campaignID: in.CampaignID, platform: schematype.PlatformWhatsApp, externalID: num.ID,
		name: num.VerifiedName, username: num.DisplayPhoneNumber,
		creds: &Credentials{AccessToken: token}, tokenHint: vault.Hint(token),
	}}, func(context.Context) (func(), error) { return nil, nil })
	if err != nil {
		return nil, err
	}
	return conns[0], nil
}

// whatsappError blames the token for auth failures and the phone number id
// for requests Graph refuses outright (an id the token cannot see).
func whatsappError(err error) error {
	var pe *platform.Error
	if errors.As(err, &pe) && pe.Kind == platform.Permanent {
		return apperr.Input("phoneNumberID", "WhatsApp cannot read this phone number with this token: %s", pe.Message)
	}
	return platformError(err, "accessToken", "WhatsApp rejected the access token")
}

// testWhatsApp checks the token by reading the number again.
func (s *Service) testWhatsApp(ctx context.Context, c *ent.Connection, creds *Credentials) ([]Check, error) {
	num, err := s.p.WhatsApp.PhoneNumber(ctx, c.ExternalID, creds.AccessToken)
	if err != nil {
		return []Check{failed("token valid", err)}, err
	}
	checks := []Check{
		{Name: "token valid", OK: true, Detail: fmt.Sprintf("reads %s (%s)", num.DisplayPhoneNumber, num.VerifiedName)},
		{Name: "phone number quality", OK: num.QualityRating != "RED", Detail: "quality rating " + strings.ToLower(num.QualityRating)},
		{Name: "webhook", OK: true, Detail: "configure the Meta app's WhatsApp webhook to " + s.WebhookURL(schematype.PlatformWhatsApp, c.ID)},
	}
	return checks, nil
}

// updateWhatsAppToken replaces the access token after reading the number with it.
func (s *Service) updateWhatsAppToken(ctx context.Context, c *ent.Connection, creds *Credentials, token string) error {
	token = strings.TrimSpace(token)
	if _, err := s.p.WhatsApp.PhoneNumber(ctx, c.ExternalID, token); err != nil {
		return platformError(err, "input.accessToken", "WhatsApp rejected the access token")
	}
	creds.AccessToken = token
	return nil
}
