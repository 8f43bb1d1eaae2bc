package whatsapp

import (
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/platform"
)

// SwitchInput moves a connection to another phone number of a business account.
func (*Channel) SwitchInput(_ platform.Credentials, campaign pulid.ID, in platform.SwitchInput) (platform.ConnectInput, error) {
	if err := in.Only(schematype.PlatformWhatsApp, "phoneNumberID", "accessToken"); err != nil {
		return nil, err
	}
	return ConnectInput{CampaignID: campaign, PhoneNumberID: platform.Trimmed(in.PhoneNumberID), AccessToken: platform.Trimmed(in.AccessToken)}, nil
}
