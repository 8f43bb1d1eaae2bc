// Package facebook connects Facebook Pages for Messenger through the Graph
// API: exchanging a login token, listing the user's pages and subscribing
// our app to their webhooks.
package facebook

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
)

// platformName is the Platform of every error this package returns.
const platformName = "facebook"

// MessengerFields are the page webhook fields a Messenger connection needs.
var MessengerFields = []string{"messages", "messaging_postbacks", "message_deliveries", "message_reads", "message_echoes"}

// RequiredPermissions are the login scopes a Messenger connection needs:
// list the pages, read them, subscribe the app and message through them.
var RequiredPermissions = []string{"pages_messaging", "pages_read_engagement", "pages_manage_metadata", "pages_show_list"}

// maxPageRequests bounds how many /me/accounts pages Pages follows (at 100
// each), so a misbehaving cursor cannot keep it looping.
const maxPageRequests = 50

// Client calls the Graph API on behalf of one Meta app.
type Client struct {
	g         *graphapi.Client
	appID     string
	appSecret string
	now       func() time.Time
}

// New returns a client for the app appID with appSecret.
func New(g *graphapi.Client, appID, appSecret string) *Client {
	return &Client{g: g, appID: appID, appSecret: appSecret, now: time.Now}
}

// Page is a Facebook Page the user manages, with its page token.
type Page struct {
	ID, Name, AccessToken, PictureURL string
	Followers                         int
	Tasks                             []string
}

// SubscribedApp is an app subscribed to a page's webhooks.
type SubscribedApp struct {
	ID, Name         string
	SubscribedFields []string
}

// TokenInfo is what debug_token says about a token.
type TokenInfo struct {
	Valid                    bool
	AppID, UserID, ProfileID string
	Scopes                   []string
	ExpiresAt                time.Time // zero: never expires
	Type                     string    // "USER", "PAGE", "APP", "SYSTEM_USER"
	// Error is why Graph holds an invalid token invalid (code 190, with a
	// subcode such as 460 password changed or 463 expired); nil when valid.
	Error *TokenError
}

// TokenError is debug_token's data.error.
type TokenError struct {
	Code, Subcode int
	Message       string
}

// ExchangeUserToken trades a short-lived user token from Facebook Login for
// a long-lived one; expiresAt is zero when Graph gives no lifetime.
func (c *Client) ExchangeUserToken(ctx context.Context, shortLived string) (token string, expiresAt time.Time, err error) {
	// This endpoint takes the credentials in the query, not a header;
	// graphapi keeps them out of its errors.
	q := url.Values{
		"grant_type":        {"fb_exchange_token"},
		"client_id":         {c.appID},
		"client_secret":     {c.appSecret},
		"fb_exchange_token": {shortLived},
	}
	var resp struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	const path = "/oauth/access_token"
	if err := c.g.GetUnversioned(ctx, platformName, path, "", q, &resp); err != nil {
		return "", time.Time{}, err
	}
	if resp.AccessToken == "" {
		return "", time.Time{}, unexpected("GET "+path, "the answer has no access_token")
	}
	if resp.ExpiresIn > 0 {
		expiresAt = c.now().Add(time.Duration(resp.ExpiresIn) * time.Second)
	}
	return resp.AccessToken, expiresAt, nil
}

// Pages lists the pages userToken's user manages, following Graph's paging.
func (c *Client) Pages(ctx context.Context, userToken string) ([]Page, error) {
	q := url.Values{
		"fields": {"id,name,access_token,picture{url},followers_count,tasks"},
		"limit":  {"100"},
	}
	var pages []Page
	seen := map[string]bool{}
	for range maxPageRequests {
		var resp struct {
			Data []struct {
				ID          string `json:"id"`
				Name        string `json:"name"`
				AccessToken string `json:"access_token"`
				Picture     struct {
					Data struct {
						URL string `json:"url"`
					} `json:"data"`
				} `json:"picture"`
				FollowersCount int      `json:"followers_count"`
				Tasks          []string `json:"tasks"`
			} `json:"data"`
			Paging struct {
				Cursors struct {
					After string `json:"after"`
				} `json:"cursors"`
				// Next is only a "there is more" flag: its URL repeats
				// the token in the query, so we page with the cursor.
				Next string `json:"next"`
			} `json:"paging"`
		}
		if err := c.g.Get(ctx, platformName, "/me/accounts", userToken, q, &resp); err != nil {
			return nil, err
		}
		for _, d := range resp.Data {
			pages = append(pages, Page{
				ID: d.ID, Name: d.Name, AccessToken: d.AccessToken, PictureURL: d.Picture.Data.URL,
				Followers: d.FollowersCount, Tasks: d.Tasks,
			})
		}
		after := resp.Paging.Cursors.After
		if resp.Paging.Next == "" || after == "" || seen[after] {
			break
		}
		seen[after] = true
		q.Set("after", after)
	}
	return pages, nil
}

