package connections

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/facebook"
	"github.com/switchboard-chat/switchboard/vault"
)

// FacebookInput is connectFacebook's input.
type FacebookInput struct {
	CampaignID      pulid.ID
	UserAccessToken string
	PageIDs         []string
}

// FacebookPages lists the pages a Facebook user manages, for the page chooser.
func (s *Service) FacebookPages(ctx context.Context, userToken string) ([]facebook.Page, error) {
	if strings.TrimSpace(userToken) == "" {
		return nil, apperr.Input("userAccessToken", "must not be empty")
	}
	pages, err := s.p.Facebook.Pages(ctx, strings.TrimSpace(userToken))
	if err != nil {
		return nil, platformError(err, "userAccessToken", "Facebook rejected the user access token")
	}
	return pages, nil
}

// ConnectFacebook exchanges the user's token for a long-lived one, takes each
// chosen page's token, checks its permissions, subscribes our app to the page
// and stores one connection per page, all or none.
func (s *Service) ConnectFacebook(ctx context.Context, in FacebookInput) ([]*ent.Connection, error) {
	userToken := strings.TrimSpace(in.UserAccessToken)
	if userToken == "" {
		return nil, apperr.Input("userAccessToken", "must not be empty")
	}
	if len(in.PageIDs) == 0 {
		return nil, apperr.Input("pageIDs", "choose at least one page")
	}
	if _, err := s.requireManager(ctx, in.CampaignID, "campaignID"); err != nil {
		return nil, err
	}
	longToken, expiresAt, err := s.p.Facebook.ExchangeUserToken(ctx, userToken)
	if err != nil {
		return nil, platformError(err, "userAccessToken", "Facebook rejected the user access token")
	}
	pages, err := s.p.Facebook.Pages(ctx, longToken)
	if err != nil {
		return nil, platformError(err, "userAccessToken", "Facebook rejected the user access token")
	}
	byID := map[string]facebook.Page{}
	for _, p := range pages {
		byID[p.ID] = p
	}
	var rows []newConnection
	var chosen []facebook.Page
	seen := map[string]bool{}
	for _, pid := range in.PageIDs {
		pid = strings.TrimSpace(pid)
		if seen[pid] {
			continue
		}
		seen[pid] = true
		page, ok := byID[pid]
		if !ok {
			return nil, apperr.Input("pageIDs", "Page not found in list: %s is not among the pages this Facebook user manages", pid)
		}
		if err := s.checkPagePermissions(ctx, page); err != nil {
			return nil, err
		}
		if err := s.checkFree(ctx, schematype.PlatformFacebook, page.ID, fmt.Sprintf("Facebook page %q", page.Name)); err != nil {
			return nil, err
		}
		creds := &Credentials{PageAccessToken: page.AccessToken, UserAccessToken: longToken}
		if !expiresAt.IsZero() {
			creds.UserTokenExpiresAt = &expiresAt
		}
		// A page token taken from a long-lived user token does not expire.
		rows = append(rows, newConnection{
			id: pulid.New("con"), campaignID: in.CampaignID, platform: schematype.PlatformFacebook, externalID: page.ID,
			name: page.Name, creds: creds, tokenHint: vault.Hint(page.AccessToken),
		})
		chosen = append(chosen, page)
	}
	return s.create(ctx, rows, func(ctx context.Context) (func(), error) {
		var done []facebook.Page
		undo := func() {
			ctx, cancel := undoContext()
			defer cancel()
			for _, p := range done {
				if err := s.p.Facebook.UnsubscribeApp(ctx, p.ID, p.AccessToken); err != nil {
					s.logger.ErrorContext(ctx, "unsubscribing a page of a failed facebook connect", "page", p.ID, "err", err)
				}
			}
		}
		for _, p := range chosen {
			if err := s.p.Facebook.SubscribeApp(ctx, p.ID, p.AccessToken, facebook.MessengerFields); err != nil {
				return undo, webhookFailed(platformError(err, "pageIDs", fmt.Sprintf("Facebook refused to subscribe the app to page %q (missing permissions?)", p.Name)))
			}
			done = append(done, p)
		}
		return undo, nil
	})
}

// errPageTokenInvalid is how debug_token's is_valid:false reaches the callers
// that put a connection into ERROR.
var errPageTokenInvalid = &platform.Error{Platform: "facebook", Op: "GET /debug_token", Kind: platform.Auth,
	Message: "the page token is invalid or expired; connect the page again with a fresh login"}

// checkPagePermissions makes sure the page token carries what Messenger needs.
func (s *Service) checkPagePermissions(ctx context.Context, page facebook.Page) error {
	info, err := s.p.Facebook.DebugToken(ctx, page.AccessToken)
	if err != nil {
		return platformError(err, "userAccessToken", "Facebook rejected the page token")
	}
	if !info.Valid {
		return apperr.Input("userAccessToken", "the token of page %q is not valid: log in to Facebook again", page.Name)
	}
	if missing := missingScopes(info.Scopes); len(missing) > 0 {
		return apperr.Input("userAccessToken", "missing permissions for page %q: %s; grant them when logging in with Facebook", page.Name, strings.Join(missing, ", "))
	}
	return nil
}

