// Package whatsapp connects WhatsApp Cloud API phone numbers through the
// Graph API.
package whatsapp

import (
	"context"
	"net/url"

	"github.com/switchboard-chat/switchboard/platform/graphapi"
)

// platformName is the Platform of every error this package returns.
const platformName = "whatsapp"

// Client calls the Cloud API. Cloud API numbers live on graph.facebook.com,
// so the graphapi.Client is usually the one the facebook package uses.
type Client struct {
	g *graphapi.Client
}

// New returns a client that calls through g.
func New(g *graphapi.Client) *Client {
	return &Client{g: g}
}

// PhoneNumber is a business phone number registered with the Cloud API.
type PhoneNumber struct {
	ID, DisplayPhoneNumber, VerifiedName string
	QualityRating                        string // "GREEN", "YELLOW", "RED" or "UNKNOWN"
}

// PhoneNumber reads phoneNumberID with token; connecting a number calls it
// to check the token can reach the number at all.
func (c *Client) PhoneNumber(ctx context.Context, phoneNumberID, token string) (*PhoneNumber, error) {
	var resp struct {
		ID                 string `json:"id"`
		DisplayPhoneNumber string `json:"display_phone_number"`
		VerifiedName       string `json:"verified_name"`
		QualityRating      string `json:"quality_rating"`
	}
	q := url.Values{"fields": {"id,display_phone_number,verified_name,quality_rating"}}
	if err := c.g.Get(ctx, platformName, "/"+url.PathEscape(phoneNumberID), token, q, &resp); err != nil {
		return nil, err
	}
	return &PhoneNumber{ID: resp.ID, DisplayPhoneNumber: resp.DisplayPhoneNumber, VerifiedName: resp.VerifiedName, QualityRating: resp.QualityRating}, nil
}