// SubscribeApp subscribes our app to pageID's webhook fields; nil or empty
// fields means MessengerFields.
func (c *Client) SubscribeApp(ctx context.Context, pageID, pageToken string, fields []string) error {
	if len(fields) == 0 {
		fields = MessengerFields
	}
	path := "/" + url.PathEscape(pageID) + "/subscribed_apps"
	var resp struct {
		Success bool `json:"success"`
	}
	if err := c.g.Post(ctx, platformName, path, pageToken, url.Values{"subscribed_fields": {strings.Join(fields, ",")}}, &resp); err != nil {
		return err
	}
	if !resp.Success {
		return unexpected("POST "+path, "Graph did not report success")
	}
	return nil
}

// UnsubscribeApp removes our app's webhook subscription from pageID.
func (c *Client) UnsubscribeApp(ctx context.Context, pageID, pageToken string) error {
	path := "/" + url.PathEscape(pageID) + "/subscribed_apps"
	var resp struct {
		Success bool `json:"success"`
	}
	if err := c.g.Delete(ctx, platformName, path, pageToken, nil, &resp); err != nil {
		return err
	}
	if !resp.Success {
		return unexpected("DELETE "+path, "Graph did not report success")
	}
	return nil
}

// SubscribedApps lists the apps subscribed to pageID's webhooks.
func (c *Client) SubscribedApps(ctx context.Context, pageID, pageToken string) ([]SubscribedApp, error) {
	path := "/" + url.PathEscape(pageID) + "/subscribed_apps"
	var resp struct {
		Data []struct {
			ID               string   `json:"id"`
			Name             string   `json:"name"`
			SubscribedFields []string `json:"subscribed_fields"`
		} `json:"data"`
	}
	if err := c.g.Get(ctx, platformName, path, pageToken, nil, &resp); err != nil {
		return nil, err
	}
	apps := make([]SubscribedApp, 0, len(resp.Data))
	for _, d := range resp.Data {
		apps = append(apps, SubscribedApp{ID: d.ID, Name: d.Name, SubscribedFields: d.SubscribedFields})
	}
	return apps, nil
}

// DebugToken inspects token with the app's own credentials. An invalid or
// expired token is not an error: it comes back with Valid false.
func (c *Client) DebugToken(ctx context.Context, token string) (*TokenInfo, error) {
	var resp struct {
		Data struct {
			AppID     string   `json:"app_id"`
			Type      string   `json:"type"`
			IsValid   bool     `json:"is_valid"`
			ExpiresAt int64    `json:"expires_at"`
			Scopes    []string `json:"scopes"`
			UserID    string   `json:"user_id"`
			ProfileID string   `json:"profile_id"`
			Error     *struct {
				Code    int    `json:"code"`
				Subcode int    `json:"subcode"`
				Message string `json:"message"`
			} `json:"error"`
		} `json:"data"`
	}
	appToken := c.appID + "|" + c.appSecret
	if err := c.g.Get(ctx, platformName, "/debug_token", appToken, url.Values{"input_token": {token}}, &resp); err != nil {
		return nil, err
	}
	d := resp.Data
	info := &TokenInfo{Valid: d.IsValid, AppID: d.AppID, UserID: d.UserID, ProfileID: d.ProfileID, Scopes: d.Scopes, Type: d.Type}
	if d.ExpiresAt > 0 {
		info.ExpiresAt = time.Unix(d.ExpiresAt, 0)
	}
	if d.Error != nil {
		info.Error = &TokenError{Code: d.Error.Code, Subcode: d.Error.Subcode, Message: d.Error.Message}
	}
	return info, nil
}

// unexpected reports a 2xx answer that does not say what Graph documents.
func unexpected(op, msg string) error {
	return &platform.Error{Platform: platformName, Op: op, Kind: platform.Permanent, Status: 200, Message: msg}
}