func missingScopes(have []string) []string {
	var missing []string
	for _, p := range facebook.RequiredPermissions {
		if !slices.Contains(have, p) {
			missing = append(missing, p)
		}
	}
	return missing
}

// testFacebook checks the page token, its permissions and our subscription.
func (s *Service) testFacebook(ctx context.Context, c *ent.Connection, creds *Credentials) ([]Check, error) {
	var checks []Check
	info, err := s.p.Facebook.DebugToken(ctx, creds.PageAccessToken)
	if err != nil {
		return append(checks, failed("token valid", err)), err
	}
	if !info.Valid {
		checks = append(checks, Check{Name: "token valid", OK: false, Detail: "Facebook reports the page token invalid: reconnect the page"})
		return checks, errPageTokenInvalid
	}
	detail := "page token valid, no expiry"
	if !info.ExpiresAt.IsZero() {
		detail = "page token valid until " + info.ExpiresAt.UTC().Format(time.RFC3339)
	}
	checks = append(checks, Check{Name: "token valid", OK: true, Detail: detail})
	if missing := missingScopes(info.Scopes); len(missing) > 0 {
		checks = append(checks, Check{Name: "permissions", OK: false, Detail: "missing " + strings.Join(missing, ", ")})
	} else {
		checks = append(checks, Check{Name: "permissions", OK: true, Detail: strings.Join(facebook.RequiredPermissions, ", ")})
	}
	apps, err := s.p.Facebook.SubscribedApps(ctx, c.ExternalID, creds.PageAccessToken)
	if err != nil {
		return append(checks, failed("webhook subscribed", err)), nil
	}
	check := Check{Name: "webhook subscribed", Detail: "the app is not subscribed to the page: reconnect to subscribe it"}
	for _, a := range apps {
		if s.p.FacebookAppID != "" && a.ID != s.p.FacebookAppID {
			continue
		}
		var missing []string
		for _, f := range facebook.MessengerFields {
			if !slices.Contains(a.SubscribedFields, f) {
				missing = append(missing, f)
			}
		}
		if len(missing) > 0 {
			check.Detail = "subscribed without " + strings.Join(missing, ", ") + ": reconnect to fix"
		} else {
			check = Check{Name: "webhook subscribed", OK: true, Detail: "subscribed to " + strings.Join(facebook.MessengerFields, ", ") + "; events go to " + s.WebhookURL(schematype.PlatformFacebook, c.ID)}
		}
		break
	}
	return append(checks, check), nil
}

// reconnectFacebook resubscribes the app with the stored page token.
func (s *Service) reconnectFacebook(ctx context.Context, c *ent.Connection, creds *Credentials) error {
	info, err := s.p.Facebook.DebugToken(ctx, creds.PageAccessToken)
	if err != nil {
		return err
	}
	if !info.Valid {
		return errPageTokenInvalid
	}
	if missing := missingScopes(info.Scopes); len(missing) > 0 {
		return fmt.Errorf("missing permissions %s: connect the page again and grant them", strings.Join(missing, ", "))
	}
	return s.p.Facebook.SubscribeApp(ctx, c.ExternalID, creds.PageAccessToken, facebook.MessengerFields)
}

// updateFacebookToken takes a new page token through a fresh user login.
func (s *Service) updateFacebookToken(ctx context.Context, c *ent.Connection, creds *Credentials, userToken string) error {
	longToken, expiresAt, err := s.p.Facebook.ExchangeUserToken(ctx, strings.TrimSpace(userToken))
	if err != nil {
		return platformError(err, "input.userAccessToken", "Facebook rejected the user access token")
	}
	pages, err := s.p.Facebook.Pages(ctx, longToken)
	if err != nil {
		return platformError(err, "input.userAccessToken", "Facebook rejected the user access token")
	}
	for _, p := range pages {
		if p.ID != c.ExternalID {
			continue
		}
		if err := s.checkPagePermissions(ctx, p); err != nil {
			return err
		}
		if err := s.p.Facebook.SubscribeApp(ctx, p.ID, p.AccessToken, facebook.MessengerFields); err != nil {
			return webhookFailed(platformError(err, "input.userAccessToken", "Facebook refused to subscribe the app"))
		}
		creds.PageAccessToken, creds.UserAccessToken = p.AccessToken, longToken
		creds.UserTokenExpiresAt = nil
		if !expiresAt.IsZero() {
			creds.UserTokenExpiresAt = &expiresAt
		}
		return nil
	}
	return apperr.Input("input.userAccessToken", "Page not found in list: this Facebook user does not manage page %s", c.ExternalID)
}
