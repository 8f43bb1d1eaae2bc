package telegram

import (
	"context"

	"github.com/switchboard-chat/switchboard/platform"
)

// OpAnswerCallbackQuery is the method that answers a tapped inline button.
const OpAnswerCallbackQuery = "answerCallbackQuery"

var _ platform.Answerer = (*Channel)(nil)

// AnswerCallbackQuery tells Telegram the bot received a callback query, so
// the customer's app stops the spinner on the tapped button. No text is
// sent: the customer is answered, if at all, by an agent in the chat.
func (c *Client) AnswerCallbackQuery(ctx context.Context, token, callbackQueryID string) error {
	params := struct {
		CallbackQueryID string `json:"callback_query_id"`
	}{callbackQueryID}
	return c.call(ctx, token, OpAnswerCallbackQuery, params, nil)
}

// Answer answers the callback query answerID names (see Decode).
func (ch *Channel) Answer(ctx context.Context, acct platform.Account, answerID string) error {
	return ch.api.AnswerCallbackQuery(ctx, creds(acct).BotToken, answerID)
}