// UserProfile reads a customer's name and picture by PSID with the page's
// token (Messenger webhooks carry neither).
func (c *Client) UserProfile(ctx context.Context, psid, pageToken string) (*platform.Profile, error) {
	var out struct {
		FirstName  string `json:"first_name"`
		LastName   string `json:"last_name"`
		Name       string `json:"name"`
		ProfilePic string `json:"profile_pic"`
	}
	q := url.Values{"fields": {"first_name,last_name,profile_pic"}}
	if err := c.g.Get(ctx, platformName, "/"+url.PathEscape(psid), pageToken, q, &out); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(out.FirstName + " " + out.LastName)
	if name == "" {
		name = out.Name
	}
	return &platform.Profile{Name: name, AvatarURL: out.ProfilePic}, nil
}

// attachmentTypes are Messenger's attachment types per media kind.
var attachmentTypes = map[platform.MediaKind]string{
	platform.Image: "image",
	platform.File:  "file",
	platform.Audio: "audio",
	platform.Video: "video",
}

type recipient struct {
	ID string `json:"id"`
}

// sendRequest is the Send API body. Message and SenderAction are never
// both set: Meta takes a sender action only in a request of its own.
type sendRequest struct {
	Recipient     recipient    `json:"recipient"`
	MessagingType string       `json:"messaging_type,omitempty"`
	Message       *sendMessage `json:"message,omitempty"`
	SenderAction  string       `json:"sender_action,omitempty"`
}

type sendMessage struct {
	Text       string      `json:"text,omitempty"`
	Attachment *attachment `json:"attachment,omitempty"`
}

type attachment struct {
	Type    string `json:"type"`
	Payload struct {
		URL        string `json:"url"`
		IsReusable bool   `json:"is_reusable"`
	} `json:"payload"`
}

// SendText sends text from pageID to the customer psid and returns its
// message_id, the mid its echo and receipts carry.
func (c *Client) SendText(ctx context.Context, pageID, pageToken, psid, text string) (string, error) {
	return c.sendMessage(ctx, pageID, pageToken, psid, &sendMessage{Text: text})
}

// SendAttachment sends the file at media.URL, which Meta downloads itself,
// from pageID to psid and returns its message_id.
func (c *Client) SendAttachment(ctx context.Context, pageID, pageToken, psid string, media platform.Media) (string, error) {
	typ, ok := attachmentTypes[media.Kind]
	if !ok {
		return "", &platform.Error{Platform: platformName, Op: "POST " + messagesPath(pageID), Kind: platform.Permanent, Message: "Messenger cannot send attachments of kind " + string(media.Kind)}
	}
	a := &attachment{Type: typ}
	// is_reusable lets the page send the same file again by attachment id
	// without Meta downloading it once more.
	a.Payload.URL, a.Payload.IsReusable = media.URL, true
	return c.sendMessage(ctx, pageID, pageToken, psid, &sendMessage{Attachment: a})
}

// MarkSeen shows psid that the page has read their messages.
func (c *Client) MarkSeen(ctx context.Context, pageID, pageToken, psid string) error {
	var resp struct {
		RecipientID string `json:"recipient_id"`
	}
	err := c.g.PostJSON(ctx, platformName, messagesPath(pageID), pageToken, sendRequest{Recipient: recipient{psid}, SenderAction: "mark_seen"}, &resp)
	return platform.Reclassify(err, graphapi.SendKind)
}

func (c *Client) sendMessage(ctx context.Context, pageID, pageToken, psid string, m *sendMessage) (string, error) {
	// RESPONSE: Switchboard answers customers inside the standard
	// messaging window, which is what this type is for; it sends no tags.
	body := sendRequest{Recipient: recipient{psid}, MessagingType: "RESPONSE", Message: m}
	var resp struct {
		RecipientID string `json:"recipient_id"`
		MessageID   string `json:"message_id"`
	}
	path := messagesPath(pageID)
	if err := c.g.PostJSON(ctx, platformName, path, pageToken, body, &resp); err != nil {
		return "", platform.Reclassify(err, graphapi.SendKind)
	}
	if resp.MessageID == "" {
		// The message may well have gone out; sending it again could
		// deliver it twice, so this is not retried.
		return "", unexpected("POST "+path, "the answer has no message_id")
	}
	return resp.MessageID, nil
}

func messagesPath(pageID string) string { return "/" + url.PathEscape(pageID) + "/messages" }
