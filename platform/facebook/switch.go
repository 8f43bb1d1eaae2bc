package facebook

import (
	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/platform"
)

// SwitchInput moves a connection to another page, chosen from those a fresh
// login manages: one page, since one connection is one page.
func (*Channel) SwitchInput(_ platform.Credentials, campaign pulid.ID, in platform.SwitchInput) (platform.ConnectInput, error) {
	if err := in.Only(schematype.PlatformFacebook, "userAccessToken", "pageID"); err != nil {
		return nil, err
	}
	page := platform.Trimmed(in.PageID)
	if page == "" {
		return nil, apperr.Input("input.pageID", "choose the page to move the connection to")
	}
	return ConnectInput{CampaignID: campaign, UserAccessToken: platform.Trimmed(in.UserAccessToken), PageIDs: []string{page}}, nil
}
