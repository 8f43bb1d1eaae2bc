package telegramtest

import (
	"slices"

	"github.com/switchboard-chat/switchboard/platform/telegram"
)

// SetCommands sets the bot's commands for the default scope, as
// BotFather's /setcommands (or setMyCommands) does; getMyCommands answers
// them.
func (s *Server) SetCommands(token string, cmds ...telegram.BotCommand) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bots[token]
	if b == nil {
		s.t.Fatalf("telegramtest.SetCommands: no bot with that token")
		return
	}
	b.commands = slices.Clone(cmds)
}

// SetPendingUpdates makes getWebhookInfo report n updates waiting for
// delivery, as when the webhook has been failing.
func (s *Server) SetPendingUpdates(token string, n int) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bots[token]
	if b == nil {
		s.t.Fatalf("telegramtest.SetPendingUpdates: no bot with that token")
		return
	}
	b.pending = n
}

// DropWebhook removes the bot's webhook behind its owner's back, as the
// server does after a webhook answered 410 for 23 hours, or as another
// program calling deleteWebhook with the token would. allowed_updates
// belongs to the bot and stays.
func (s *Server) DropWebhook(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.bots[token]; b != nil {
		deleteWebhook(b)
	}
}

// getMyCommands renders the bot's commands as getMyCommands does: an
// array of BotCommand, empty when none are set.
func getMyCommands(b *bot) []map[string]any {
	out := make([]map[string]any, 0, len(b.commands))
	for _, c := range b.commands {
		out = append(out, map[string]any{"command": c.Command, "description": c.Description})
	}
	return out
}
