package graphtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// Send is a request to a send endpoint (POST /<id>/messages), whatever the
// answer.
type Send struct {
	// Path is as received, version included: "/v21.0/1111/messages".
	Path string
	// Authorization is the Authorization header as sent ("Bearer …").
	Authorization string
	// AccessToken is the access_token query parameter, the other place
	// Graph takes a token from.
	AccessToken string
	// Body is the JSON body decoded as encoding/json does into any
	// (numbers are float64); nil when it is not a JSON object.
	Body map[string]any
	// Status is the HTTP status of the answer.
	Status int
	// ID is the message id the fake answered: a Messenger message_id or a
	// WhatsApp wamid; "" for refusals and sender actions.
	ID string
}

// Sends returns every request to a send endpoint so far, in order.
func (s *Server) Sends() []Send {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sends)
}

// recordSend reads the request's body and records it; it returns its index in s.sends.
func (s *Server) recordSend(r *http.Request) int {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var body map[string]any
	if json.Unmarshal(raw, &body) != nil {
		body = nil
	}
	s.sends = append(s.sends, Send{
		Path:          r.URL.Path,
		Authorization: r.Header.Get("Authorization"),
		AccessToken:   r.URL.Query().Get("access_token"),
		Body:          body,
	})
	return len(s.sends) - 1
}

// statusRecorder keeps the status of an answer for Sends.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// messages answers POST /<id>/messages: the Messenger Send API when id is a
// page, the WhatsApp Cloud API when it is a phone number. It returns the
// id of the message it took, "" otherwise.
func (s *Server) messages(w http.ResponseWriter, r *http.Request, id, tok string, info *tokenInfo, body map[string]any) string {
	if p, ok := s.pages[id]; ok {
		switch {
		case info != nil && info.kind == pageToken && info.page == p:
		case info != nil && info.kind == userToken && info.user == p.owner:
			s.fail(w, http.StatusBadRequest, 210, 0, "OAuthException", "(#210) A page access token is required to request this resource.")
			return ""
		default:
			s.fail(w, http.StatusForbidden, 200, 0, "OAuthException", "(#200) Permissions error")
			return ""
		}
		return s.messengerSend(w, body)
	}
	if ph, ok := s.phones[id]; ok {
		scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		// As for reading the number, a token that may not use it gets the
		// same answer as a number that does not exist.
		if tok != ph.token || !strings.EqualFold(scheme, "Bearer") {
			s.unsupported(w, r.Method, id)
			return ""
		}
		return s.whatsappSend(w, ph, body)
	}
	s.unsupported(w, r.Method, id)
	return ""
}

// badParam refuses a malformed send the way Graph refuses parameters.
func (s *Server) badParam(w http.ResponseWriter, format string, args ...any) string {
	s.fail(w, http.StatusBadRequest, 100, 0, "GraphMethodException", "(#100) "+fmt.Sprintf(format, args...))
	return ""
}

func (s *Server) nextMessage() int {
	s.msgSeq++
	return s.msgSeq
}

// The Send API's message.text limit, and the Cloud API's text and caption
// limits, in characters.
const (
	messengerMaxText = 2000
	whatsappMaxText  = 4096
	whatsappCaption  = 1024
)

var (
	messagingTypes   = []string{"RESPONSE", "UPDATE", "MESSAGE_TAG", "UTILITY"}
	senderActions    = []string{"mark_seen", "typing_on", "typing_off"}
	attachmentTypes  = []string{"image", "video", "audio", "file"}
	whatsappMedia    = []string{"image", "document", "audio", "video"}
	whatsappCaptions = []string{"image", "document", "video"}
)

