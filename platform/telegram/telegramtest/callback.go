package telegramtest

import (
	"net/http"
	"strconv"
	"strings"
)

// answerCallbackQuery applies answerCallbackQuery as the official server
// does: the id is read as an integer (what Telegram hands out), and one it
// cannot use is refused with the same words as an expired one, since the
// server cannot tell them apart either. The fake does not remember the
// queries it never sent, so any other id is taken; what was answered is in
// Calls("answerCallbackQuery").
func answerCallbackQuery(args map[string]string) (bool, *apiError) {
	id, err := strconv.ParseInt(strings.TrimSpace(args["callback_query_id"]), 10, 64)
	if err != nil || id == 0 {
		return false, errorf(http.StatusBadRequest, "Bad Request: query is too old and response timeout expired or query ID is invalid")
	}
	return true, nil
}
