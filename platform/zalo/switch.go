package zalo

import (
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/platform"
)

// SwitchInput moves a connection to another OA, with its tokens or an
// authorization code, and its secret key. The Zalo app the connection was
// made with (its own, or the server's) stays: the new OA is authorised for it.
func (*Channel) SwitchInput(current platform.Credentials, campaign pulid.ID, in platform.SwitchInput) (platform.ConnectInput, error) {
	if err := in.Only(schematype.PlatformZalo, "accessToken", "refreshToken", "oaSecretKey", "authorizationCode", "codeVerifier"); err != nil {
		return nil, err
	}
	out := ConnectInput{CampaignID: campaign, OASecretKey: platform.Trimmed(in.OASecretKey), AccessToken: in.AccessToken,
		RefreshToken: in.RefreshToken, AuthorizationCode: in.AuthorizationCode, CodeVerifier: in.CodeVerifier}
	if c, ok := current.(*Credentials); ok && c.AppID != "" {
		out.AppID, out.AppSecretKey = &c.AppID, &c.AppSecret
	}
	return out, nil
}