// messengerSend checks a Send API body (recipient.id, then either a
// sender_action alone or messaging_type and a message with exactly one of
// text and attachment) and answers as Graph does.
func (s *Server) messengerSend(w http.ResponseWriter, body map[string]any) string {
	if body == nil {
		return s.badParam(w, "The request body must be a JSON object")
	}
	recipient, _ := body["recipient"].(map[string]any)
	psid, _ := recipient["id"].(string)
	if psid == "" {
		return s.badParam(w, "The parameter recipient[id] is required")
	}
	if action, present := body["sender_action"]; present {
		a, _ := action.(string)
		if !slices.Contains(senderActions, strings.ToLower(a)) {
			return s.badParam(w, "Param sender_action must be one of {%s}", strings.Join(senderActions, ", "))
		}
		if _, ok := body["message"]; ok {
			return s.badParam(w, "sender_action cannot be sent with a message")
		}
		writeJSON(w, http.StatusOK, map[string]any{"recipient_id": psid})
		return ""
	}
	mt, _ := body["messaging_type"].(string)
	if !slices.Contains(messagingTypes, mt) {
		return s.badParam(w, "Param messaging_type must be one of {%s}", strings.Join(messagingTypes, ", "))
	}
	if _, ok := body["tag"].(string); mt == "MESSAGE_TAG" && !ok {
		return s.badParam(w, "The parameter tag is required for messaging_type MESSAGE_TAG")
	}
	message, ok := body["message"].(map[string]any)
	if !ok {
		return s.badParam(w, "The parameter message is required")
	}
	text, hasText := message["text"]
	att, hasAtt := message["attachment"]
	if hasText == hasAtt {
		return s.badParam(w, "Exactly one of message[text] and message[attachment] must be set")
	}
	if hasText {
		t, _ := text.(string)
		if strings.TrimSpace(t) == "" {
			return s.badParam(w, "Param message[text] must be a non-empty UTF-8 encoded string")
		}
		if utf8.RuneCountInString(t) > messengerMaxText {
			return s.badParam(w, "Length of param message[text] must be less than or equal to %d", messengerMaxText)
		}
	} else {
		a, _ := att.(map[string]any)
		typ, _ := a["type"].(string)
		if !slices.Contains(attachmentTypes, typ) {
			return s.badParam(w, "Param message[attachment][type] must be one of {%s}", strings.Join(attachmentTypes, ", "))
		}
		payload, _ := a["payload"].(map[string]any)
		link, _ := payload["url"].(string)
		if _, byID := payload["attachment_id"].(string); !byID && !httpURL(link) {
			return s.badParam(w, "Param message[attachment][payload][url] must be a valid URL")
		}
		if r, ok := payload["is_reusable"]; ok {
			if _, isBool := r.(bool); !isBool {
				return s.badParam(w, "Param message[attachment][payload][is_reusable] must be a boolean")
			}
		}
	}
	mid := "m_" + base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "graphtest-message-%d-%s", s.nextMessage(), psid))
	writeJSON(w, http.StatusOK, map[string]any{"recipient_id": psid, "message_id": mid})
	return mid
}

// whatsappSend checks a Cloud API message body (messaging_product,
// recipient_type, to, and the object named by type) and answers as the
// Cloud API does.
func (s *Server) whatsappSend(w http.ResponseWriter, ph *fakePhone, body map[string]any) string {
	if body == nil {
		return s.badParam(w, "The request body must be a JSON object")
	}
	if body["messaging_product"] != "whatsapp" {
		return s.badParam(w, "The parameter messaging_product is required and must be whatsapp")
	}
	if rt, ok := body["recipient_type"]; ok && rt != "individual" {
		return s.badParam(w, "Param recipient_type must be individual")
	}
	to, _ := body["to"].(string)
	if to == "" {
		return s.badParam(w, "The parameter to is required")
	}
	typ, _ := body["type"].(string)
	if typ != "text" && !slices.Contains(whatsappMedia, typ) {
		return s.badParam(w, "Param type must be one of {text, %s}", strings.Join(whatsappMedia, ", "))
	}
	for _, other := range append([]string{"text"}, whatsappMedia...) {
		if _, ok := body[other]; ok && other != typ {
			return s.badParam(w, "Unexpected key %q for a message of type %s", other, typ)
		}
	}
	content, ok := body[typ].(map[string]any)
	if !ok {
		return s.badParam(w, "The parameter %s is required", typ)
	}
	if typ == "text" {
		text, _ := content["body"].(string)
		if strings.TrimSpace(text) == "" {
			return s.badParam(w, "The parameter text['body'] is required")
		}
		if utf8.RuneCountInString(text) > whatsappMaxText {
			return s.badParam(w, "Param text['body'] must be at most %d characters long", whatsappMaxText)
		}
		if p, ok := content["preview_url"]; ok {
			if _, isBool := p.(bool); !isBool {
				return s.badParam(w, "Param text['preview_url'] must be a boolean")
			}
		}
	} else {
		link, hasLink := content["link"]
		_, hasID := content["id"]
		if hasLink == hasID {
			return s.badParam(w, "Exactly one of %s['link'] and %s['id'] must be set", typ, typ)
		}
		if l, _ := link.(string); hasLink && !httpURL(l) {
			return s.badParam(w, "Param %s['link'] must be a valid URL", typ)
		}
		if c, ok := content["caption"]; ok {
			if !slices.Contains(whatsappCaptions, typ) {
				return s.badParam(w, "Param %s['caption'] is not a valid parameter", typ)
			}
			if c, isString := c.(string); !isString || utf8.RuneCountInString(c) > whatsappCaption {
				return s.badParam(w, "Param %s['caption'] must be a string of at most %d characters", typ, whatsappCaption)
			}
		}
	}
	wamid := "wamid." + base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "graphtest:%s:%s:%d", ph.id, to, s.nextMessage()))
	writeJSON(w, http.StatusOK, map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]any{{"input": to, "wa_id": waID(to)}},
		"messages":          []map[string]any{{"id": wamid}},
	})
	return wamid
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// waID is the WhatsApp id of a phone number as written: its digits, the
// way the Cloud API answers "+16505551234" with "16505551234".
func waID(to string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, to)
}
