package zalo_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"

	"github.com/switchboard-chat/switchboard/platform/zalo"
)

// element is one start tag of a snippet as a browser parses it.
type element struct {
	Tag   string
	Attrs map[string]string
}

// parseSnippet tokenises HTML the way browsers do and returns its elements,
// attribute values decoded, and whether anything but whitespace and comments
// lies outside them.
func parseSnippet(t *testing.T, s string) []element {
	t.Helper()
	var out []element
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return out
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			el := element{Tag: tok.Data, Attrs: map[string]string{}}
			for _, a := range tok.Attr {
				if _, dup := el.Attrs[a.Key]; dup {
					t.Fatalf("attribute %s twice in %s", a.Key, s)
				}
				el.Attrs[a.Key] = a.Val
			}
			out = append(out, el)
		case html.TextToken:
			if text := strings.TrimSpace(string(z.Text())); text != "" {
				t.Fatalf("stray text %q in the snippet:\n%s", text, s)
			}
		}
	}
}

func TestWidgetSnippet(t *testing.T) {
	hostile := `"><script>alert(1)</script><div x='` + "&amp; Chúng tôi cần quyền nhắn tin"
	tests := []struct {
		name   string
		widget zalo.Widget
		want   map[string]string // the widget's attributes
	}{
		{
			name: "every attribute of the seed",
			widget: zalo.Widget{OAID: "4318291638716923456", AppID: "2847561930475829163", CallbackName: "onZaloWidget",
				ReasonMessage: "Để gửi thông báo đơn hàng qua Zalo"},
			want: map[string]string{
				"class": "zalo-interaction-widget", "data-oaid": "4318291638716923456", "data-appid": "2847561930475829163",
				"status": "show", "user_external_id": zalo.ExternalIDPlaceholder, "data-callback": "onZaloWidget",
				"data-reason-msg": "Để gửi thông báo đơn hàng qua Zalo",
			},
		},
		{
			name:   "hidden, without the optional attributes",
			widget: zalo.Widget{OAID: "1", AppID: "2", Hidden: true},
			want: map[string]string{
				"class": "zalo-interaction-widget", "data-oaid": "1", "data-appid": "2", "status": "hide",
				"user_external_id": zalo.ExternalIDPlaceholder,
			},
		},
		{
			name:   "a hostile reason message stays one attribute's text",
			widget: zalo.Widget{OAID: "1", AppID: `2"3`, ReasonMessage: hostile, CallbackName: "cb"},
			want: map[string]string{
				"class": "zalo-interaction-widget", "data-oaid": "1", "data-appid": `2"3`, "status": "show",
				"user_external_id": zalo.ExternalIDPlaceholder, "data-callback": "cb", "data-reason-msg": hostile,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snippet := tt.widget.Snippet()
			els := parseSnippet(t, snippet)
			if len(els) != 2 {
				t.Fatalf("want the widget and the SDK's script, got %d elements:\n%s", len(els), snippet)
			}
			if els[0].Tag != "div" {
				t.Fatalf("first element %q, want the widget's div:\n%s", els[0].Tag, snippet)
			}
			if diff := cmp.Diff(tt.want, els[0].Attrs); diff != "" {
				t.Errorf("widget attributes (-want +got):\n%s\n%s", diff, snippet)
			}
			if diff := cmp.Diff(element{Tag: "script", Attrs: map[string]string{"src": zalo.SDKURL}}, els[1]); diff != "" {
				t.Errorf("script (-want +got):\n%s", diff)
			}
			// Decoding gave each value back, so it was escaped once, and the
			// markup in it never became markup.
			if strings.Contains(snippet, "<script>alert") || strings.Count(snippet, "<div") != 1 {
				t.Errorf("a value escaped its attribute:\n%s", snippet)
			}
		})
	}
}

func TestWidgetActions(t *testing.T) {
	for _, a := range []string{"loaded_successfully", "click_interaction_accepted", "click_followed", "dismiss_follow", "updated_follow_widget"} {
		if !zalo.IsWidgetAction(a) {
			t.Errorf("%s is one of the seed's actions", a)
		}
	}
	for _, a := range []string{"", "LOADED_SUCCESSFULLY", "click_interaction_accepted ", "widget_interaction_accepted"} {
		if zalo.IsWidgetAction(a) {
			t.Errorf("%q is not an action the widget reports", a)
		}
	}
}
