package zalo

import (
	"html/template"
	"slices"
	"strings"

	"github.com/switchboard-chat/switchboard/platform"
)

// The interaction-permission widget ("Widget cấp tương tác", seed 000): a
// business embeds it on its website so that a visitor lets the OA message
// them. What a visitor grants reaches us as a signed webhook
// (widget_interaction_accepted, decoded to inbound.Consent); the page's
// callback only reports what the visitor clicked.

// SDKURL is Zalo's social plugin SDK, which renders every Zalo widget on a page.
const SDKURL = "https://sp.zalo.me/plugins/sdk.js"

// ExternalIDPlaceholder stands for the business's own id of the visitor in
// a snippet: the page fills it in per visitor, since it is what links the
// Zalo user to the business's customer (user_external_id).
const ExternalIDPlaceholder = "YOUR_CUSTOMER_ID"

// WidgetActions are what the widget tells the page's callback, in Zalo's words.
var WidgetActions = []string{
	"loaded_successfully",        // the widget loaded
	"click_interaction_accepted", // the visitor granted permission
	"click_followed",             // the visitor followed the OA
	"dismiss_follow",             // the visitor skipped the follow button
	"updated_follow_widget",      // the widget turned from asking permission into a follow button
}

// IsWidgetAction reports whether action is one of WidgetActions.
func IsWidgetAction(action string) bool { return slices.Contains(WidgetActions, action) }

// Widget is how the widget shows on a page.
type Widget struct {
	OAID  string
	AppID string
	// Hidden keeps the widget off the page (status="hide"); Zalo shows it by default.
	Hidden bool
	// CallbackName is the page's global JavaScript function the widget
	// calls with the visitor's user_id and an action; "" for none.
	CallbackName string
	// ReasonMessage tells the visitor why the business asks; "" for Zalo's default.
	ReasonMessage string
}

// The attribute names are Zalo's (seed 000), the class the one the SDK looks
// for. html/template escapes every value for its attribute (and would drop
// an HTML comment, so the placeholder is explained where the snippet is
// served).
var snippet = template.Must(template.New("widget").Parse(`<div class="zalo-interaction-widget" data-oaid="{{.OAID}}" data-appid="{{.AppID}}" status="{{.Status}}" user_external_id="{{.ExternalID}}"
{{- with .CallbackName}} data-callback="{{.}}"{{end}}
{{- with .ReasonMessage}} data-reason-msg="{{.}}"{{end}}></div>
<script src="{{.SDK}}"></script>
`))

// Snippet is the widget's ready-to-paste HTML, with the SDK's script tag.
func (w Widget) Snippet() string {
	status := "show"
	if w.Hidden {
		status = "hide"
	}
	var b strings.Builder
	err := snippet.Execute(&b, struct {
		OAID, AppID, Status, ExternalID, CallbackName, ReasonMessage string
		SDK                                                          template.URL
	}{w.OAID, w.AppID, status, ExternalIDPlaceholder, w.CallbackName, w.ReasonMessage, SDKURL})
	if err != nil {
		// Only strings go in, and writing to a Builder does not fail.
		panic("zalo: rendering the widget snippet: " + err.Error())
	}
	return b.String()
}

// AppID is the Zalo app an OA's events and widget belong to: the app it
// was connected with, else ours (ZALO_APP_ID). c may be nil (a
// disconnected OA keeps no credentials).
func (ch *Channel) AppID(c platform.Credentials) string {
	if zc, ok := c.(*Credentials); ok && zc != nil && zc.AppID != "" {
		return zc.AppID
	}
	return ch.appID
}
