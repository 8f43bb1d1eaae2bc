package connections

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/vault"
)

// ZaloInput is connectZalo's flat input: either AccessToken + RefreshToken,
// or AuthorizationCode + CodeVerifier (from the OAuth v4 PKCE flow).
type ZaloInput struct {
	CampaignID        pulid.ID
	OASecretKey       string
	AccessToken       *string
	RefreshToken      *string
	AuthorizationCode *string
	CodeVerifier      *string
	AppID             *string
	AppSecretKey      *string
}

// unknownExpiry is assumed for tokens given to us directly (Zalo tells the
// lifetime only when minting): the refresher then renews them early and
// learns the real expiry.
const unknownExpiry = time.Hour

// ConnectZalo obtains or accepts the OA's tokens, reads the OA and stores it.
// Zalo webhooks are configured per app (pointing at /webhooks/zalo); the OA
// secret key verifies their signatures.
func (s *Service) ConnectZalo(ctx context.Context, in ZaloInput) (*ent.Connection, error) {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return strings.TrimSpace(*p)
	}
	secretKey := strings.TrimSpace(in.OASecretKey)
	if secretKey == "" {
		return nil, apperr.Input("oaSecretKey", "must not be empty: it verifies Zalo's webhook signatures (OA Secret Key in the app's webhook settings)")
	}
	appID, appSecret := firstNonEmpty(in.AppID, s.p.ZaloAppID), firstNonEmpty(in.AppSecretKey, s.p.ZaloAppSecret)
	access, refresh, code, verifier := str(in.AccessToken), str(in.RefreshToken), str(in.AuthorizationCode), str(in.CodeVerifier)
	byTokens, byCode := access != "" && refresh != "", code != "" && verifier != ""
	switch {
	case !byTokens && !byCode:
		field := "accessToken"
		if access != "" {
			field = "refreshToken"
		} else if code != "" {
			field = "codeVerifier"
		}
		return nil, apperr.Input(field, "give either accessToken and refreshToken, or authorizationCode and codeVerifier")
	case byCode && (appID == "" || appSecret == ""):
		return nil, apperr.Input("appID", "exchanging an authorization code needs the Zalo app's id and secret key (appID/appSecretKey, or ZALO_APP_ID/ZALO_APP_SECRET)")
	}
	if _, err := s.requireManager(ctx, in.CampaignID, "campaignID"); err != nil {
		return nil, err
	}
	creds := &Credentials{AccessToken: access, RefreshToken: refresh, OASecretKey: secretKey, AppID: appID, AppSecret: appSecret}
	expiresAt := s.now().Add(unknownExpiry)
	if !byTokens {
		tok, err := s.p.Zalo.TokenFromCode(ctx, appID, appSecret, code, verifier)
		if err != nil {
			return nil, platformError(err, "authorizationCode", "Zalo rejected the authorization code")
		}
		creds.AccessToken, creds.RefreshToken = tok.AccessToken, tok.RefreshToken
		expiresAt = s.now().Add(tok.ExpiresIn)
	}
	oa, err := s.p.Zalo.GetOA(ctx, creds.AccessToken)
	if err != nil {
		return nil, platformError(err, "accessToken", "Zalo rejected the access token")
	}
	if err := s.checkFree(ctx, schematype.PlatformZalo, oa.ID, fmt.Sprintf("Zalo OA %q", oa.Name)); err != nil {
		return nil, err
	}
	conns, err := s.create(ctx, []newConnection{{
		id: pulid.New("con"), campaignID: in.CampaignID, platform: schematype.PlatformZalo, externalID: oa.ID,
		name: oa.Name, creds: creds, tokenHint: vault.Hint(creds.AccessToken), expiresAt: &expiresAt,
	}}, func(context.Context) (func(), error) { return nil, nil })
	if err != nil {
		return nil, err
	}
	return conns[0], nil
}

