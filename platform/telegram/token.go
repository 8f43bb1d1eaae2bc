package telegram

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Token limits. The server refuses tokens over 80 characters and bot ids of
// 2^54 or more outright; real secrets are 35 characters, and 30 is the floor
// below which a paste was surely cut short.
const (
	maxTokenLen     = 80
	minSecretLen    = 30
	maxBotID        = 1<<54 - 1
	secretTokenLen  = 64
	base64URLLetter = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
)

// ValidToken checks that token has the form {bot_id}:{secret} that BotFather
// hands out, without calling Telegram, so a bad paste is reported before any
// request. The errors describe the problem without repeating the token.
func ValidToken(token string) error {
	if token == "" {
		return errors.New("token is empty")
	}
	if strings.TrimSpace(token) != token {
		return errors.New("token has leading or trailing whitespace")
	}
	if len(token) > maxTokenLen {
		return fmt.Errorf("token is longer than %d characters", maxTokenLen)
	}
	id, secret, ok := strings.Cut(token, ":")
	if !ok {
		return errors.New("token has no ':' between the bot id and the secret")
	}
	if id == "" {
		return errors.New("token has no bot id before ':'")
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return errors.New("bot id before ':' must be digits only")
		}
	}
	if id[0] == '0' {
		return errors.New("bot id before ':' must not start with 0")
	}
	if n, err := strconv.ParseInt(id, 10, 64); err != nil || n > maxBotID {
		return errors.New("bot id before ':' is too large")
	}
	if len(secret) < minSecretLen {
		return fmt.Errorf("secret after ':' has %d characters; a bot token's has at least %d", len(secret), minSecretLen)
	}
	if !isBase64URL(secret) {
		return errors.New("secret after ':' may contain only A-Z, a-z, 0-9, _ and -")
	}
	return nil
}

// BotID returns the bot id part of token. It returns "" rather than the whole
// string when there is no ':', so that logging a bot id can never log a
// secret.
func BotID(token string) string {
	id, _, ok := strings.Cut(token, ":")
	if !ok {
		return ""
	}
	return id
}

// NewSecretToken returns a random setWebhook secret_token: 64 characters of
// [A-Za-z0-9_-], the alphabet Telegram allows, giving 384 bits.
func NewSecretToken() string {
	b := make([]byte, secretTokenLen)
	// crypto/rand.Read never fails since Go 1.24 (it crashes the program
	// instead), so there is no error to handle.
	_, _ = rand.Read(b)
	for i := range b {
		// 64 letters divide 256 evenly, so masking keeps the draw uniform.
		b[i] = base64URLLetter[b[i]&63]
	}
	return string(b)
}

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(base64URLLetter, rune(s[i])) {
			return false
		}
	}
	return true
}
