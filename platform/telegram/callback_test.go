package telegram_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/telegram"
)

// TestAnswer answers the callback query a decoded update names, as ingest
// does once the update is stored.
func TestAnswer(t *testing.T) {
	t.Parallel()
	s, ch := newChannel(t)
	ev, err := telegram.Decode(testkit.Fixture(t, "telegram", "callback_query_message.json"))
	if err != nil {
		t.Fatal(err)
	}
	var answerer platform.Answerer = ch
	if err := answerer.Answer(context.Background(), account, ev.AnswerID); err != nil {
		t.Fatalf("Answer: %v", err)
	}
	want := []map[string]any{{"callback_query_id": "4382763498734567890"}}
	if diff := cmp.Diff(want, s.Calls(telegram.OpAnswerCallbackQuery)); diff != "" {
		t.Errorf("answerCallbackQuery calls (-want +got):\n%s", diff)
	}
}

func TestAnswerRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		id       string
		account  platform.Account
		wantKind platform.Kind
	}{
		{"unknown or expired query", "not-a-query", account, platform.Permanent},
		{"revoked bot", "4382763498734567890",
			platform.Account{Credentials: &telegram.Credentials{BotToken: "7350172047:AAH-someOtherBotThatIsNotThere_xxxxxxxxx"}}, platform.Auth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, ch := newChannel(t)
			err := ch.Answer(context.Background(), tt.account, tt.id)
			var pe *platform.Error
			if !errors.As(err, &pe) || pe.Kind != tt.wantKind || pe.Op != telegram.OpAnswerCallbackQuery {
				t.Fatalf("Answer = %v; want a %s error of %s", err, tt.wantKind, telegram.OpAnswerCallbackQuery)
			}
			assertNoToken(t, err)
		})
	}
}

// An update that is not a callback query has nothing to answer.
func TestDecodeAnswersOnlyCallbackQueries(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"text.json", "edited_message.json", "group_message.json"} {
		ev, err := telegram.Decode(testkit.Fixture(t, "telegram", file))
		if err != nil {
			t.Fatal(err)
		}
		if ev.AnswerID != "" {
			t.Errorf("%s: AnswerID = %q, want none", file, ev.AnswerID)
		}
	}
}