// RefreshZalo renews an OA's access token with its single-use refresh token.
// The row lock serialises refreshes of one OA across goroutines and replicas;
// whoever waited finds the token fresh and does nothing (unless force). The
// new pair replaces the old in the same transaction.
func (s *Service) RefreshZalo(ctx context.Context, id pulid.ID, force bool) (*ent.Connection, error) {
	ctx = system(ctx)
	tx, err := s.client.Tx(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	c, err := tx.Connection.Query().Where(connection.ID(id), connection.PlatformEQ(schematype.PlatformZalo)).ForUpdate().Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("locking zalo connection %s: %w", id, err)
	}
	if c.Status == connection.StatusINACTIVE {
		return c, nil
	}
	if !force && c.TokenExpiresAt != nil && c.TokenExpiresAt.After(s.now().Add(RefreshMargin)) {
		return c, tx.Commit()
	}
	creds, err := s.Credentials(c)
	if err != nil {
		return nil, err
	}
	tok, err := s.p.Zalo.RefreshToken(ctx, creds.AppID, creds.AppSecret, creds.RefreshToken)
	if err != nil {
		if platform.IsAuth(err) {
			c, uerr := tx.Connection.UpdateOne(c).SetStatus(connection.StatusERROR).
				SetStatusReason(fmt.Sprintf("Zalo refused to renew the access token (%s): reconnect the OA with a new authorization", platformMessage(err))).
				Save(ctx)
			if uerr != nil {
				return nil, uerr
			}
			s.logger.WarnContext(ctx, "zalo token refresh refused", "connection", id, "err", err)
			return c, tx.Commit()
		}
		return nil, err
	}
	creds.AccessToken, creds.RefreshToken = tok.AccessToken, tok.RefreshToken
	sealed, err := s.seal(c.ID, creds)
	if err != nil {
		return nil, err
	}
	c, err = tx.Connection.UpdateOne(c).
		SetCredentials(sealed).
		SetTokenHint(vault.Hint(tok.AccessToken)).
		SetTokenExpiresAt(s.now().Add(tok.ExpiresIn)).
		SetStatus(connection.StatusACTIVE).
		SetStatusReason("").
		Save(ctx)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		// The refresh token is spent and the new pair is lost: say so loudly.
		s.logger.ErrorContext(ctx, "storing renewed zalo tokens failed; the OA must be reconnected", "connection", id, "err", err)
		return nil, err
	}
	return c, nil
}

func platformMessage(err error) string {
	var pe *platform.Error
	if errors.As(err, &pe) {
		return pe.Message
	}
	return err.Error()
}

// testZalo checks the token and its expiry.
func (s *Service) testZalo(ctx context.Context, c *ent.Connection, creds *Credentials) ([]Check, error) {
	oa, err := s.p.Zalo.GetOA(ctx, creds.AccessToken)
	if platform.IsAuth(err) {
		// An access token dies early when another one is minted; only a
		// failed renewal means the OA must be reconnected.
		var rc *ent.Connection
		if rc, err = s.RefreshZalo(ctx, c.ID, true); err == nil {
			if rc.Status == connection.StatusERROR {
				return []Check{{Name: "token valid", OK: false, Detail: rc.StatusReason}}, nil
			}
			c = rc
			if creds, err = s.Credentials(rc); err == nil {
				oa, err = s.p.Zalo.GetOA(ctx, creds.AccessToken)
			}
		}
	}
	if err != nil {
		return []Check{failed("token valid", err)}, err
	}
	checks := []Check{{Name: "token valid", OK: true, Detail: fmt.Sprintf("reads OA %q (%s)", oa.Name, oa.ID)}}
	if c.TokenExpiresAt != nil {
		checks = append(checks, Check{Name: "token renewal", OK: c.TokenExpiresAt.After(s.now()),
			Detail: "access token valid until " + c.TokenExpiresAt.UTC().Format(time.RFC3339) + "; renewed automatically before then"})
	}
	checks = append(checks,
		Check{Name: "refresh token stored", OK: creds.RefreshToken != "" && creds.AppID != "" && creds.AppSecret != "",
			Detail: "needed to renew the access token (with the Zalo app id and secret key)"},
		Check{Name: "webhook", OK: creds.OASecretKey != "",
			Detail: "set the Zalo app's webhook URL to " + s.WebhookURL(schematype.PlatformZalo, c.ID) + "; signatures are checked with the OA secret key"})
	return checks, nil
}

// updateZalo replaces tokens or the OA secret key, checking the tokens read the same OA.
func (s *Service) updateZalo(ctx context.Context, c *ent.Connection, creds *Credentials, access, refresh, secretKey *string) (*time.Time, error) {
	if secretKey != nil {
		if strings.TrimSpace(*secretKey) == "" {
			return nil, apperr.Input("input.oaSecretKey", "must not be empty")
		}
		creds.OASecretKey = strings.TrimSpace(*secretKey)
	}
	if access == nil && refresh == nil {
		return nil, nil
	}
	if access == nil || refresh == nil || strings.TrimSpace(*access) == "" || strings.TrimSpace(*refresh) == "" {
		return nil, apperr.Input("input.refreshToken", "replace accessToken and refreshToken together")
	}
	oa, err := s.p.Zalo.GetOA(ctx, strings.TrimSpace(*access))
	if err != nil {
		return nil, platformError(err, "input.accessToken", "Zalo rejected the access token")
	}
	if oa.ID != c.ExternalID {
		return nil, apperr.Input("input.accessToken", "this token belongs to OA %q, not to the connected OA", oa.Name)
	}
	creds.AccessToken, creds.RefreshToken = strings.TrimSpace(*access), strings.TrimSpace(*refresh)
	exp := s.now().Add(unknownExpiry)
	return &exp, nil
}
