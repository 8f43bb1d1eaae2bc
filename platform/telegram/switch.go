package telegram

import (
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/platform"
)

// SwitchInput moves a connection to another bot: its token is all it takes.
func (*Channel) SwitchInput(_ platform.Credentials, campaign pulid.ID, in platform.SwitchInput) (platform.ConnectInput, error) {
	if err := in.Only(schematype.PlatformTelegram, "botToken"); err != nil {
		return nil, err
	}
	return ConnectInput{CampaignID: campaign, BotToken: platform.Trimmed(in.BotToken)}, nil
}
