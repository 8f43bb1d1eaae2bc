package telegramtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// SentMessage is a message the fake took from a bot.
type SentMessage struct {
	// Method is the send method as documented: "sendMessage", "sendPhoto", ...
	Method    string
	ChatID    int64
	MessageID int64
	// Text is the text of sendMessage, or the caption ("" for none).
	Text string
	// Media is the file parameter as sent (a URL or a file_id); "" for sendMessage.
	Media string
}

// Sent returns the messages the fake took from the bot with token, in
// order; refused calls are only in Calls.
func (s *Server) Sent(token string) []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.bots[token]; b != nil {
		return slices.Clone(b.sent)
	}
	return nil
}

// Block makes chatID a user who blocked the bot with token: every later
// send to it answers 403 "Forbidden: bot was blocked by the user", as
// Telegram does until the user unblocks the bot.
func (s *Server) Block(token string, chatID int64) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bots[token]
	if b == nil {
		s.t.Fatalf("telegramtest.Block: no bot with that token")
		return
	}
	b.chatOf(chatID).blocked = true
}

// Unblock undoes Block: the user unblocked the bot.
func (s *Server) Unblock(token string, chatID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.bots[token]; b != nil {
		b.chatOf(chatID).blocked = false
	}
}

// chat is what the fake keeps of a chat a bot writes to.
type chat struct {
	lastMessageID int64
	blocked       bool
}

func (b *bot) chatOf(id int64) *chat {
	c := b.chats[id]
	if c == nil {
		c = &chat{}
		b.chats[id] = c
	}
	return c
}

// sendSpec is a send method: its documented name and its file parameter
// ("" for sendMessage).
type sendSpec struct{ name, param string }

var sendMethods = map[string]sendSpec{
	"sendmessage":  {"sendMessage", ""},
	"sendphoto":    {"sendPhoto", "photo"},
	"senddocument": {"sendDocument", "document"},
	"sendaudio":    {"sendAudio", "audio"},
	"sendvideo":    {"sendVideo", "video"},
}

// The Bot API's limits, in characters (Unicode code points, as the server
// counts them).
const (
	maxText    = 4096
	maxCaption = 1024
)

// send applies a send method as the official server does: parameters
// first, then the chat, and answers the sent Message.
func send(b *bot, method string, args map[string]string) (map[string]any, *apiError) {
	spec := sendMethods[method]
	rawChat := strings.TrimSpace(args["chat_id"])
	if rawChat == "" {
		return nil, errorf(http.StatusBadRequest, "Bad Request: chat_id is empty")
	}
	var text, media string
	if spec.param == "" {
		text = args["text"]
		// The server strips surrounding whitespace before it judges the text.
		if strings.TrimSpace(text) == "" {
			return nil, errorf(http.StatusBadRequest, "Bad Request: message text is empty")
		}
		if utf8.RuneCountInString(text) > maxText {
			return nil, errorf(http.StatusBadRequest, "Bad Request: message is too long")
		}
	} else {
		media = args[spec.param]
		if media == "" {
			return nil, errorf(http.StatusBadRequest, "Bad Request: there is no "+spec.param+" in the request")
		}
		if !b.files[media] && !httpURL(media) {
			return nil, errorf(http.StatusBadRequest, "Bad Request: wrong file identifier/HTTP URL specified")
		}
		text = args["caption"]
		if utf8.RuneCountInString(text) > maxCaption {
			return nil, errorf(http.StatusBadRequest, "Bad Request: message caption is too long")
		}
	}
	// The fake knows chats by number only; an @username names none.
	chatID, err := strconv.ParseInt(rawChat, 10, 64)
	if err != nil || chatID == 0 {
		return nil, errorf(http.StatusBadRequest, "Bad Request: chat not found")
	}
	c := b.chatOf(chatID)
	if c.blocked {
		return nil, errorf(http.StatusForbidden, "Forbidden: bot was blocked by the user")
	}
	c.lastMessageID++
	msg := map[string]any{
		"message_id": c.lastMessageID,
		"from":       botObject(b),
		"chat":       chatObject(chatID),
		"date":       time.Now().Unix(),
	}
	if spec.param == "" {
		msg["text"] = text
	} else {
		if text != "" {
			msg["caption"] = text
		}
		msg[spec.param] = b.fileObject(spec.param, media)
	}
	b.sent = append(b.sent, SentMessage{Method: spec.name, ChatID: chatID, MessageID: c.lastMessageID, Text: text, Media: media})
	return msg, nil
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func botObject(b *bot) map[string]any {
	m := map[string]any{"id": b.user.ID, "is_bot": true, "first_name": b.user.FirstName}
	if b.user.Username != "" {
		m["username"] = b.user.Username
	}
	return m
}

// chatObject renders a chat from its id alone: positive ids are users,
// -100… ids supergroups, other negative ids basic groups.
func chatObject(id int64) map[string]any {
	switch {
	case id > 0:
		return map[string]any{"id": id, "type": "private", "first_name": fmt.Sprintf("User %d", id)}
	case id <= -1_000_000_000_000:
		return map[string]any{"id": id, "type": "supergroup", "title": fmt.Sprintf("Supergroup %d", -id)}
	default:
		return map[string]any{"id": id, "type": "group", "title": fmt.Sprintf("Group %d", -id)}
	}
}

// fileObject renders the file a send stored, as the media field of the
// Message, and remembers its file_id so it can be sent again by id.
func (b *bot) fileObject(param, media string) any {
	n := len(b.files) + 1
	fileID := func(suffix string) string {
		id := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s:%d:%d%s", param, b.user.ID, n, suffix))
		b.files[id] = true
		return id
	}
	unique := func(suffix string) string {
		return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "u%d%s", n, suffix))
	}
	name := "file"
	if u, err := url.Parse(media); err == nil && httpURL(media) {
		if base := path.Base(u.Path); base != "/" && base != "." {
			name = base
		}
	}
	mimeType, _, _ := strings.Cut(mime.TypeByExtension(path.Ext(name)), ";")
	if mimeType == "" {
		mimeType = "application/octet-stream"
	}
	switch param {
	case "photo":
		// Telegram answers every size it made, smallest first.
		return []map[string]any{
			{"file_id": fileID("s"), "file_unique_id": unique("s"), "width": 90, "height": 68, "file_size": 1500},
			{"file_id": fileID(""), "file_unique_id": unique(""), "width": 1280, "height": 960, "file_size": 98000},
		}
	case "audio":
		return map[string]any{"file_id": fileID(""), "file_unique_id": unique(""), "duration": 1, "file_name": name, "mime_type": mimeType, "file_size": 4096}
	case "video":
		return map[string]any{"file_id": fileID(""), "file_unique_id": unique(""), "duration": 1, "width": 1280, "height": 720, "file_name": name, "mime_type": mimeType, "file_size": 4096}
	default:
		return map[string]any{"file_id": fileID(""), "file_unique_id": unique(""), "file_name": name, "mime_type": mimeType, "file_size": 4096}
	}
}

// plainJSON decodes v as encoding/json does into any, except that integers
// beyond ±2^53, where float64 starts rounding, stay json.Number, so ids
// keep every digit.
func plainJSON(v json.RawMessage) any {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var out any
	if dec.Decode(&out) != nil {
		return nil
	}
	return plainNumbers(out)
}

func plainNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if !strings.ContainsAny(v.String(), ".eE") {
			if i, err := v.Int64(); err != nil || i > 1<<53 || i < -(1<<53) {
				return v
			}
		}
		f, err := v.Float64()
		if err != nil {
			return v
		}
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = plainNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = plainNumbers(e)
		}
	}
	return v
}
